"""A logistic-regression router on the turn features plus hashed word uni- and bigrams.

Trained on the labelled queries in data/routing.jsonl (train split) by `rejoinder route --train`,
which writes data/router_model.json; the shipped weights come from exactly that command.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from rejoinder.routers.features import FEATURES, extract, logistic
from rejoinder.stages.llm import Message

HASH_DIM = 1024
MODEL_FILE = "router_model.json"


def _hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little") % HASH_DIM


def vector(text: str, history: Sequence[Message] = ()) -> np.ndarray:
    f = extract(text, history)
    x = np.zeros(len(FEATURES) + HASH_DIM, np.float32)
    x[: len(FEATURES)] = [f[k] for k in FEATURES]
    words = re.findall(r"[a-z']+|\d+", text.lower())
    grams = words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]
    for g in grams:
        x[len(FEATURES) + _hash(g)] += 1.0 / np.sqrt(max(1, len(grams)))
    return x


def train(rows: list[dict[str, Any]], epochs: int = 800, lr: float = 0.5, l2: float = 1e-3) -> dict[str, Any]:
    """Full-batch gradient descent; deterministic, a second or so on 200 queries."""
    xs = np.stack([vector(r["text"], _history(r)) for r in rows])
    ys = np.array([r["label"] for r in rows], np.float32)
    w = np.zeros(xs.shape[1], np.float32)
    b = 0.0
    for _ in range(epochs):
        p = 1.0 / (1.0 + np.exp(-(xs @ w + b)))
        grad = p - ys
        w -= lr * (xs.T @ grad / len(ys) + l2 * w)
        b -= lr * float(grad.mean())
    return {
        "bias": b,
        "weights": [round(float(v), 6) for v in w],
        "hash_dim": HASH_DIM,
        "features": list(FEATURES),
    }


def _history(row: dict[str, Any]) -> list[Message]:
    return (
        [{"role": "user", "content": row["previous"]}, {"role": "assistant", "content": ""}]
        if row.get("previous")
        else []
    )


def load_rows(split: str | None = None) -> list[dict[str, Any]]:
    text = resources.files("rejoinder").joinpath("data", "routing.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def model_path() -> Path:
    return Path(str(resources.files("rejoinder").joinpath("data", MODEL_FILE)))


class LearnedScorer:
    name = "learned"

    def __init__(self, model: dict[str, Any] | None = None) -> None:
        if model is None:
            model = json.loads(model_path().read_text())
        if model.get("hash_dim") != HASH_DIM or model.get("features") != list(FEATURES):
            raise ValueError(
                "router model does not match this version's features; run `rejoinder route --train`"
            )
        self._w = np.asarray(model["weights"], np.float32)
        self._b = float(model["bias"])

    def score(self, text: str, history: Sequence[Message]) -> tuple[float, dict[str, float]]:
        x = vector(text, history)
        return logistic(float(x @ self._w) + self._b), extract(text, history)

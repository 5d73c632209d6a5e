"""Hand-weighted features of a user turn that predict whether a small model will do.

Cheap by design (a few regexes on a short string, well under a millisecond): routing happens
inside the voice loop, on partial transcripts too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from rejoinder.stages.llm import Message


def _cues(*words: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE)


REASONING = _cues(
    "explain",
    "why",
    "how does",
    "how do",
    "how would",
    "how can",
    "how should",
    "compare",
    "comparison",
    "difference",
    "differences",
    "versus",
    "vs",
    "pros and cons",
    "trade-?offs?",
    "analy[sz]e",
    "describe",
    "summari[sz]e",
    "outline",
    "plan",
    "design",
    "strategy",
    "step by step",
    "walk me through",
    "what would happen",
    "implications?",
    "causes?",
    "consequences",
    "evaluate",
    "argue",
    "arguments?",
    "prove",
    "derive",
    "estimate",
    "in detail",
    "detailed",
    "theory",
    "philosoph\\w*",
    "help me",
)
MATH = _cues(
    "plus",
    "minus",
    "times",
    "multiplied",
    "divided",
    "percent",
    "equation",
    "solve",
    "integral",
    "derivative",
    "probability",
    "calculate",
    "square root",
    "squared",
    "interest",
    "average",
    "standard deviation",
    "formula",
    "how much will",
    "how many ways",
)
CODE = _cues(
    "code",
    "function",
    "python",
    "javascript",
    "java",
    "rust",
    "sql",
    "query",
    "regex",
    "regular expression",
    "bug",
    "debug",
    "compile",
    "refactor",
    "api",
    "database",
    "schema",
    "algorithm",
    "complexity",
    "server",
    "script",
    "program",
    "class",
    "pipeline",
    "architecture",
)
GREETING = _cues(
    "hello",
    "hi",
    "hey",
    "thanks",
    "thank you",
    "good morning",
    "good night",
    "good afternoon",
    "bye",
    "see you",
    "how are you",
    "what's up",
    "nice to meet",
    "cheers",
    "sorry",
    "okay",
    "ok",
    "yes",
    "no",
)
COMMAND = re.compile(
    r"^\s*(set|turn|play|stop|remind|add|wake|repeat|say|flip|give me a|spell|louder|speak)\b", re.I
)
FACTOID = re.compile(r"^\s*(what|who|when|where|which|how (many|old|tall|far|long|big))\b", re.I)
YES_NO = re.compile(r"^\s*(is|are|do|does|did|can|could|will|would|was|were|has|have)\b", re.I)
FOLLOW_UP = re.compile(
    r"^\s*(and|but|so|what about|why|how come|can you explain|tell me more|more)\b|\b(that|it|this)\b", re.I
)
NUMBER = re.compile(r"\d")
REFERENCE = re.compile(
    r"\b(my|me|mine|i|i'm|i've|we|our|us|he|she|him|her|his|it|its|they|them|their|there|that|those|"
    r"this|these|again|earlier|before)\b",
    re.I,
)
"""Words that point back into the conversation: "What is my name?", "Which sea does it flow into?"."""

FEATURES = (
    "words",
    "reasoning",
    "math",
    "code",
    "greeting",
    "command",
    "factoid",
    "yes_no",
    "clauses",
    "numbers",
    "follow_up",
    "previous",
    "context",
)


def extract(text: str, history: Sequence[Message] = ()) -> dict[str, float]:
    words = text.split()
    n = len(words)
    previous_user = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
    short = n <= 8
    f = {
        "words": min(n, 30) / 30,
        "reasoning": min(len(REASONING.findall(text)), 3) / 3,
        "math": min(len(MATH.findall(text)) + len(re.findall(r"\d\s*[-+*/^=]\s*\d", text)), 2) / 2,
        "code": min(len(CODE.findall(text)), 2) / 2,
        "greeting": float(bool(GREETING.search(text)) and short),
        "command": float(bool(COMMAND.search(text))),
        "factoid": float(bool(FACTOID.search(text)) and n <= 10),
        "yes_no": float(bool(YES_NO.search(text)) and n <= 8),
        "clauses": min(text.count(",") + len(re.findall(r"\b(and|or|but|if|then|because)\b", text, re.I)), 4)
        / 4,
        "numbers": min(len(NUMBER.findall(text)), 4) / 4,
        "follow_up": float(bool(previous_user) and short and bool(FOLLOW_UP.search(text))),
        "previous": 0.0,
        # a question that refers back to the conversation needs a model that can use it
        "context": float(bool(previous_user) and n <= 14 and bool(REFERENCE.search(text))),
    }
    if f["follow_up"] and previous_user:
        f["previous"] = FeatureScorer().score(previous_user, ())[0]
    return f


# Hand-set weights (logit space); see docs/routing.md for how they compare with the learned ones.
WEIGHTS = {
    "words": 2.5,
    "reasoning": 4.0,
    "math": 3.0,
    "code": 3.0,
    "greeting": -2.5,
    "command": -2.0,
    "factoid": 1.0,
    "yes_no": 0.5,
    "clauses": 1.0,
    "numbers": 0.5,
    "follow_up": 0.5,
    "previous": 3.0,
    "context": 2.0,
}
BIAS = -0.5


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


class FeatureScorer:
    name = "features"

    def score(self, text: str, history: Sequence[Message]) -> tuple[float, dict[str, float]]:
        f = extract(text, history)
        return logistic(BIAS + sum(WEIGHTS[k] * v for k, v in f.items())), f

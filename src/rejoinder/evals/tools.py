"""Which model calls tools reliably: typed requests that need a tool (time, zones, arithmetic,
ending the call, two custom lookups) and requests that do not (facts, chit-chat, near misses),
each sent alone through `stream_chat` with the built-ins and the fixtures below.

Scores per model and split: precision and recall of "called a tool", the rate of tool-needing
requests answered with the right tool and right arguments, and the latency from the request to the
first complete tool call (the system prompt and tool list are cached, as in a live session).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from rejoinder.config import LLMConfig
from rejoinder.errors import BadInputError
from rejoinder.stages.llm import GenerationParams, Message, ToolCall, ToolCallingLLM
from rejoinder.tools.builtins import resolve_zone
from rejoinder.tools.calculator import CalculationError, evaluate
from rejoinder.tools.prompt import TOOL_BASE_PROMPT, TOOL_GUIDANCE, tool_system_prompt
from rejoinder.tools.tool import ToolError
from rejoinder.tools.toolset import ToolSet

Split = Literal["tune", "holdout", "all"]


def lookup_order(order_id: str) -> str:
    """Look up the status of a customer's order by its order number.

    Args:
        order_id: The order number, e.g. A1234.
    """
    return f"Order {order_id}: shipped on Monday, arriving Thursday."


def store_hours(store: Literal["downtown", "airport", "mall"]) -> str:
    """Opening hours of one of our stores.

    Args:
        store: Which store.
    """
    return {"downtown": "8 am to 8 pm", "airport": "6 am to 11 pm", "mall": "10 am to 9 pm"}[store]


def eval_toolset() -> ToolSet:
    return ToolSet.builtins().merged(ToolSet.from_functions(lookup_order, store_hours))


@dataclass(frozen=True)
class ToolCase:
    id: str
    category: str
    split: str
    text: str
    tool: str | None
    args: dict[str, Any]


@dataclass
class CaseOutcome:
    id: str
    split: str
    category: str
    expected: str | None
    called: list[str]
    arguments: list[str]
    right_tool: bool
    right_args: bool
    tool_latency_ms: float | None
    text: str


@dataclass
class Score:
    model: str
    split: str
    requests: int
    precision: float | None
    recall: float
    right_tool_rate: float
    right_args_rate: float
    tool_latency_p50_ms: float | None
    tool_latency_p95_ms: float | None
    false_calls: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def load_cases(path: Path | None = None) -> list[ToolCase]:
    source = path or Path(str(resources.files("rejoinder").joinpath("data", "tools_eval.jsonl")))
    try:
        return [ToolCase(**json.loads(line)) for line in source.read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise BadInputError(f"{source}: not a tool eval set ({exc})") from None


def _offset(zone_name: str | None) -> Any:
    import datetime as dt

    zone = resolve_zone(zone_name or "")
    return dt.datetime.now(zone).utcoffset() if zone else "local"


def arguments_match(case: ToolCase, arguments: str) -> bool:
    """Lenient where meaning is the same: any zone with the expected UTC offset now, any expression
    with the expected value, order numbers ignoring case and punctuation."""
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return False
    if not isinstance(args, dict):
        return False
    if case.tool == "current_datetime":
        try:
            return _offset(args.get("timezone")) == _offset(case.args["timezone"])
        except ToolError:
            return False
    if case.tool == "calculate":
        try:
            return abs(float(evaluate(str(args.get("expression", "")))) - float(case.args["value"])) < 1e-6
        except CalculationError:
            return False
    if case.tool == "lookup_order":
        norm = "".join(ch for ch in str(args.get("order_id", "")) if ch.isalnum()).upper()
        return norm == case.args["order_id"]
    return all(args.get(k) == v for k, v in case.args.items())


async def run_case(
    llm: ToolCallingLLM, tools: ToolSet, system: str, case: ToolCase, params: GenerationParams
) -> CaseOutcome:
    messages: list[Message] = [{"role": "system", "content": system}, {"role": "user", "content": case.text}]
    calls: list[ToolCall] = []
    text: list[str] = []
    first_call: float | None = None
    start = time.perf_counter()
    async for item in llm.stream_chat(messages, params, tools.openai_tools(), "auto"):
        if isinstance(item, ToolCall):
            first_call = first_call or time.perf_counter()
            calls.append(item)
        else:
            text.append(item)
    right_tool = bool(calls) and calls[0].name == case.tool
    return CaseOutcome(
        case.id,
        case.split,
        case.category,
        case.tool,
        [c.name for c in calls],
        [c.arguments for c in calls],
        right_tool,
        right_tool and arguments_match(case, calls[0].arguments),
        None if first_call is None else round((first_call - start) * 1000, 1),
        "".join(text).strip(),
    )


def _p95(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def score(model: str, split: str, outcomes: Sequence[CaseOutcome]) -> Score:
    need = [o for o in outcomes if o.expected]
    called = [o for o in outcomes if o.called]
    hits = [o for o in need if o.called]
    latencies = [o.tool_latency_ms for o in hits if o.tool_latency_ms is not None]
    return Score(
        model,
        split,
        len(outcomes),
        round(len(hits) / len(called), 3) if called else None,
        round(len(hits) / len(need), 3) if need else 0.0,
        round(sum(o.right_tool for o in need) / len(need), 3) if need else 0.0,
        round(sum(o.right_args for o in need) / len(need), 3) if need else 0.0,
        round(statistics.median(latencies), 1) if latencies else None,
        round(_p95(latencies), 1) if latencies else None,
        [o.id for o in called if not o.expected],
        [o.id for o in need if not o.called],
    )


async def evaluate_model(
    model: str,
    cases: Sequence[ToolCase],
    guidance: str = TOOL_GUIDANCE,
    base_prompt: str = TOOL_BASE_PROMPT,
    max_tokens: int = 64,
    threads: int = 2,
    progress: Callable[[str], None] | None = None,
) -> list[CaseOutcome]:
    from rejoinder.backends.llamacpp import LlamaCppLLM

    llm = LlamaCppLLM(LLMConfig(model=model, context=4096, threads=threads, seed=0))
    tools = eval_toolset()
    system = tool_system_prompt(base_prompt, guidance)
    params = GenerationParams(temperature=0.0, max_tokens=max_tokens, seed=0)
    warm = ToolCase("warmup", "warmup", "none", "Hi.", None, {})
    await run_case(llm, tools, system, warm, params)  # caches the system prompt and tool list
    outcomes = []
    for i, case in enumerate(cases):
        outcome = await run_case(llm, tools, system, case, params)
        outcomes.append(outcome)
        if progress:
            progress(f"{model} {i + 1}/{len(cases)} {case.id}: called {outcome.called or '-'}")
    llm._worker.close()
    return outcomes


def run(
    models: Sequence[str] = ("smollm2",),
    split: Split = "all",
    guidance: str = TOOL_GUIDANCE,
    base_prompt: str = TOOL_BASE_PROMPT,
    threads: int = 2,
    cases_path: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate each model (a name resolve_model knows or a GGUF path); scores per split and overall,
    and every outcome, as one JSON-ready dict."""
    cases = [c for c in load_cases(cases_path) if split == "all" or c.split == split]
    report: dict[str, Any] = {
        "system": tool_system_prompt(base_prompt, guidance),
        "cases": len(cases),
        "models": {},
    }
    for model in models:
        outcomes = asyncio.run(
            evaluate_model(model, cases, guidance, base_prompt, threads=threads, progress=progress)
        )
        scores = [score(model, s, [o for o in outcomes if o.split == s]) for s in ("tune", "holdout")]
        scores = [s for s in scores if s.requests] + [score(model, "all", outcomes)]
        report["models"][model] = {
            "scores": [asdict(s) for s in scores],
            "outcomes": [asdict(o) for o in outcomes],
        }
    return report


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"{'model':<28} {'split':<8} {'n':>3} {'precision':>9} {'recall':>7} {'tool':>6} {'args':>6} "
        f"{'p50 ms':>7} {'p95 ms':>7}"
    ]
    for model, entry in report["models"].items():
        for s in entry["scores"]:
            precision = "-" if s["precision"] is None else f"{s['precision']:.2f}"
            p50 = "-" if s["tool_latency_p50_ms"] is None else f"{s['tool_latency_p50_ms']:.0f}"
            p95 = "-" if s["tool_latency_p95_ms"] is None else f"{s['tool_latency_p95_ms']:.0f}"
            lines.append(
                f"{Path(model).name[:28]:<28} {s['split']:<8} {s['requests']:>3} {precision:>9} "
                f"{s['recall']:>7.2f} {s['right_tool_rate']:>6.2f} {s['right_args_rate']:>6.2f} "
                f"{p50:>7} {p95:>7}"
            )
    return "\n".join(lines)


def main() -> None:  # python -m rejoinder.evals.tools MODEL... [--split S] [--json OUT] [--guidance TEXT]
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--split", choices=["tune", "holdout", "all"], default="all")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--guidance", default=TOOL_GUIDANCE, help="tool guidance ('' for none)")
    parser.add_argument("--base-prompt", default=TOOL_BASE_PROMPT)
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp prompt threads")
    args = parser.parse_args()
    report = run(
        args.models,
        args.split,
        args.guidance,
        args.base_prompt,
        args.threads,
        progress=lambda m: print(m, file=sys.stderr),
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(format_report(report))


if __name__ == "__main__":
    main()

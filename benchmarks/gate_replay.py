"""Barge-in gate rules compared offline on the same reads of the words.

`record` runs the barge-in evaluation's trials (src/rejoinder/data/turns: backchannels, real
interruptions, noises over the agent's speech) with the gate's decisions switched off, and keeps
every read of the words (stream time since the confirmed onset, transcript, the STT's
confidence) until the user's sound ends. `replay` decides each trial again from those reads
under several rules, so rules compare on identical transcripts (the STT is not re-run):

  current          the gate as it is (interruptions.py): unsure other words wait
  words-only       the gate reading words only (min_confidence 0, the gate before stop 21)
  agree-other      words that are not cues must be heard the same in two reads in a row (the
                   common start of the two transcripts is what counts), as streaming ASR commits
                   words (LocalAgreement); cues still interrupt at once
  agree-all        cues too

Run: .venv/bin/python benchmarks/gate_replay.py record --out reads.json
     .venv/bin/python benchmarks/gate_replay.py replay reads.json [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from rejoinder import interruptions as gate
from rejoinder.evals import interruptions as evaluation

RULES = {
    "current": (False, False, gate.GateConfig().min_confidence),
    "words-only": (False, False, 0.0),
    "agree-other": (True, False, 0.0),
    "agree-all": (True, True, 0.0),
}


def record(out: Path) -> None:
    reads: list[tuple[int, str, float | None]] = []
    read_words = gate.BargeInGate._read_words

    async def logged(self: gate.BargeInGate) -> None:
        await read_words(self)
        reads.append((round(self._speech / self.sample_rate * 1000), self.text, self.confidence))

    gate.BargeInGate._read_words = logged  # type: ignore[method-assign]
    trials: dict[str, Any] = {}
    run_trial = evaluation.run_trial

    async def recorded(*args: Any) -> evaluation.Trial:
        reads.clear()
        trial = await run_trial(*args)
        trials[trial.file] = {
            "group": trial.group,
            "split": trial.split,
            "text": trial.text,
            "reads": list(reads),
        }
        return trial

    evaluation.run_trial = recorded  # type: ignore[assignment]
    never = gate.GateConfig(cues=frozenset(), min_words=0, min_speech_ms=1e9, max_wordless_ms=1e9)
    evaluation.run(gate_config=never)
    out.write_text(json.dumps(trials, indent=1))
    print(f"{len(trials)} trials -> {out}")


def _common(a: list[str], b: list[str]) -> list[str]:
    out = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        out.append(x)
    return out


def decide(reads: list[list[Any]], agree_other: bool, agree_cue: bool, min_confidence: float) -> int | None:
    """Stream ms after the onset at which the rule interrupts (None: never). A read is
    [ms, text] or [ms, text, confidence]."""
    config = dataclasses.replace(gate.GateConfig(), min_confidence=min_confidence)
    previous: list[str] | None = None
    for ms, text, *rest in reads:
        confidence = rest[0] if rest else None
        tokens = gate._tokens(text)
        agreed = " ".join(_common(previous, tokens)) if previous is not None else ""
        words = gate.classify(text)
        if words is gate.Words.CUE:
            if not agree_cue or gate.classify(agreed) is gate.Words.CUE:
                return ms
        elif words is gate.Words.OTHER:
            basis = agreed if agree_other else text
            if gate.interrupts(gate.classify(basis), gate.other_words(basis), confidence, ms, config):
                return ms
        previous = tokens
    return None


def replay(path: Path) -> dict[str, Any]:
    trials = json.loads(path.read_text())
    report: dict[str, Any] = {}
    for name, (agree_other, agree_cue, min_confidence) in RULES.items():
        row: dict[str, Any] = {}
        for group in ("backchannel", "interruption", "noise"):
            chosen = [t for t in trials.values() if t["group"] == group]
            times = [decide(t["reads"], agree_other, agree_cue, min_confidence) for t in chosen]
            fired = [
                t["split"] + ": " + t["text"] for t, ms in zip(chosen, times, strict=True) if ms is not None
            ]
            silent = [
                t["split"] + ": " + t["text"] for t, ms in zip(chosen, times, strict=True) if ms is None
            ]
            ms_sorted = sorted(ms for ms in times if ms is not None)
            row[group] = {
                "clips": len(chosen),
                "interrupted": len(fired),
                "which" if group != "interruption" else "missed": fired
                if group != "interruption"
                else silent,
                "decision_ms_median": ms_sorted[len(ms_sorted) // 2] if ms_sorted else None,
                "decision_ms_max": ms_sorted[-1] if ms_sorted else None,
            }
        report[name] = row
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--out", type=Path, default=Path("gate-reads.json"))
    rep = sub.add_parser("replay")
    rep.add_argument("reads", type=Path)
    rep.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.command == "record":
        record(args.out)
        return
    report = replay(args.reads)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name, row in report.items():
        b, i = row["backchannel"], row["interruption"]
        print(
            f"{name}: backchannels that interrupt {b['interrupted']}/{b['clips']} {b['which']}; "
            f"interruptions missed {len(i['missed'])}/{i['clips']} {i['missed']}; "
            f"decision median {i['decision_ms_median']} ms, max {i['decision_ms_max']} ms; "
            f"noises {row['noise']['interrupted']}/{row['noise']['clips']}"
        )


if __name__ == "__main__":
    main()

"""Does the agent's last question help the text end-of-turn model? Short answers to the agent,
scored with that question as context and with the generic greeting, beside unfinished starts.

Every answer below is a complete turn said to the question before it; every start is a turn the
speaker has not finished. Written for this check (stop 22), not taken from the turn-taking set.

Run: .venv/bin/python benchmarks/text_turn_context.py [--json]
"""

from __future__ import annotations

import argparse
import json

from rejoinder.backends.lm_turn import LanguageModelTurn
from rejoinder.endpointing import EAGERNESS

# (the agent's question, a complete short answer, an unfinished start of an answer)
EXCHANGES = [
    ("How many people will be joining you for dinner?", "Two people.", "Maybe four or"),
    ("What time should I set the alarm for?", "Half past six.", "Set it for"),
    ("Which city are you flying to?", "New York.", "I'm flying to"),
    ("Would you like the window or the aisle seat?", "The window, please.", "I think the"),
    ("When is your appointment?", "Next Tuesday.", "It's on the"),
    ("Should I add anything else to the list?", "No, that's all.", "Yes, add some"),
    ("What's the name on the reservation?", "Sarah Jones.", "It's under the name"),
    ("How long do you want the timer to run?", "Ten minutes.", "About ten or"),
    ("Do you want me to read the message back?", "Yes, please.", "Yes, but only the"),
    ("What kind of music do you like?", "Mostly jazz.", "I really like"),
    ("Is there anything else I can help you with?", "Thank you, that's it.", "Actually, can you"),
    ("Where should I send the invoice?", "To my work email.", "Send it to my"),
    ("How would you like to pay?", "By credit card.", "I'll pay with"),
    ("What is your date of birth?", "March third, nineteen ninety.", "It's March"),
    ("Which room should I turn the lights off in?", "The kitchen.", "In the"),
    ("What temperature do you want the heating at?", "Twenty degrees.", "Put it at"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    model = LanguageModelTurn()
    bar = EAGERNESS["medium"].text_threshold
    assert bar is not None
    rows = [
        {
            "question": q,
            "answer": a,
            "start": s,
            "answer_with_question": model.probability_blocking(a, q),
            "answer_alone": model.probability_blocking(a),
            "start_with_question": model.probability_blocking(s, q),
            "start_alone": model.probability_blocking(s),
        }
        for q, a, s in EXCHANGES
    ]
    summary = {
        "bar": bar,
        "exchanges": len(rows),
        "answers_held_with_question": sum(r["answer_with_question"] < bar for r in rows),
        "answers_held_alone": sum(r["answer_alone"] < bar for r in rows),
        "starts_held_with_question": sum(r["start_with_question"] < bar for r in rows),
        "starts_held_alone": sum(r["start_alone"] < bar for r in rows),
    }
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows}, indent=1))
        return 0
    for r in rows:
        print(
            f"{r['answer']:<30} {r['answer_with_question']:.3f} (alone {r['answer_alone']:.3f})   "
            f"{r['start']:<22} {r['start_with_question']:.3f} (alone {r['start_alone']:.3f})"
        )
    print(
        f"held below {bar} (of {len(rows)}): complete answers "
        f"{summary['answers_held_with_question']} with the question, {summary['answers_held_alone']} "
        f"alone; unfinished starts {summary['starts_held_with_question']} with the question, "
        f"{summary['starts_held_alone']} alone"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

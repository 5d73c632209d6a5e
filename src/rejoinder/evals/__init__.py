"""Evaluations of the whole agent: answer accuracy on a spoken question set (accuracy.py) and,
where present, turn-taking (turns.py)."""

"""Evaluations of the whole agent on bundled data: answer accuracy on a spoken question set
(accuracy.py) and turn-taking: endpointing and barge-in (turns.py, interruptions.py)."""

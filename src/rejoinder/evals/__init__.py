"""Evaluations that measure accuracy and turn-taking on bundled data."""

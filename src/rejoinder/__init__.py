"""Rejoinder: a real-time, fully offline speech-to-speech voice agent."""

__version__ = "0.1.0"

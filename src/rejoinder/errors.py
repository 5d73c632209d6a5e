"""Errors whose message is fit to show a user as a single line."""


class RejoinderError(Exception):
    """Base for errors the CLI prints as one line (no traceback)."""

    exit_code = 1


class BadInputError(RejoinderError):
    """The user gave something we cannot use (missing file, not audio, bad option)."""

    exit_code = 2


class BackendUnavailable(RejoinderError):
    """A backend's package, extra or model files are not present on this machine."""

    exit_code = 3


class ContextOverflow(BadInputError):
    """The prompt is longer than the model's context: a conversation can drop its oldest turns and
    ask again (the model refuses before reading it, so nothing was generated)."""

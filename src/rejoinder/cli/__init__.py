"""Command line: reply, transcribe, say, serve, bench, route, eval, backends, models."""

from __future__ import annotations

import sys

from rejoinder.cli import files, info, live
from rejoinder.cli.common import app, err
from rejoinder.cluster.command import cluster_command
from rejoinder.errors import RejoinderError
from rejoinder.evals.cli import eval_command
from rejoinder.soak.command import soak

__all__ = ["app", "files", "info", "live", "main"]

app.command("eval")(eval_command)
app.command()(soak)
app.command("cluster")(cluster_command)


def main() -> None:
    try:
        app()
    except RejoinderError as exc:
        err.print(f"rejoinder: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("rejoinder: interrupted")
        sys.exit(130)
    except Exception as exc:  # last resort: still one line, never a traceback
        err.print(f"rejoinder: internal error: {type(exc).__name__}: {exc}", markup=False, soft_wrap=True)
        sys.exit(1)

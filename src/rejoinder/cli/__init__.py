"""Command line: reply, transcribe, say, serve, bench, route, eval, backends, models."""

from __future__ import annotations

import sys

from typer import Abort
from typer._click.exceptions import ClickException  # typer is pinned; it vendors click

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
        code = app(standalone_mode=False)  # usage errors come here, to be told in one line
    except ClickException as exc:  # a missing argument, an unknown option, a value out of range
        where = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "rejoinder"  # type: ignore[attr-defined]
        one_line(f"{exc.format_message()} (see '{where} --help')")
        sys.exit(exc.exit_code)
    except RejoinderError as exc:
        one_line(str(exc))
        sys.exit(exc.exit_code)
    except OSError as exc:  # a path the user named: too long, a loop of links, no permission
        one_line(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        sys.exit(2)
    except (KeyboardInterrupt, Abort):
        err.print("rejoinder: interrupted")
        sys.exit(130)
    except Exception as exc:  # last resort: still one line, never a traceback
        err.print(f"rejoinder: internal error: {type(exc).__name__}: {exc}", markup=False, soft_wrap=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def one_line(message: str) -> None:
    err.print(f"rejoinder: error: {message}", markup=False, highlight=False, soft_wrap=True)

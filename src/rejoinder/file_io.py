"""Safe file mode I/O: an input that may be stdin, an output that is never half-written.

- `-` as input: stdin is spooled to a private temporary file, at most STDIN_MAX_BYTES; so is a
  named pipe or a device given as the input path.
- The output is checked before any work (not the input itself through any path, symlink or
  hard link; a writable location; not a terminal for `-`), written to a temporary file beside
  it, and renamed over the target only when the run succeeds: a failed or interrupted run
  leaves an existing output as it was and no partial file.
- `-` as output: the WAV goes to stdout once complete (a WAV header needs the final length).
  Targets that are not regular files (/dev/null, a FIFO) are written the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from rejoinder.errors import BadInputError

STDIN_MAX_BYTES = 1 << 30
"""1 GiB: about 9 hours of 16 kHz 16-bit mono WAV, far more of any compressed format."""
_BLOCK = 1 << 20


def is_stdio(path: Path | str) -> bool:
    return str(path) == "-"


@contextlib.contextmanager
def input_path(
    source: Path, stdin: BinaryIO | None = None, max_bytes: int = STDIN_MAX_BYTES
) -> Iterator[Path]:
    """A readable path for `source`; for `-` or a pipe (`<(ffmpeg ...)`, a FIFO, /dev/stdin), a
    temporary copy of what it gives (removed afterwards): the file is decoded more than once, and
    a pipe can be read only once."""
    if is_stdio(source):
        stream = stdin if stdin is not None else _std("stdin")
        with interrupt_on_signals(), _spooled(stream, "stdin", max_bytes) as path:
            yield path
        return
    if not _is_stream(source):
        yield source
        return
    with interrupt_on_signals():  # a FIFO's open waits for a writer: Ctrl-C or a kill ends it
        try:
            pipe = open(source, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise BadInputError(f"{source}: cannot read ({exc.strerror or exc})") from None
        with pipe, _spooled(pipe, str(source), max_bytes) as path:
            yield path


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt here (main thread only), so the temporary files
    of the run are removed on the way out: SIGTERM's default ends the process on the spot, which
    left a copy of the input in /tmp. Nested uses restore what they found."""
    if not _main_thread():
        yield
        return
    old = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _is_stream(path: Path) -> bool:
    """A FIFO, a character device or a socket: something to read through once, not a file."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False  # missing or unreadable: the decoder says which, in one line
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


@contextlib.contextmanager
def _spooled(stream: BinaryIO, label: str, max_bytes: int) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rejoinder-stdin-") as tmp:
        path = Path(tmp) / "input"
        total = 0
        with open(path, "wb") as spool:
            while block := stream.read(_BLOCK):
                total += len(block)
                if total > max_bytes:
                    raise BadInputError(
                        f"{label}: more than {max_bytes >> 20} MiB of audio; save it to a file, pass its path"
                    )
                spool.write(block)
        if total == 0:
            stdin = label == "stdin"
            what = "pipe an audio file in, or give its path" if stdin else "it gave nothing to read"
            raise BadInputError(f"{label}: no data ({what})")
        try:
            yield path
        except BadInputError as exc:
            raise BadInputError(str(exc).replace(str(path), label)) from None


class OutputFile:
    """The output of one command run: `temp` is where to write; `commit()` publishes it."""

    def __init__(self, target: Path, inputs: tuple[Path, ...] = (), stdout: BinaryIO | None = None) -> None:
        self.target = target
        self.inputs = inputs
        self.to_stdout = is_stdio(target)
        self._stdout = stdout
        self.temp = target  # replaced in __enter__
        self._direct = False  # copy into the target at commit instead of renaming over it
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._signals = interrupt_on_signals()
        self.committed = False

    # ---- checks and the temporary file -----------------------------------------------------
    def __enter__(self) -> OutputFile:
        if self.to_stdout:
            stream = self._stdout if self._stdout is not None else _std("stdout")
            if stream.isatty():
                raise BadInputError("refusing to write audio to a terminal; redirect stdout or give -o FILE")
            self._in_private_dir()
        else:
            self._check_target()
            if self._direct:
                self._in_private_dir()
            else:
                self._beside_target()
        # Ctrl-C and a polite kill while models load: stop at once (the temporary file is removed
        # on the way out); the async work installs `stop_on_signals` over this
        self._signals.__enter__()
        return self

    def _check_target(self) -> None:
        path = self.target
        if path.is_dir():
            raise BadInputError(f"{path}: output is a directory; give a .wav file path")
        parent = path.resolve().parent
        if not parent.exists():
            via = f" (where the link {path} points)" if path.is_symlink() else ""
            raise BadInputError(f"{parent}: output directory does not exist{via}")
        for source in self.inputs:
            if path.exists() and source.exists() and os.path.samefile(source, path):
                raise BadInputError(f"{path}: this is the input file; give the output another name")
        if path.exists():
            mode = path.stat().st_mode
            if not stat.S_ISREG(mode):
                self._direct = True  # /dev/null, a FIFO: write into it, never rename over it
            elif not os.access(path, os.W_OK):
                raise BadInputError(f"{path}: output exists and is read-only")

    def _beside_target(self) -> None:
        final = self.target.resolve()  # through a symlink: replace what it points to
        try:
            # a name near the 255-byte limit leaves no room for the suffixes: shorten the prefix
            prefix = f".{os.fsencode(final.name)[:200].decode(errors='ignore')}."
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=final.parent)
        except OSError as exc:
            raise BadInputError(
                f"{final.parent}: cannot write output there ({exc.strerror or exc})"
            ) from None
        os.close(fd)
        self.temp = Path(name)
        self._final = final
        old = final.stat().st_mode if final.exists() else None
        os.chmod(self.temp, stat.S_IMODE(old) if old is not None else 0o666 & ~_umask())

    def _in_private_dir(self) -> None:
        self._tmpdir = tempfile.TemporaryDirectory(prefix="rejoinder-out-")
        self.temp = Path(self._tmpdir.name) / "output.wav"
        self.temp.touch()

    # ---- publish or throw away -------------------------------------------------------------
    def commit(self) -> None:
        try:
            if self.to_stdout:
                stream = self._stdout if self._stdout is not None else _std("stdout")
                with open(self.temp, "rb") as src:
                    shutil.copyfileobj(src, stream, _BLOCK)
                stream.flush()
            elif self._direct:
                with open(self.temp, "rb") as src, open(self.target, "wb") as dst:
                    shutil.copyfileobj(src, dst, _BLOCK)
            else:
                os.replace(self.temp, self._final)
        except BrokenPipeError:
            _silence_stdout()
            raise BadInputError("stdout was closed before all the audio was written") from None
        except OSError as exc:
            raise BadInputError(f"{self.target}: cannot write output ({exc.strerror or exc})") from None
        self.committed = True

    def discard(self) -> None:
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
        elif not self.committed and self.temp != self.target:
            with contextlib.suppress(FileNotFoundError):
                self.temp.unlink()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._signals.__exit__(None, None, None)
        self.discard()
        if isinstance(e, BadInputError) and str(self.temp) in str(e):
            raise BadInputError(str(e).replace(str(self.temp), str(self.target))) from None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """Inside a running loop: Ctrl-C and SIGTERM set the event, and the work raises
    KeyboardInterrupt at its next check (`raise_if_stopped`, `until_stopped`).

    asyncio.run's own Ctrl-C handling only cancels the main task, which code waiting on a turn
    may absorb; raising from a signal handler at an arbitrary point can land in a callback.
    Outside the main thread (tests, servers) this does nothing.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}
    if _main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                handler = signal.getsignal(sig)
                loop.add_signal_handler(sig, stop.set)
                previous[sig] = handler
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)
            signal.signal(signum, handler)


def raise_if_stopped(stop: asyncio.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt


async def until_stopped(stop: asyncio.Event | None, work: Any) -> Any:
    """Await `work`, or raise KeyboardInterrupt as soon as `stop` is set (the work is cancelled)."""
    if stop is None:
        return await work
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task not in done:
        task.cancel()
        raise KeyboardInterrupt
    return task.result()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _std(name: str) -> BinaryIO:
    """The binary stdin or stdout; a clear error when the shell closed it (`>&-`: None)."""
    stream = getattr(sys, name)
    if stream is None:
        what = {"stdin": "input", "stdout": "output"}[name]
        raise BadInputError(f"standard {what} is closed; give a file instead of '-'")
    return stream.buffer

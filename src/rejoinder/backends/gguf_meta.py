"""Read one string from a GGUF file's metadata (the chat template), without loading the model."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9


def _read(f: BinaryIO, fmt: str) -> tuple[Any, ...]:
    size = struct.calcsize("<" + fmt)
    data = f.read(size)
    if len(data) != size:
        raise ValueError("truncated GGUF metadata")
    return struct.unpack("<" + fmt, data)


def _string(f: BinaryIO) -> bytes:
    (length,) = _read(f, "Q")
    return f.read(int(length))


def _skip(f: BinaryIO, kind: int) -> None:
    if kind == STRING:
        _string(f)
    elif kind == ARRAY:
        item, count = _read(f, "IQ")
        if item in _SCALARS:
            f.seek(struct.calcsize("<" + _SCALARS[int(item)]) * int(count), 1)
        else:
            for _ in range(int(count)):
                _skip(f, int(item))
    elif kind in _SCALARS:
        f.seek(struct.calcsize("<" + _SCALARS[kind]), 1)
    else:
        raise ValueError(f"unknown GGUF value type {kind}")


def metadata_string(path: Path, key: str) -> str | None:
    """The string value of `key` in a GGUF file's metadata; None if absent or not a GGUF file."""
    try:
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                return None
            _version, _tensors, count = _read(f, "IQQ")
            for _ in range(int(count)):
                name = _string(f).decode("utf-8", "replace")
                (kind,) = _read(f, "I")
                if name == key and kind == STRING:
                    return _string(f).decode("utf-8", "replace")
                _skip(f, int(kind))
    except (OSError, ValueError):
        return None
    return None

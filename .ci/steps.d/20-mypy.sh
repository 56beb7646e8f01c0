#!/usr/bin/env bash
# Type-check the package strictly (config: [tool.mypy] in pyproject.toml; the
# modules not yet clean are listed there with ignore_errors).
set -euo pipefail
cd "$(dirname "$0")/../.."
python -m pip install -q mypy
python -m mypy

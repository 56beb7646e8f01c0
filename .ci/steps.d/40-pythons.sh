#!/usr/bin/env bash
# The suite on the oldest (3.10) and newest (3.13) Python we support, each in a
# fresh venv, with the compiled twins built for that interpreter.
#
# A subset, to keep CI near 15 minutes (the whole suite took 18 minutes on
# 3.13 on a loaded 2-core machine): what depends on the interpreter. The
# asyncio adapters, servers and clients (event-loop and signal behaviour
# changed in 3.11 and 3.12: eager tasks, Server.wait_closed, Ctrl-C handling,
# hence tests/test_aio_shutdown_cli.py), the HTTP/1.1 engine, the core, and
# the codec suites on the compiled twins built for that interpreter.
# Left to the main Python: the property suites (*_props, *_properties), the
# Node, SDK, conformance and docs/examples runs (integration, or pure Python
# over the same adapters), and the package build. Override the list with
# STREAMCORE_PYTHONS_TESTS.
#
# Interpreters are found as python3.10/python3.13 on PATH or under pyenv
# (PYENV_ROOT, default ~/.pyenv); a missing one fails the step unless
# STREAMCORE_PYTHONS_OPTIONAL=1. Override the list with STREAMCORE_PYTHONS.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
pythons=${STREAMCORE_PYTHONS:-"3.10 3.13"}
tests=${STREAMCORE_PYTHONS_TESTS:-"tests/test_aio_server.py tests/test_aio_faults.py tests/test_aio_hardening.py
  tests/test_aio_demo.py tests/test_aio_shutdown_cli.py tests/test_client_aio.py tests/test_client_hardening.py
  tests/test_h2_server.py tests/test_h2_client.py tests/test_http11.py tests/test_server.py tests/test_modern.py
  tests/test_dual_era.py tests/test_endpoint_policy.py tests/test_sse.py tests/test_chunked.py tests/test_jsonrpc.py
  tests/test_fuzz_corpus.py"}
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}

find_python() {
  # pyenv's own copy first (its shims on PATH may refuse a version that is
  # not selected), then PATH; a candidate must actually run.
  local v=$1 p
  for p in $(ls -d "$pyenv_root"/versions/"$v".*/bin/python 2>/dev/null | sort -V -r) $(command -v "python$v" 2>/dev/null || true); do
    if "$p" -c 'import sys' >/dev/null 2>&1; then echo "$p"; return; fi
  done
}

for v in $pythons; do
  py=$(find_python "$v")
  if [ -z "$py" ]; then
    if [ "${STREAMCORE_PYTHONS_OPTIONAL:-0}" = 1 ]; then echo "skip: no Python $v"; continue; fi
    echo "no Python $v found (PATH or $pyenv_root/versions)" >&2; exit 1
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "+ Python $v: $py"
  # A copy of the tracked tree: the compiled twins are built for this
  # interpreter without touching the checkout.
  git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$work"
  "$py" -m venv "$work/.venv"
  "$work/.venv/bin/python" -m pip install -q --upgrade pip
  "$work/.venv/bin/python" -m pip install -q "$root[test]" "Cython==3.3.1" "setuptools>=77"
  (cd "$work" && .venv/bin/python setup.py -q build_ext --inplace >/dev/null)
  (cd "$work" && PYTHONPATH="$work" STREAMCORE_REQUIRE_EXTENSIONS=1 STREAMCORE_REQUIRE_INTEGRATION=0 \
     .venv/bin/python -m pytest -q -m "not integration and not slow" -p no:cacheprovider $tests)
  rm -rf "$work"
  trap - EXIT
done

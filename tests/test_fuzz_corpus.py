"""The fuzz corpus (fuzz/corpus/*) replayed through each fuzz target's checks,
in the ordinary suite: an input that once broke a target stays fixed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
TARGETS = ["sse", "chunked", "jsonrpc", "http11", "server", "hpack", "h2conn"]


def load(name: str) -> object:
    sys.path.insert(0, str(FUZZ))
    argv = sys.argv
    sys.argv = [argv[0], "--replay"]  # no instrumentation
    try:
        spec = importlib.util.spec_from_file_location(f"fuzz_{name}", FUZZ / f"fuzz_{name}.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.argv = argv
        sys.path.remove(str(FUZZ))


@pytest.mark.parametrize("name", TARGETS)
def test_corpus_replays_clean(name: str) -> None:
    """Every corpus input of the target passes its checks (no exception)."""
    mod = load(name)
    files = sorted((FUZZ / "corpus" / name).iterdir())
    assert files, f"empty corpus for {name}"
    for f in files:
        mod.target(f.read_bytes())  # type: ignore[attr-defined]

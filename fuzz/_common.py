"""Shared by the fuzz targets: both twins of a codec, and a runner that works
with atheris (coverage-guided) or, without it, replays the corpus only."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def fuzzing() -> bool:
    return "--replay" not in sys.argv and importlib.util.find_spec("atheris") is not None


def instrumented() -> Any:
    """Import streamcore inside this block: coverage feedback from its Python
    code (pure twins, engine, core). The compiled twins are not instrumented;
    they are checked by agreement with the pure ones."""
    if not fuzzing():
        return contextlib.nullcontext()
    import atheris

    return atheris.instrument_imports(include=["streamcore"])


def twins(codec: str) -> list[ModuleType]:
    """The pure twin and, when built, the compiled one (they must agree)."""
    mods = [importlib.import_module(f"streamcore._codecs._{codec}_py")]
    if not os.environ.get("STREAMCORE_NO_EXTENSIONS"):
        try:
            mods.append(importlib.import_module(f"streamcore._codecs._{codec}_c"))
        except ImportError:
            pass
    return mods


def cuts(data: bytes) -> list[bytes]:
    """Split ``data`` at offsets derived from its own first byte (deterministic)."""
    if not data:
        return [b""]
    step = data[0] % 7 + 1
    return [data[i:i + step] for i in range(0, len(data), step)]


def main(target: Callable[[bytes], None], name: str) -> None:
    """``python fuzz/fuzz_X.py [atheris/libFuzzer flags] [corpus dirs]``;
    with ``--replay`` only the corpus is run (no atheris needed)."""
    args = [a for a in sys.argv[1:] if a != "--replay"]
    corpus = HERE / "corpus" / name
    if not fuzzing():
        n = 0
        for f in sorted(corpus.iterdir()) if corpus.is_dir() else []:
            target(f.read_bytes())
            n += 1
        print(f"{name}: replayed {n} corpus inputs, no failure")
        return
    import atheris

    if not any(not a.startswith("-") for a in args):
        args.append(str(corpus))
    atheris.Setup([sys.argv[0], *args], target)
    atheris.Fuzz()

"""Which twins of a codec this run can test (see STYLE.md, "Twins")."""

from __future__ import annotations

import importlib
from types import ModuleType

from streamcore._ext import NO_EXTENSIONS


def twins(codec: str) -> list[ModuleType]:
    """The pure twin, plus the compiled one when it is built and allowed.

    A missing compiled twin is not silently tolerated: ``tests/test_build.py``
    fails when the compiled modules were expected but not loaded.
    """
    mods = [importlib.import_module(f"streamcore._codecs._{codec}_py")]
    if not NO_EXTENSIONS:
        try:
            mods.append(importlib.import_module(f"streamcore._codecs._{codec}_c"))
        except ImportError:
            pass
    return mods


def twin_id(mod: ModuleType) -> str:
    return "py" if mod.__name__.endswith("_py") else "c"

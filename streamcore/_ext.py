"""Which codec implementation is in use, and the switch that picks it."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

__all__ = ["CODECS", "NO_EXTENSIONS", "load_twin", "implementation_of"]

#: True when the pure-Python twins are forced: by ``STREAMCORE_NO_EXTENSIONS``
#: (any non-empty value) or on an interpreter other than CPython (PyPy runs the
#: pure twins faster than it would run a C extension through cpyext).
NO_EXTENSIONS: bool = bool(os.environ.get("STREAMCORE_NO_EXTENSIONS")) or (
    sys.implementation.name != "cpython"
)

#: Every codec that has a pair of twins, by the name used in
#: ``streamcore._codecs._<name>_py`` / ``_<name>_c`` and ``streamcore.<name>``.
CODECS: tuple[str, ...] = tuple(
    sorted(
        f[1:-6]
        for f in os.listdir(os.path.join(os.path.dirname(__file__), "_codecs"))
        if f.startswith("_") and f.endswith("_py.py")
    )
)


def load_twin(name: str) -> ModuleType:
    """Return the compiled twin ``_<name>_c`` if allowed and built, else ``_<name>_py``."""
    if not NO_EXTENSIONS:
        try:
            return importlib.import_module(f"streamcore._codecs._{name}_c")
        except ImportError:
            pass
    return importlib.import_module(f"streamcore._codecs._{name}_py")


def implementation_of(module: ModuleType) -> str:
    """``"compiled"`` or ``"pure"`` for a twin module."""
    return "pure" if module.__name__.endswith("_py") else "compiled"

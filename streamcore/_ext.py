"""Which codec implementation is in use, and the switch that picks it."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Any

__all__ = ["CODECS", "CORE", "NO_EXTENSIONS", "load_twin", "implementation_of", "core_implementation",
           "use_pure_core"]

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


#: The modules of the server core's request path that ``setup.py`` also compiles
#: as they are (Cython's pure Python mode), typed by the augmenting ``.pxd``
#: beside each: the ``.py`` is both the compiled module's source and its pure
#: twin, so the two cannot drift apart. A compiled module has the ``.py``'s
#: name and shadows it on import; :func:`use_pure_core` makes the ``.py`` win.
CORE: tuple[str, ...] = ("_toolkit", "_session", "_endpoint", "aio.server")


class _PureCore:
    """A meta path finder that loads the :data:`CORE` modules from their ``.py``."""

    def __init__(self) -> None:
        self._dir = os.path.dirname(os.path.abspath(__file__))

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        top, _, name = fullname.partition(".")
        if top != __package__ or name not in CORE:
            return None
        from importlib.util import spec_from_file_location

        return spec_from_file_location(fullname, os.path.join(self._dir, *name.split(".")) + ".py")


def use_pure_core() -> None:
    """Load the :data:`CORE` modules from source from now on (``STREAMCORE_NO_EXTENSIONS``:
    called by ``streamcore/__init__.py`` before any of them is imported)."""
    if not any(isinstance(f, _PureCore) for f in sys.meta_path):
        sys.meta_path.insert(0, _PureCore())


def core_implementation(name: str) -> str:
    """``"compiled"`` or ``"pure"``: which file an import of the :data:`CORE` module ``name``
    loads (found, not imported: ``aio.server`` needs the runtime dependencies)."""
    if NO_EXTENSIONS:
        return "pure"
    from importlib.machinery import EXTENSION_SUFFIXES

    base = os.path.join(os.path.dirname(os.path.abspath(__file__)), *name.split("."))
    # A compiled copy beside the .py is what the import system picks (extensions first).
    return "compiled" if any(os.path.exists(base + suffix) for suffix in EXTENSION_SUFFIXES) else "pure"


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

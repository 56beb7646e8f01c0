"""streamcore: MCP Streamable HTTP, sans-IO, with compiled codecs.

The main names are here; the rest is in the public modules:
:mod:`streamcore.server` (the server core and its config),
:mod:`streamcore.client`, :mod:`streamcore.events`, :mod:`streamcore.store`,
:mod:`streamcore.era`, :mod:`streamcore.http11`, and the codec modules
:mod:`streamcore.sse`, :mod:`streamcore.chunked` and :mod:`streamcore.jsonrpc`
(each picks its compiled twin when available and its pure-Python twin
otherwise; ``STREAMCORE_NO_EXTENSIONS=1`` forces pure).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._ext import NO_EXTENSIONS as _NO_EXTENSIONS

if _NO_EXTENSIONS:
    # Before any core module is imported: their compiled copies shadow the .py.
    from ._ext import use_pure_core

    use_pure_core()

from ._errors import LocalProtocolError, McpError, ProtocolError, RemoteProtocolError
from ._versions import LATEST_VERSION, LEGACY_VERSIONS, MODERN_VERSIONS

if TYPE_CHECKING:
    from ._config import ModernConfig, ServerConfig
    from ._endpoint import Server

# Loaded on first use (PEP 562): `import streamcore.client` or a codec module
# does not pay for the server core.
_LAZY = {"Server": "._endpoint", "ServerConfig": "._config", "ModernConfig": "._config"}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'streamcore' has no attribute {name!r}")
    return getattr(importlib.import_module(where, __name__), name)

__version__ = "0.1.0.dev0"

__all__ = [
    "__version__",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "McpError",
    "Server",
    "ServerConfig",
    "ModernConfig",
    "LEGACY_VERSIONS",
    "MODERN_VERSIONS",
    "LATEST_VERSION",
]

"""streamcore: MCP Streamable HTTP, sans-IO, with compiled codecs.

The public codec modules are :mod:`streamcore.sse`, :mod:`streamcore.chunked`
and :mod:`streamcore.jsonrpc`; each picks its compiled twin when available and
its pure-Python twin otherwise (``STREAMCORE_NO_EXTENSIONS=1`` forces pure).
"""

from __future__ import annotations

from ._errors import LocalProtocolError, McpError, ProtocolError, RemoteProtocolError

__version__ = "0.1.0.dev0"

__all__ = [
    "__version__",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "McpError",
]

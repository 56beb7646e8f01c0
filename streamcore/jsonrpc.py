"""JSON-RPC 2.0 codec with the MCP overlay: parse POST bodies, encode replies.

``parse(body, allow_batch=...)`` reads a body into request, notification,
response, error-response and ``Invalid`` messages (spec 5.1-5.3); whole-body
failures raise :class:`~streamcore._errors.JsonRpcDecodeError`. ``lazy=True``
keeps ``params``/``result`` as :class:`RawJson` spans for gateways. The
``encode*`` functions write compact UTF-8 JSON. See ``docs/jsonrpc.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import JsonRpcDecodeError
from ._ext import implementation_of, load_twin

from ._codecs._jsonrpc_common import register_decoder

_impl = load_twin("jsonrpc")
# RawJson.decode follows the twin picked here (see _jsonrpc_common._DECODER).
register_decoder(_impl.decode_value)
#: "compiled" or "pure"
IMPLEMENTATION = implementation_of(_impl)

if TYPE_CHECKING:
    from ._codecs._jsonrpc_py import *  # noqa: F403 - the twins share one API, the pure one's __all__
else:
    # The names of the selected twin's __all__ (both twins list the same ones:
    # tests/test_build.py and the twin tests check it).
    globals().update({name: getattr(_impl, name) for name in _impl.__all__})

__all__ = [*_impl.__all__, "JsonRpcDecodeError", "IMPLEMENTATION"]

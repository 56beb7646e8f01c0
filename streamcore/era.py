"""The era classifier: which protocol era a POST belongs to, for gateways and servers.

A pure function of the request; see ``docs/eras.md``.
"""

from __future__ import annotations

from ._era import (
    HEADER_MISMATCH,
    LEGACY_VERSIONS,
    MAX_SAFE_INTEGER,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_PROTOCOL_VERSION,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    MODERN_VERSIONS,
    NAME_SOURCES,
    UNSUPPORTED_PROTOCOL_VERSION,
    Verdict,
    classify,
    decode_header_value,
    encode_header_value,
    error_response,
    needs_encoding,
    param_headers_from_tools,
    valid_x_mcp_header,
    x_mcp_header_problems,
    x_mcp_headers,
)

__all__ = [
    "Verdict",
    "classify",
    "error_response",
    "MODERN_VERSIONS",
    "LEGACY_VERSIONS",
    "HEADER_MISMATCH",
    "MISSING_REQUIRED_CLIENT_CAPABILITY",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "META_PROTOCOL_VERSION",
    "META_CLIENT_CAPABILITIES",
    "META_CLIENT_INFO",
    "NAME_SOURCES",
    "encode_header_value",
    "decode_header_value",
    "needs_encoding",
    "x_mcp_header_problems",
    "valid_x_mcp_header",
    "x_mcp_headers",
    "param_headers_from_tools",
    "MAX_SAFE_INTEGER",
]

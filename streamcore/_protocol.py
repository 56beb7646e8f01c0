"""MCP protocol constants shared by the server and client cores.

``_meta`` keys, MCP's own JSON-RPC error codes and the standard header names
of the per-request era, each defined once. Imports nothing from streamcore.
"""

from __future__ import annotations

__all__ = [
    "META_PROTOCOL_VERSION",
    "META_CLIENT_CAPABILITIES",
    "META_CLIENT_INFO",
    "META_SERVER_INFO",
    "SUBSCRIPTION_ID",
    "HEADER_MISMATCH",
    "MISSING_REQUIRED_CLIENT_CAPABILITY",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "SESSION_NOT_FOUND",
    "REMOVED_METHODS",
]

META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
#: ``_meta`` key naming the listen stream a notification belongs to (spec 2.13).
SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"

# schema/2026-07-28/schema.ts, "MCP error codes".
HEADER_MISMATCH = -32020
MISSING_REQUIRED_CLIENT_CAPABILITY = -32021
UNSUPPORTED_PROTOCOL_VERSION = -32022
#: Session-era "Session not found" (SRV-SESS-05, SESS-09).
SESSION_NOT_FOUND = -32001

#: Methods the per-request era removed (the session handshake, ping and the
#: session-scoped utilities): a 2026-07-28 request for one gets 404 -32601
#: (``sep-2575-http-server-method-not-found-404-*``).
REMOVED_METHODS: frozenset[str] = frozenset({
    "initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
})

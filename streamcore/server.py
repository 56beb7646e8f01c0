"""The sans-IO MCP server core, both protocol eras on one endpoint.

This is the public face of the server core: import from here, never from the
private modules behind it. See ``docs/server.md`` and ``docs/design.md``.
"""

from __future__ import annotations

from ._errors import LocalProtocolError, McpError
from ._modern import (
    DEFAULT_MAX_LISTEN_QUEUE_BYTES,
    DEFAULT_MAX_LISTENS,
    LISTEN_FILTERS,
    ListenSupport,
    ModernConfig,
    http_status_for_error,
)
from ._results import CACHEABLE_METHODS, complete_result_for_era, discover_result
from ._server import (
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_QUEUED_BYTES,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_SESSION_IDLE_TIMEOUT,
    LATEST_VERSION,
    SUPPORTED_VERSIONS,
    QueueFull,
    Server,
    ServerConfig,
)

__all__ = [
    "Server",
    "ServerConfig",
    "ModernConfig",
    "ListenSupport",
    "QueueFull",
    "McpError",
    "LocalProtocolError",
    "discover_result",
    "complete_result_for_era",
    "CACHEABLE_METHODS",
    "http_status_for_error",
    "SUPPORTED_VERSIONS",
    "LATEST_VERSION",
    "LISTEN_FILTERS",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_SESSION_IDLE_TIMEOUT",
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_MAX_QUEUED_BYTES",
    "DEFAULT_MAX_LISTENS",
    "DEFAULT_MAX_LISTEN_QUEUE_BYTES",
]

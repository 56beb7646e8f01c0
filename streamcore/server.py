"""The sans-IO MCP server core, both protocol eras on one endpoint.

This is the public face of the server core: import from here, never from the
private modules behind it. See ``docs/server.md`` and ``docs/design.md``.
"""

from __future__ import annotations

from ._config import (
    DEFAULT_ENDPOINT_PATHS,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_CANCELLED,
    DEFAULT_MAX_LISTEN_QUEUE_BYTES,
    DEFAULT_MAX_LISTENS,
    DEFAULT_MAX_QUEUED_BYTES,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_MAX_STREAMS_PER_SESSION,
    DEFAULT_SESSION_IDLE_TIMEOUT,
    DEFAULT_SSE_MESSAGES_PATH,
    LISTEN_FILTERS,
    ListenSupport,
    ModernConfig,
    ServerConfig,
)
from ._endpoint import Server
from ._errors import LocalProtocolError, McpError
from ._modern import http_status_for_error
from ._results import CACHEABLE_METHODS, complete_result_for_era, discover_result, with_result_type
from ._session import QueueFull
from ._versions import ALL_VERSIONS, LATEST_LEGACY_VERSION, LEGACY_VERSIONS

#: Session-era revisions the server speaks, oldest first.
SUPPORTED_VERSIONS = LEGACY_VERSIONS
#: The newest session-era revision.
LATEST_VERSION = LATEST_LEGACY_VERSION

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
    "with_result_type",
    "http_status_for_error",
    "CACHEABLE_METHODS",
    "SUPPORTED_VERSIONS",
    "LATEST_VERSION",
    "ALL_VERSIONS",
    "LISTEN_FILTERS",
    "DEFAULT_ENDPOINT_PATHS",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_SESSION_IDLE_TIMEOUT",
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_MAX_QUEUED_BYTES",
    "DEFAULT_MAX_STREAMS_PER_SESSION",
    "DEFAULT_MAX_LISTENS",
    "DEFAULT_MAX_LISTEN_QUEUE_BYTES",
    "DEFAULT_MAX_CANCELLED",
    "DEFAULT_SSE_MESSAGES_PATH",
]

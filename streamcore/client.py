"""The sans-IO MCP client core, both protocol eras; see ``docs/client.md``.

``Client(ClientConfig(url=...))`` drives abstract HTTP exchanges (``xid``):
drain :meth:`Client.data_to_send` (:class:`HttpRequest`, :class:`HttpAbort`),
report with ``receive_response`` / ``receive_data`` / ``receive_error``, read
:meth:`Client.events`, and call :meth:`Client.handle_timer` at
:meth:`Client.get_timer`. Every time-dependent call takes ``now=``.
"""

from __future__ import annotations

from ._client import (
    DEFAULT_ERA_CACHE,
    LATEST_VERSION,
    MODERN_ERROR_CODES,
    MODERN_VERSION,
    SUBSCRIPTION_ID,
    SUPPORTED_VERSIONS,
    USE_CONFIG_TIMEOUT,
    Client,
    ClientClosed,
    ClientConfig,
    ClientError,
    ClientState,
    Closed,
    ConnectionLost,
    EraCache,
    Event,
    HttpAbort,
    HttpRequest,
    HttpStatusError,
    Initialized,
    InputRequired,
    McpError,
    RequestFailed,
    RequestResult,
    RequestTimeout,
    ServerNotification,
    ServerRequest,
    SessionExpired,
    StreamProtocolError,
    modern_error,
)

__all__ = [
    "Client",
    "ClientConfig",
    "ClientState",
    "HttpRequest",
    "HttpAbort",
    "Event",
    "Initialized",
    "SessionExpired",
    "RequestResult",
    "RequestFailed",
    "ServerRequest",
    "ServerNotification",
    "InputRequired",
    "Closed",
    "ClientError",
    "McpError",
    "HttpStatusError",
    "StreamProtocolError",
    "ConnectionLost",
    "RequestTimeout",
    "ClientClosed",
    "SUPPORTED_VERSIONS",
    "LATEST_VERSION",
    "MODERN_VERSION",
    "EraCache",
    "DEFAULT_ERA_CACHE",
    "MODERN_ERROR_CODES",
    "SUBSCRIPTION_ID",
    "USE_CONFIG_TIMEOUT",
    "modern_error",
]

"""The server core's historical module name: :class:`Server` and :class:`ServerConfig`.

The code lives in :mod:`streamcore._endpoint` (head policy, era routing,
exchanges), :mod:`streamcore._session` (the session era),
:mod:`streamcore._modern` (the per-request era) and :mod:`streamcore._toolkit`
(what they share); import the public face :mod:`streamcore.server`.
"""

from __future__ import annotations

from ._config import (
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_QUEUED_BYTES,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_MAX_STREAMS_PER_SESSION,
    DEFAULT_SESSION_IDLE_TIMEOUT,
    ServerConfig,
)
from ._endpoint import Server
from ._session import QueueFull
from ._versions import LATEST_LEGACY_VERSION as LATEST_VERSION
from ._versions import LEGACY_VERSIONS as SUPPORTED_VERSIONS

__all__ = [
    "Server",
    "ServerConfig",
    "QueueFull",
    "SUPPORTED_VERSIONS",
    "LATEST_VERSION",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_SESSION_IDLE_TIMEOUT",
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_MAX_QUEUED_BYTES",
    "DEFAULT_MAX_STREAMS_PER_SESSION",
]

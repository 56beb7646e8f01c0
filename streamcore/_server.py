"""The server core's historical module name, kept for code that imports it.

The code lives in :mod:`streamcore._endpoint` (head policy, era routing,
exchanges), :mod:`streamcore._session` (the session era),
:mod:`streamcore._modern` (the per-request era) and :mod:`streamcore._toolkit`
(what they share); import the public face :mod:`streamcore.server`.
"""

from __future__ import annotations

from ._config import ServerConfig
from ._endpoint import Server
from ._session import QueueFull
from ._versions import LATEST_LEGACY_VERSION as LATEST_VERSION
from ._versions import LEGACY_VERSIONS as SUPPORTED_VERSIONS

__all__ = ["Server", "ServerConfig", "QueueFull", "SUPPORTED_VERSIONS", "LATEST_VERSION"]

"""Every event the sans-IO server core emits or takes (see ``streamcore._events``' docstring)."""

from __future__ import annotations

from ._events import *  # noqa: F403 - the public face re-exports exactly the private module's __all__
from ._events import __all__ as __all__  # noqa: PLC0414

"""The event store interface (resumable streams) and the bounded memory store.

The names are those of ``streamcore._store.__all__``.
"""

from __future__ import annotations

from ._store import *  # noqa: F403 - the public face re-exports exactly the private module's __all__
from ._store import __all__ as __all__  # noqa: PLC0414

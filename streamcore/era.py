"""The era classifier: which protocol era a POST belongs to, for gateways and servers.

A pure function of the request; see ``docs/eras.md``. The names are those of
``streamcore._era.__all__``.
"""

from __future__ import annotations

from ._era import *  # noqa: F403 - the public face re-exports exactly the private module's __all__
from ._era import __all__ as __all__  # noqa: PLC0414

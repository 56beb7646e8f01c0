"""Multi-round-trip requests (SEP-2322, protocol 2026-07-28): the server's half, sans-IO.

This is the public face of :mod:`streamcore._mrtr`: sealing and opening
``requestState`` (:class:`StateSealer`), one round of a request
(:class:`InputRound`), and the ``InputRequiredResult`` a handler that needs
client input answers with. The asyncio adapter uses it behind
``RequestContext.request``; see ``docs/conformance.md`` ("Asking the client
for input").
"""

from __future__ import annotations

from ._mrtr import (
    DEFAULT_MAX_STATE_BYTES,
    DEFAULT_STATE_TTL,
    INPUT_CAPABILITIES,
    MIN_KEY_BYTES,
    MRTR_METHODS,
    InputRequest,
    InputRequired,
    InputRound,
    InvalidInputResponse,
    StateSealer,
)

__all__ = [
    "StateSealer",
    "InputRound",
    "InputRequest",
    "InputRequired",
    "InvalidInputResponse",
    "MRTR_METHODS",
    "INPUT_CAPABILITIES",
    "DEFAULT_MAX_STATE_BYTES",
    "DEFAULT_STATE_TTL",
    "MIN_KEY_BYTES",
]

"""The event store interface (resumable streams) and the bounded memory store."""

from __future__ import annotations

from ._store import (
    DEFAULT_STORE_MAX_BYTES,
    DEFAULT_STORE_MAX_EVENTS,
    DEFAULT_STORE_TTL,
    EventStore,
    MemoryEventStore,
)

__all__ = [
    "EventStore",
    "MemoryEventStore",
    "DEFAULT_STORE_MAX_BYTES",
    "DEFAULT_STORE_MAX_EVENTS",
    "DEFAULT_STORE_TTL",
]

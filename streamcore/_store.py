"""Event stores: what makes SSE streams resumable (R1-R3, spec section 2.8).

The server core appends every message it sends on a stream; a GET with
``Last-Event-ID`` replays what followed that event **on that stream of that
session only** (SRV-RESUME-06, SEC-12). An event store never sees other
sessions' keys because the core always passes the session id it resolved
itself from ``Mcp-Session-Id`` (and the caller's identity).

Stores are synchronous and take ``now`` as an argument, like the rest of the
core: no clock, no I/O. A networked store (Redis) sits behind an adapter that
keeps a local write-through window.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

__all__ = [
    "EventStore",
    "MemoryEventStore",
    "DEFAULT_STORE_MAX_BYTES",
    "DEFAULT_STORE_MAX_EVENTS",
    "DEFAULT_STORE_TTL",
]

#: 64 MiB of payload across all sessions: a few seconds of a busy server's
#: output, enough to ride out a reconnect, small next to the process.
DEFAULT_STORE_MAX_BYTES = 64 * 1024 * 1024
#: Event count cap, so tiny events cannot exhaust memory through overhead.
DEFAULT_STORE_MAX_EVENTS = 100_000
#: Seconds an event stays replayable. The SDKs' in-memory stores keep events
#: for the session's life; we bound it, since a client that has been away
#: five minutes re-initializes anyway.
DEFAULT_STORE_TTL = 300.0


class EventStore(Protocol):
    """What the server core needs from an event store."""

    def append(self, session_id: str, stream: str, seq: int, data: bytes, now: float) -> None:
        """Keep ``data`` (one JSON-RPC message) as event ``seq`` of ``stream``."""

    def replay_after(
        self, session_id: str, stream: str, seq: int, now: float
    ) -> list[tuple[int, bytes]] | None:
        """The events of ``stream`` after ``seq``, oldest first.

        ``None`` means the store can no longer give *all* of them (some were
        purged): a gap must never be replayed as if it were complete.
        """

    def drop_session(self, session_id: str) -> None:
        """Forget every event of the session."""


class _Log:
    __slots__ = ("events", "first_kept")

    def __init__(self) -> None:
        self.events: deque[tuple[int, bytes, float]] = deque()
        # Sequence numbers below this were purged (or never stored).
        self.first_kept = 0


class MemoryEventStore:
    """A bounded in-memory store: byte cap, event cap and TTL, oldest evicted first."""

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_STORE_MAX_BYTES,
        max_events: int = DEFAULT_STORE_MAX_EVENTS,
        ttl: float = DEFAULT_STORE_TTL,
    ) -> None:
        if max_bytes < 0 or max_events < 0 or ttl < 0:
            raise ValueError("store limits must be >= 0")
        self.max_bytes = max_bytes
        self.max_events = max_events
        self.ttl = ttl
        self._logs: dict[tuple[str, str], _Log] = {}
        # Global arrival order, for eviction. Entries of dropped sessions are
        # skipped lazily: their log is gone or restarted (first_kept moved).
        self._order: deque[tuple[tuple[str, str], int, int, float]] = deque()
        self._bytes = 0
        self._count = 0

    @property
    def size(self) -> tuple[int, int]:
        """(events, bytes) currently held."""
        return self._count, self._bytes

    def append(self, session_id: str, stream: str, seq: int, data: bytes, now: float) -> None:
        key = (session_id, stream)
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = _Log()
            log.first_kept = seq
        if len(data) > self.max_bytes or self.max_events == 0:
            # Cannot be kept at all: record the gap so replay says "purged".
            log.events.clear()
            log.first_kept = seq + 1
            return
        log.events.append((seq, data, now))
        self._order.append((key, seq, len(data), now))
        self._bytes += len(data)
        self._count += 1
        self._evict(now)

    def _evict(self, now: float) -> None:
        order = self._order
        deadline = now - self.ttl
        while order and (
            self._bytes > self.max_bytes or self._count > self.max_events or order[0][3] < deadline
        ):
            key, seq, size, _t = order.popleft()
            log = self._logs.get(key)
            if log is None or not log.events or log.events[0][0] != seq:
                continue  # dropped with its session
            log.events.popleft()
            log.first_kept = seq + 1
            self._bytes -= size
            self._count -= 1

    def replay_after(
        self, session_id: str, stream: str, seq: int, now: float
    ) -> list[tuple[int, bytes]] | None:
        self._evict(now)
        log = self._logs.get((session_id, stream))
        if log is None:
            return None
        if seq + 1 < log.first_kept:
            return None  # some of what followed `seq` is gone
        return [(s, d) for s, d, _t in log.events if s > seq]

    def drop_session(self, session_id: str) -> None:
        for key in [k for k in self._logs if k[0] == session_id]:
            log = self._logs.pop(key)
            for _s, d, _t in log.events:
                self._bytes -= len(d)
                self._count -= 1

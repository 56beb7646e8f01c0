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

from array import array
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
    """The events of one stream that are still kept, oldest first.

    Compact on purpose (issue 15): the sequence numbers sit in an
    ``array('q')`` (8 bytes each, no int objects), the payloads in a list,
    and a ``head`` index replaces popping from the front (a deque costs a
    512-byte block even for the one or two events a POST stream holds).
    """

    __slots__ = ("seqs", "datas", "head", "first_kept", "stale", "owner", "key")

    def __init__(self, owner: dict[str, "_Log | int"], key: str, first_kept: int) -> None:
        self.seqs = array("q")
        self.datas: list[bytes | None] = []
        self.head = 0  # index of the oldest event still kept
        # Sequence numbers below this were purged (or never stored).
        self.first_kept = first_kept
        # Entries of the global order that no longer name a kept event of this
        # log (cleared, or the session dropped): eviction skips that many.
        self.stale = 0
        self.owner = owner  # the session's table of streams, which holds this log
        self.key = key

    def live(self) -> int:
        return len(self.datas) - self.head

    def clear(self) -> int:
        """Forget every event; returns their payload bytes."""
        gone = sum(len(d) for d in self.datas[self.head:] if d is not None)
        self.stale += self.live()
        self.seqs = array("q")
        self.datas = []
        self.head = 0
        return gone


#: Purged streams remembered (their ``first_kept``): at least this many, or an
#: eighth of ``max_events``, so that a client that saw every event of a stream
#: whose events all expired can still resume it; older ones are forgotten
#: (then a resume gets "gone", the safe answer).
_MIN_PURGED = 1024


class MemoryEventStore:
    """A bounded in-memory store: byte cap, event cap and TTL, oldest evicted first.

    Memory is bounded by the caps, whatever the traffic: each event costs its
    payload plus about 60 bytes (``benches/e2e/store_bytes.py``), a stream
    whose events were all evicted is forgotten (remembering only where it
    stopped, in a bounded table), and dropping a session costs its own streams
    only.
    """

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
        # session id -> stream -> its log, or (an int) the first_kept of a
        # stream whose events were all evicted
        self._sessions: dict[str, dict[str, _Log | int]] = {}
        # Global arrival order, for eviction: the log of each event and its
        # time, as parallel sequences read from _ohead on (compacted now and
        # then, never popped from the front).
        self._olog: list[_Log | None] = []
        self._otime = array("d")
        self._ohead = 0
        # Purged streams in the order they were purged, for the bound.
        self._purged: deque[tuple[dict[str, _Log | int], str]] = deque()
        self._bytes = 0
        self._count = 0

    @property
    def size(self) -> tuple[int, int]:
        """(events, bytes) currently held."""
        return self._count, self._bytes

    def append(self, session_id: str, stream: str, seq: int, data: bytes, now: float) -> None:
        streams = self._sessions.get(session_id)
        if streams is None:
            streams = self._sessions[session_id] = {}
        log = streams.get(stream)
        if not isinstance(log, _Log):
            log = streams[stream] = _Log(streams, stream, seq if log is None else min(log, seq))
        if len(data) > self.max_bytes or self.max_events == 0:
            # Cannot be kept at all: record the gap so replay says "purged".
            self._count -= log.live()
            self._bytes -= log.clear()
            log.first_kept = seq + 1
            return
        log.seqs.append(seq)
        log.datas.append(data)
        self._olog.append(log)
        self._otime.append(now)
        self._bytes += len(data)
        self._count += 1
        self._evict(now)

    def _evict(self, now: float) -> None:
        olog, otime = self._olog, self._otime
        h, n = self._ohead, len(olog)
        deadline = now - self.ttl
        while h < n and (self._bytes > self.max_bytes or self._count > self.max_events or otime[h] < deadline):
            log = olog[h]
            olog[h] = None
            h += 1
            assert log is not None
            if log.stale:
                log.stale -= 1  # its event was cleared, or its session dropped
                continue
            i = log.head
            data = log.datas[i]
            log.datas[i] = None
            log.head = i + 1
            log.first_kept = log.seqs[i] + 1
            self._bytes -= len(data) if data is not None else 0
            self._count -= 1
            if log.head == len(log.datas):
                self._purge(log)
            elif log.head > 32 and 2 * log.head > len(log.datas):  # amortised O(1) per event
                del log.datas[:log.head]
                del log.seqs[:log.head]
                log.head = 0
        if h > 1024 and 2 * h > n:  # compact the order: amortised O(1) per event
            del olog[:h]
            del otime[:h]
            h = 0
        self._ohead = h

    def _purge(self, log: _Log) -> None:
        """Every event of ``log`` is gone: forget it, keeping where it stopped (bounded)."""
        owner = log.owner
        if owner.get(log.key) is log:
            owner[log.key] = log.first_kept
            purged = self._purged
            purged.append((owner, log.key))
            while len(purged) > max(self.max_events // 8, _MIN_PURGED):
                d, k = purged.popleft()
                if isinstance(d.get(k), int):
                    del d[k]
        log.seqs = array("q")
        log.datas = []
        log.head = 0

    def replay_after(
        self, session_id: str, stream: str, seq: int, now: float
    ) -> list[tuple[int, bytes]] | None:
        self._evict(now)
        streams = self._sessions.get(session_id)
        log = streams.get(stream) if streams is not None else None
        if log is None:
            return None
        if isinstance(log, int):  # every event of the stream was evicted
            return [] if seq + 1 >= log else None
        if seq + 1 < log.first_kept:
            return None  # some of what followed `seq` is gone
        seqs, datas = log.seqs, log.datas
        return [(seqs[i], d) for i in range(log.head, len(datas)) if seqs[i] > seq and (d := datas[i]) is not None]

    def drop_session(self, session_id: str) -> None:
        streams = self._sessions.pop(session_id, None)
        if streams is None:
            return
        for log in streams.values():
            if isinstance(log, _Log):
                self._count -= log.live()
                self._bytes -= log.clear()

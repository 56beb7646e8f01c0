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


# A stream's log is an array('q'): [first_kept, stale, head, seq, pos, seq, pos, ...].
# first_kept: sequence numbers below it were purged (or never stored); stale:
# entries of the global order that no longer name a kept event of this log
# (cleared for an oversized event), which eviction skips; head: the index of
# the oldest kept (seq, pos) pair; pos: the event's global position, whose
# payload and time are in the store's order lists. The cyclic garbage
# collector walks every tracked object on a full collection, and those pauses
# set the p99 under load (issue 15): the old store tracked three objects per
# event or stream (a deque, a log object, tuples); this one tracks one array
# per stream and nothing per event (payloads are bytes, times and seqs sit in
# arrays), and allocates nothing tracked per event, so gen-0 collections are
# rarer too.
_FIRST, _STALE, _HEAD, _PAIRS = 0, 1, 2, 3

#: Purged streams remembered (their ``first_kept``): at least this many, or an
#: eighth of ``max_events``, so that a client that saw every event of a stream
#: whose events all expired can still resume it; older ones are forgotten
#: (then a resume gets "gone", the safe answer).
_MIN_PURGED = 1024


class MemoryEventStore:
    """A bounded in-memory store: byte cap, event cap and TTL, oldest evicted first.

    Memory is bounded by the caps whatever the traffic: each event costs its
    payload plus about 60 bytes (``benches/e2e/store_bytes.py``); a stream
    whose events were all evicted is forgotten but for where it stopped (in a
    bounded table); dropping a session costs that session's streams only.
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
        # session id -> stream -> its log (above), or, as an int, the
        # first_kept of a stream whose events were all evicted
        self._sessions: dict[str, dict[str, array[int] | int]] = {}
        # The global arrival order, for eviction: per event its session's
        # streams, its stream, its payload and its time. Read from _ohead on;
        # compacted now and then rather than popped from the front.
        self._osess: list[dict[str, array[int] | int] | None] = []
        self._okey: list[str | None] = []
        self._odata: list[bytes | None] = []
        self._otime = array("d")
        self._ohead = 0
        self._obase = 0  # the global position of index 0 of the order lists
        # Purged streams in the order they were purged, for the bound.
        self._purged: deque[tuple[dict[str, array[int] | int], str]] = deque()
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
        if not isinstance(log, array):
            log = streams[stream] = array("q", (seq if log is None else min(log, seq), 0, _PAIRS))
        if len(data) > self.max_bytes or self.max_events == 0:
            # Cannot be kept at all: record the gap so replay says "purged".
            self._clear(log)
            log[_FIRST] = seq + 1
            return
        log.append(seq)
        log.append(self._obase + len(self._odata))
        self._osess.append(streams)
        self._okey.append(stream)
        self._odata.append(data)
        self._otime.append(now)
        self._bytes += len(data)
        self._count += 1
        self._evict(now)

    def _clear(self, log: array[int]) -> None:
        """Forget every kept event of ``log`` now (their order entries become stale)."""
        odata, base = self._odata, self._obase
        for i in range(log[_HEAD] + 1, len(log), 2):
            j = log[i] - base
            data = odata[j]
            odata[j] = None
            self._bytes -= len(data) if data is not None else 0
            self._count -= 1
            log[_STALE] += 1
        del log[_PAIRS:]
        log[_HEAD] = _PAIRS

    def _evict(self, now: float) -> None:
        osess, okey, odata, otime = self._osess, self._okey, self._odata, self._otime
        h, n = self._ohead, len(odata)
        deadline = now - self.ttl
        while h < n and (self._bytes > self.max_bytes or self._count > self.max_events or otime[h] < deadline):
            streams, key, data = osess[h], okey[h], odata[h]
            osess[h] = okey[h] = odata[h] = None
            h += 1
            log = streams.get(key) if streams is not None and key is not None else None
            if not isinstance(log, array):
                continue  # its session was dropped
            if log[_STALE]:
                log[_STALE] -= 1  # its event was cleared already
            else:
                i = log[_HEAD]
                log[_FIRST] = log[i] + 1
                log[_HEAD] = i + 2
                self._bytes -= len(data) if data is not None else 0
                self._count -= 1
            if log[_HEAD] == len(log) and not log[_STALE]:
                self._purge(streams, key, log[_FIRST])  # type: ignore[arg-type]
            elif log[_HEAD] > 64 and 2 * log[_HEAD] > len(log):  # amortised O(1) per event
                del log[_PAIRS:log[_HEAD]]
                log[_HEAD] = _PAIRS
        if h > 1024 and 2 * h > n:  # compact the order: amortised O(1) per event
            del osess[:h], okey[:h], odata[:h], otime[:h]
            self._obase += h
            h = 0
        self._ohead = h

    def _purge(self, streams: dict[str, array[int] | int], key: str, first_kept: int) -> None:
        """Every event of a stream is gone: forget it but where it stopped (bounded)."""
        streams[key] = first_kept
        purged = self._purged
        purged.append((streams, key))
        while len(purged) > max(self.max_events // 8, _MIN_PURGED):
            d, k = purged.popleft()
            if isinstance(d.get(k), int):
                del d[k]

    def _set_first_kept(self, session_id: str, stream: str, first_kept: int, *, exact: bool = False) -> None:
        """Say that the stream's events below ``first_kept`` are gone (raise it, or set it
        with ``exact``), so a replay from before it answers "gone", never a gap.

        For ``streamcore.redis``, which loads an adopted stream's stored events here."""
        streams = self._sessions.setdefault(session_id, {})
        log = streams.get(stream)
        if isinstance(log, array):
            if exact or first_kept > log[_FIRST]:
                log[_FIRST] = first_kept
        else:
            streams[stream] = first_kept if log is None or exact else max(log, first_kept)

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
        if seq + 1 < log[_FIRST]:
            return None  # some of what followed `seq` is gone
        odata, base = self._odata, self._obase
        out: list[tuple[int, bytes]] = []
        for i in range(log[_HEAD], len(log), 2):
            if log[i] > seq:
                data = odata[log[i + 1] - base]
                if data is not None:
                    out.append((log[i], data))
        return out

    def drop_session(self, session_id: str) -> None:
        streams = self._sessions.pop(session_id, None)
        if streams is None:
            return
        for log in streams.values():
            if isinstance(log, array):
                self._clear(log)
        streams.clear()  # its entries in the order are skipped: their stream is gone

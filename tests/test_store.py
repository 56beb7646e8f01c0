"""The memory event store (streamcore.store.MemoryEventStore): its caps at the
boundary, eviction order, gaps, dropped sessions, and bounded memory whatever
the traffic (issue 15: compact per-event storage). Resumability: R1-R3,
SRV-RESUME-05, SRV-RESUME-06."""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from streamcore.store import MemoryEventStore


def test_event_cap_boundary() -> None:
    """max_events events are kept; one more evicts the oldest, and replay then reports the gap."""
    s = MemoryEventStore(max_events=3)
    for i in (1, 2, 3):
        s.append("s", "1", i, b"e%d" % i, 0.0)
    assert s.size == (3, 6)
    assert s.replay_after("s", "1", 0, 0.0) == [(1, b"e1"), (2, b"e2"), (3, b"e3")]
    s.append("s", "1", 4, b"e4", 0.0)
    assert s.size == (3, 6)
    assert s.replay_after("s", "1", 0, 0.0) is None  # event 1 is gone: not complete
    assert s.replay_after("s", "1", 1, 0.0) == [(2, b"e2"), (3, b"e3"), (4, b"e4")]


def test_byte_cap_boundary() -> None:
    """Exactly max_bytes of payload is kept; one byte more evicts the oldest event."""
    s = MemoryEventStore(max_bytes=10)
    s.append("s", "1", 1, b"x" * 5, 0.0)
    s.append("s", "1", 2, b"y" * 5, 0.0)
    assert s.size == (2, 10)
    s.append("s", "1", 3, b"z", 0.0)
    assert s.size == (2, 6)
    assert s.replay_after("s", "1", 1, 0.0) == [(2, b"y" * 5), (3, b"z")]


def test_ttl_boundary() -> None:
    """An event is replayable until ttl seconds have passed, then evicted."""
    s = MemoryEventStore(ttl=10.0)
    s.append("s", "1", 1, b"a", 100.0)
    assert s.replay_after("s", "1", 0, 110.0) == [(1, b"a")]
    assert s.replay_after("s", "1", 0, 110.5) is None
    assert s.size == (0, 0)


def test_oversized_event_leaves_a_gap_and_the_counts_right() -> None:
    """An event larger than max_bytes cannot be kept: the stream's earlier events are
    forgotten with it (replay reports the gap), and the held size says so."""
    s = MemoryEventStore(max_bytes=8)
    s.append("s", "1", 1, b"abc", 0.0)
    s.append("s", "1", 2, b"x" * 9, 0.0)
    assert s.size == (0, 0)
    assert s.replay_after("s", "1", 0, 0.0) is None
    s.append("s", "1", 3, b"def", 0.0)
    assert s.replay_after("s", "1", 2, 0.0) == [(3, b"def")]
    s.append("s", "2", 1, b"12345678", 0.0)  # the cap is still all free for others
    assert s.size == (1, 8)


def test_drop_session_forgets_only_its_own() -> None:
    """SRV-RESUME-06: dropping a session leaves the others' events, and eviction then
    skips the dropped ones without miscounting."""
    s = MemoryEventStore(max_events=4)
    s.append("a", "1", 1, b"a1", 0.0)
    s.append("b", "1", 1, b"b1", 0.0)
    s.append("a", "1", 2, b"a2", 0.0)
    s.drop_session("a")
    assert s.size == (1, 2)
    assert s.replay_after("a", "1", 0, 0.0) is None
    for i in range(2, 6):
        s.append("b", "1", i, b"b%d" % i, 0.0)
    assert s.size == (4, 8)
    assert s.replay_after("b", "1", 1, 0.0) == [(i, b"b%d" % i) for i in range(2, 6)]
    s.drop_session("nobody")  # harmless


def test_fully_evicted_stream_still_resumes_from_its_last_event() -> None:
    """A client that saw every event of a stream whose events have all expired resumes
    with nothing to replay; one that missed some gets the gap."""
    s = MemoryEventStore(ttl=1.0)
    s.append("s", "0", 1, b"a", 0.0)
    s.append("s", "0", 2, b"b", 0.0)
    assert s.replay_after("s", "0", 2, 5.0) == []
    assert s.replay_after("s", "0", 1, 5.0) is None
    s.append("s", "0", 3, b"c", 5.0)  # the stream goes on
    assert s.replay_after("s", "0", 2, 5.0) == [(3, b"c")]


def test_memory_is_bounded_under_endless_streams() -> None:
    """One POST stream per request for ever (the e2e load with a store): memory stays
    bounded by the event cap, and so do the store's tables."""
    s = MemoryEventStore(max_events=1000)
    reply = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello, world"}]}}'
    tracemalloc.start()
    try:
        sizes = []
        for rnd in range(3):
            for i in range(rnd * 2500, (rnd + 1) * 2500):
                s.append("s", str(i), 1, b"", 0.0)
                s.append("s", str(i), 2, bytes(reply), 0.0)
            sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert s.size[0] == 1000
    assert sizes[-1] < sizes[0] * 1.2, sizes  # no growth once the cap is reached
    assert sizes[-1] / 1000 < 1200, sizes  # about 330 bytes per event (benches/e2e/store_bytes.py)
    assert len(s._sessions["s"]) <= 500 + 1024 + 1  # live streams, plus the bounded purged table


class _Reference:
    """The simplest store with the same caps: every event in one list, oldest first."""

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.events: list[tuple[str, str, int, bytes]] = []
        self.gone: dict[tuple[str, str], int] = {}  # first_kept per stream
        self.max_events, self.max_bytes = max_events, max_bytes

    def append(self, sid: str, stream: str, seq: int, data: bytes) -> None:
        key = (sid, stream)
        self.gone.setdefault(key, seq)
        if len(data) > self.max_bytes or self.max_events == 0:
            self.events = [e for e in self.events if (e[0], e[1]) != key]
            self.gone[key] = seq + 1
            return
        self.events.append((sid, stream, seq, data))
        while len(self.events) > self.max_events or sum(len(e[3]) for e in self.events) > self.max_bytes:
            sid_, st_, seq_, _ = self.events.pop(0)
            self.gone[(sid_, st_)] = seq_ + 1

    def replay_after(self, sid: str, stream: str, seq: int) -> list[tuple[int, bytes]] | None:
        key = (sid, stream)
        if key not in self.gone or seq + 1 < self.gone[key]:
            return None
        return [(q, d) for s, t, q, d in self.events if (s, t) == key and q > seq]

    def drop(self, sid: str) -> None:
        self.events = [e for e in self.events if e[0] != sid]
        for k in [k for k in self.gone if k[0] == sid]:
            del self.gone[k]


_OPS = st.lists(st.one_of(
    st.tuples(st.just("append"), st.sampled_from("ab"), st.sampled_from("012"), st.binary(max_size=6)),
    st.tuples(st.just("drop"), st.sampled_from("ab")),
    st.tuples(st.just("replay"), st.sampled_from("ab"), st.sampled_from("012"), st.integers(0, 12)),
), max_size=60)


@settings(max_examples=200, deadline=None)
@given(_OPS, st.integers(0, 6), st.integers(0, 20))
def test_agrees_with_a_reference_model(ops: list[tuple], max_events: int, max_bytes: int) -> None:
    """Random appends (consecutive seqs per stream), drops and replays: the same answers
    as a store that keeps one plain list, as long as that one still knows the stream."""
    s = MemoryEventStore(max_events=max_events, max_bytes=max_bytes, ttl=1e9)
    ref = _Reference(max_events, max_bytes)
    seqs: dict[tuple[str, str], int] = {}
    for op in ops:
        if op[0] == "append":
            _, sid, stream, data = op
            n = seqs[(sid, stream)] = seqs.get((sid, stream), 0) + 1
            s.append(sid, stream, n, data, 0.0)
            ref.append(sid, stream, n, data)
        elif op[0] == "drop":
            s.drop_session(op[1])
            ref.drop(op[1])
            for k in [k for k in seqs if k[0] == op[1]]:
                del seqs[k]
        else:
            _, sid, stream, after = op
            assert s.replay_after(sid, stream, after, 0.0) == ref.replay_after(sid, stream, after), op
        assert s.size == (len(ref.events), sum(len(e[3]) for e in ref.events))

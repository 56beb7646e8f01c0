"""SSE codec: spec vectors SSE-01..SSE-25 and SSE-E1..SSE-E5, limits, API.

Every decoder vector runs on both twins, fed whole, one byte at a time and at
seeded random cut points (spec section 6, STYLE.md "Tests"). Property tests
live in ``test_sse_properties.py``.
"""

from __future__ import annotations

import array
import pickle
import random
import time

import pytest

from streamcore import LocalProtocolError, RemoteProtocolError
from streamcore._codecs._sse_common import SseEventBase
from streamcore._errors import SseDecodeError

CODEC = "sse"

MODES = ["whole", "bytewise", "cuts"]


def pieces(feeds: list[bytes], mode: str, seed: int = 0) -> list[bytes]:
    """Re-split a list of reads: as given, joined whole, per byte, or at random cuts."""
    data = b"".join(feeds)
    if mode == "given":
        return feeds
    if mode == "whole":
        return [data]
    if mode == "bytewise":
        return [data[i : i + 1] for i in range(len(data))]
    rnd = random.Random(seed)
    cuts = sorted(rnd.randrange(len(data) + 1) for _ in range(rnd.randrange(1, 6)))
    out, prev = [], 0
    for c in cuts + [len(data)]:
        out.append(data[prev:c])
        prev = c
    return out


def decode(impl, feeds, mode="given", seed=0, **kw):
    """Feed the pieces and close; return (event tuples, decoder)."""
    dec = impl.SseDecoder(**kw)
    evs = []
    for p in pieces(feeds, mode, seed):
        evs += dec.feed(p)
    evs += dec.close()
    return [(e.event, e.data, e.id) for e in evs], dec


# Each vector: a list of streams; each stream is (reads, events, last_event_id, retry).
M = "message"
VECTORS = {
    "SSE-01": [([b"data: hello\n\n"], [(M, "hello", "")], "", None)],
    "SSE-02": [([b"data: YHOO\ndata: +2\ndata: 10\n\n"], [(M, "YHOO\n+2\n10", "")], "", None)],
    "SSE-03": [([b"event: add\ndata: 1\n\ndata: 2\n\n"], [("add", "1", ""), (M, "2", "")], "", None)],
    "SSE-04": [([b"event: feed\r\nid: 7\r\ndata: hello\r\n\r\n"], [("feed", "hello", "7")], "7", None)],
    "SSE-05": [([b"data: a\rdata: b\r\r"], [(M, "a\nb", "")], "", None)],
    "SSE-06": [([b"data:1\r\ndata:2\ndata:3\r\r\n"], [(M, "1\n2\n3", "")], "", None)],
    "SSE-07": [([b"data: a\r", b"\ndata: b\n\n"], [(M, "a\nb", "")], "", None)],
    "SSE-08": [
        (
            [b"data:1\r:\x00\n:\r\ndata:2\n:xxxx\rdata:3\n:data:fail\r:xxxx\ndata:4\n\n"],
            [(M, "1\n2\n3\n4", "")],
            "",
            None,
        )
    ],
    "SSE-09": [
        (
            [b"data:test\n\ndata: test\n\ndata:  x\n\ndata:\tx\n\n"],
            [(M, "test", ""), (M, "test", ""), (M, " x", ""), (M, "\tx", "")],
            "",
            None,
        )
    ],
    "SSE-10": [
        (
            [b"data\n\ndata:\n\ndata\ndata\n\ndata: a\ndata:\n\n"],
            [(M, "", ""), (M, "", ""), (M, "\n", ""), (M, "a\n", "")],
            "",
            None,
        )
    ],
    "SSE-11": [([b"event: foo\n\ndata: x\n\n"], [(M, "x", "")], "", None)],
    "SSE-12": [
        ([b"event:\ndata: x\n\nevent: Message\ndata: y\n\n"], [(M, "x", ""), ("Message", "y", "")], "", None)
    ],
    "SSE-13": [([b"id: 1\ndata: a\n\ndata: b\n\n"], [(M, "a", "1"), (M, "b", "1")], "1", None)],
    "SSE-14": [
        (
            [b"id: 1\ndata: a\n\nid: 4\x002\ndata: b\n\nid\ndata: c\n\n"],
            [(M, "a", "1"), (M, "b", "1"), (M, "c", "")],
            "",
            None,
        )
    ],
    "SSE-15": [([b"id: 42\n\n"], [], "42", None), ([b"id: 42\n\n", b"id: 43\n"], [], "42", None)],
    "SSE-16": [([b"id: s1-0\nretry: 3000\ndata: \n\n"], [(M, "", "s1-0")], "s1-0", 3000)],
    "SSE-17": [([b"retry: 0\nretry: 007\ndata: x\n\n"], [(M, "x", "")], "", 7)],
    "SSE-18": [
        (
            [
                b"retry: 2000\nretry: 1000x\nretry: +5\nretry: -1\nretry: 1.5\nretry:  100\n"
                b"retry:\nretry: 1 0\ndata: x\n\n"
            ],
            [(M, "x", "")],
            "",
            2000,
        )
    ],
    "SSE-19": [([b"retry: 1500\n"], [], "", 1500)],
    "SSE-20": [
        (
            [b"Data: x\nDATA: y\ndata : z\n data: w\nfoo: bar\ndata: a:b:c\ndata::d\n\n"],
            [(M, "a:b:c\n:d", "")],
            "",
            None,
        )
    ],
    "SSE-21": [([bytes([b]) for b in b"\xef\xbb\xbfdata: 1\n\n"], [(M, "1", "")], "", None)],
    "SSE-22": [([b"\xef\xbb\xbf\xef\xbb\xbfdata: 1\n\ndata: 2\n\n"], [(M, "2", "")], "", None)],
    "SSE-23": [([b"data: 1\n\n\xef\xbb\xbfdata: 2\n\n"], [(M, "1", "")], "", None)],
    "SSE-24": [([b"data: a\n\ndata: trunc"], [(M, "a", "")], "", None), ([b"data: tail\n"], [], "", None)],
    "SSE-25": [
        ([b"data:\x00\n\n"], [(M, "\x00", "")], "", None),
        ([b"data: \xff\n\n"], [(M, "\ufffd", "")], "", None),
        ([b"data: \xc3", b"\xa9\n\n"], [(M, "\u00e9", "")], "", None),
    ],
}


@pytest.mark.parametrize("mode", ["given"] + MODES)
@pytest.mark.parametrize("vid", sorted(VECTORS))
def test_decoder_vectors(impl, vid, mode):
    """SSE-01..SSE-25: each vector gives the listed events, last event id and retry, however split."""
    for n, (feeds, want, last_id, retry) in enumerate(VECTORS[vid]):
        got, dec = decode(impl, feeds, mode, seed=sum(vid.encode()) * 7 + n)
        assert got == want, (vid, n, mode)
        assert dec.last_event_id == last_id
        assert dec.retry == retry


def test_cr_dispatches_without_waiting(impl):
    """SSE-05: a CR ends the line at once, so ``\\r\\r`` dispatches within the same feed."""
    dec = impl.SseDecoder()
    assert [e.data for e in dec.feed(b"data: a\rdata: b\r\r")] == ["a\nb"]


def test_crlf_split_across_feeds_is_one_terminator(impl):
    """SSE-07: the LF completing a CRLF in the next read is dropped, not a blank line."""
    dec = impl.SseDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"") == []  # an empty read does not forget the pending CR
    assert [e.data for e in dec.feed(b"\ndata: b\n\n")] == ["a\nb"]
    # only one LF is dropped: a second one is a blank line that dispatches
    assert dec.feed(b"data: c\r") == []
    assert [e.data for e in dec.feed(b"\n\n")] == ["c"]


def test_fields_act_when_their_line_completes(impl):
    """SSE-19, SSE-15: retry acts before any dispatch; id only through a dispatch."""
    dec = impl.SseDecoder()
    dec.feed(b"retry: 1500\nid: 9\n")
    assert dec.retry == 1500
    assert dec.last_event_id == ""
    dec.feed(b"\n")
    assert dec.last_event_id == "9"


def test_event_retry_is_the_blocks_own(impl):
    """SSE-16: an event carries the retry set in its block; the next event carries None."""
    dec = impl.SseDecoder()
    evs = dec.feed(b"id: s1-0\nretry: 3000\ndata: \n\ndata: x\n\nretry: 5\n\ndata: y\n\n")
    assert [(e.data, e.id, e.retry) for e in evs] == [("", "s1-0", 3000), ("x", "s1-0", None), ("y", "s1-0", None)]
    assert dec.retry == 5


def test_retry_overflow_is_ignored(impl):
    """SSE-18 (policy): a retry above 2**64-1 is ignored as malformed (MAX_RETRY); leading zeros don't count."""
    dec = impl.SseDecoder()
    dec.feed(b"retry: 18446744073709551615\n")
    assert dec.retry == 2**64 - 1 == impl.MAX_RETRY
    dec.feed(b"retry: 18446744073709551616\nretry: " + b"9" * 5000 + b"\n")
    assert dec.retry == 2**64 - 1
    dec.feed(b"retry: " + b"0" * 5000 + b"12\n")
    assert dec.retry == 12


def test_close_discards_pending_and_dispatches_nothing(impl):
    """SSE-24: close() drops the partial line and the half-built event; the decoder can go on."""
    dec = impl.SseDecoder()
    assert dec.feed(b"id: 3\ndata: a\nevent: e\ndata: par") == []
    assert dec.close() == []
    assert dec.last_event_id == ""
    assert [(e.event, e.data, e.id) for e in dec.feed(b"data: b\n\n")] == [(M, "b", "3")]


def test_bom_prefix_that_is_not_a_bom(impl):
    """SSE-21..23: a partial BOM followed by other bytes is content (decoded as WHATWG UTF-8 does)."""
    for feeds, want in [
        ([b"\xef", b"\xbbdata: 1\n\n"], []),  # field name "\ufffddata": unknown
        ([b"\xef\xbb", b"\n", b"data: 1\n\n"], [(M, "1", "")]),
        ([b"\xef\xbb\xbf", b"\xef\xbb\xbf"], []),
        ([b"\xef"], []),
    ]:
        for mode in MODES + ["given"]:
            assert decode(impl, feeds, mode)[0] == want, (feeds, mode)
    dec = impl.SseDecoder()
    dec.feed(b"\xef\xbb")
    dec.feed(b"X")
    assert [e.event for e in dec.feed(b"\nevent: \xef\xbb\xbf\ndata:\n\n")] == ["\ufeff"]


@pytest.mark.parametrize(
    "raw",
    [b"\xf0\x80\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe0\x80\xaf",
     b"a\xf0\x9f\x98\x80b", b"\xf0\x9f\x98", b"\x80\x80", b"\xfe\xff", b"\xf8\x88\x80\x80\x80"],
)
def test_invalid_utf8_matches_whatwg(impl, raw):
    """SSE-25: malformed UTF-8 becomes U+FFFD per maximal subpart (Encoding Standard 4.1)."""
    from test_sse_properties import whatwg_utf8_decode

    got, _ = decode(impl, [b"data: " + raw + b"\n\n"], "bytewise")
    assert got == [(M, whatwg_utf8_decode(raw), "")]


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_accepts_bytes_like(impl, kind):
    """``feed`` takes bytes, bytearray and memoryview (also a sliced view and array('B'))."""
    dec = impl.SseDecoder()
    assert [e.data for e in dec.feed(kind(b"data: x\n\n"))] == ["x"]
    assert [e.data for e in dec.feed(memoryview(b"..data: y\n\n..")[2:-2])] == ["y"]
    assert [e.data for e in dec.feed(array.array("B", b"data: z\n\n"))] == ["z"]


def test_rejects_non_buffers(impl):
    """``feed`` of a str or a non-contiguous view is a TypeError (caller bug), the same on both twins."""
    dec = impl.SseDecoder()
    with pytest.raises(TypeError):
        dec.feed("data: x\n\n")
    with pytest.raises(TypeError):
        dec.feed(memoryview(b"data: x\n\n\n\n")[::2])
    assert [e.data for e in dec.feed(b"data: ok\n\n")] == ["ok"]


# -- limits ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_line_limit_boundary(impl, mode):
    """A line of exactly max_line_size bytes passes; one more byte raises SseDecodeError."""
    ok = b"data: " + b"x" * 4 + b"\r\n\r\n"  # line is 10 bytes, terminator not counted
    assert decode(impl, [ok], mode, max_line_size=10)[0] == [(M, "xxxx", "")]
    assert decode(impl, [b": " + b"c" * 8 + b"\r"], mode, max_line_size=10)[0] == []
    with pytest.raises(SseDecodeError):
        decode(impl, [b"data: " + b"x" * 5 + b"\n\n"], mode, max_line_size=10)
    with pytest.raises(SseDecodeError):
        decode(impl, [b": " + b"c" * 9 + b"\r"], mode, max_line_size=10)


@pytest.mark.parametrize("mode", MODES)
def test_unterminated_line_is_bounded(impl, mode):
    """An unterminated line fails as soon as it passes the limit, before any terminator arrives."""
    dec = impl.SseDecoder(max_line_size=10)
    for p in pieces([b"x" * 10], mode):
        dec.feed(p)  # exactly at the limit: still buffered
    with pytest.raises(SseDecodeError):
        dec.feed(b"y")
    dec = impl.SseDecoder(max_line_size=1000)
    with pytest.raises(SseDecodeError):
        for _ in range(2000):
            dec.feed(b"z")


@pytest.mark.parametrize("mode", MODES)
def test_event_limit_boundary(impl, mode):
    """Event data of exactly max_event_size bytes passes; one more raises SseDecodeError."""
    cases_ok = [
        b"data: 0123456789\n\n",
        b"data: 0123\ndata: 45678\n\n",  # 4 + LF + 5
        b"data\n" * 11 + b"\n",  # ten LFs
        b"data: \xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\n\n",  # counted as received, not decoded
    ]
    for ok in cases_ok:
        got = decode(impl, [ok], mode, max_event_size=10)[0]
        assert len(got) == 1 and len(got[0][1]) == 10
    for bad in [b"data: 0123456789A\n\n", b"data: 0123\ndata: 456789\n\n", b"data\n" * 12 + b"\n"]:
        with pytest.raises(SseDecodeError):
            decode(impl, [bad], mode, max_event_size=10)
    # the limit is per event: ten bytes in each of many events is fine
    got = decode(impl, [b"data: 0123456789\n\n" * 50], mode, max_event_size=10)[0]
    assert len(got) == 50


def test_default_limits(impl):
    """The defaults (4 MiB event, 4 MiB + len("data: ") line) admit a maximal one-line message."""
    assert impl.DEFAULT_MAX_EVENT_SIZE == 4 * 1024 * 1024
    assert impl.DEFAULT_MAX_LINE_SIZE == impl.DEFAULT_MAX_EVENT_SIZE + 6
    dec = impl.SseDecoder()
    assert (dec.max_line_size, dec.max_event_size) == (impl.DEFAULT_MAX_LINE_SIZE, impl.DEFAULT_MAX_EVENT_SIZE)
    big = b"x" * impl.DEFAULT_MAX_EVENT_SIZE
    (ev,) = dec.feed(b"data: " + big[:1000]) + dec.feed(big[1000:] + b"\n\n")
    assert len(ev.data) == impl.DEFAULT_MAX_EVENT_SIZE
    with pytest.raises(SseDecodeError):
        dec.feed(b"data: " + big + b"x\n\n")


def test_error_is_sticky(impl):
    """After a limit error every later call raises SseDecodeError (a RemoteProtocolError) again."""
    dec = impl.SseDecoder(max_line_size=4)
    with pytest.raises(SseDecodeError) as ei:
        dec.feed(b"data: x\n\n")
    assert isinstance(ei.value, RemoteProtocolError)
    assert ei.value.status_hint == 502
    with pytest.raises(SseDecodeError):
        dec.feed(b"\n")
    with pytest.raises(SseDecodeError):
        dec.close()


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10", None])
def test_limit_settings_validated(impl, bad):
    """A limit must be a positive int; anything else is a ValueError at construction."""
    with pytest.raises(ValueError):
        impl.SseDecoder(max_line_size=bad)
    with pytest.raises(ValueError):
        impl.SseDecoder(max_event_size=bad)


def test_decoder_attributes_are_read_only(impl):
    """``last_event_id``, ``retry`` and the limits can be read but not assigned."""
    dec = impl.SseDecoder(max_line_size=7, max_event_size=9)
    assert (dec.max_line_size, dec.max_event_size, dec.last_event_id, dec.retry) == (7, 9, "", None)
    for name in ("last_event_id", "retry", "max_line_size", "max_event_size"):
        with pytest.raises(AttributeError):
            setattr(dec, name, 1)


def _feed_time(impl, size, step):
    dec = impl.SseDecoder()
    chunk = b"x" * step
    t0 = time.perf_counter()
    dec.feed(b"data: ")
    for _ in range(size // step):
        dec.feed(chunk)
    (ev,) = dec.feed(b"\n\n")
    assert len(ev.data) == size
    return time.perf_counter() - t0


def test_split_line_decoding_is_linear(impl):
    """Feeding one long line in tiny reads costs O(n), not O(n^2) (spec section 6 scan work).

    Compares 8x the input in the same read size: a decoder that rescans or
    recopies its buffer per read would take ~64x as long, a linear one ~8x.
    Runs are interleaved and the minimum of each kept, so machine noise hits
    both sides; the bound (24x) leaves 3x headroom on either side.
    """
    step = 16 if impl.__name__.endswith("_py") else 2
    _feed_time(impl, 256 * 1024, step)  # warm-up: allocator, caches, CPU clock
    small, large = [], []
    for _ in range(4):
        small.append(_feed_time(impl, 256 * 1024, step))
        large.append(_feed_time(impl, 2 * 1024 * 1024, step))
    assert min(large) / min(small) < 24, (min(small), min(large))


# -- events ---------------------------------------------------------------------


def test_event_object(impl):
    """Events are immutable, hashable, picklable, equal across twins, and repr alike."""
    from streamcore._codecs import _sse_py

    (ev,) = impl.SseDecoder().feed(b"event: e\nid: 1\nretry: 5\ndata: d\n\n")
    ref = _sse_py.SseEvent("d", event="e", id="1", retry=5)
    assert ev == ref and ref == ev and not (ev != ref)
    assert hash(ev) == hash(ref)
    assert repr(ev) == repr(ref) == "SseEvent(event='e', data='d', id='1', retry=5)"
    assert isinstance(ev, SseEventBase) and type(ev) is impl.SseEvent
    assert ev != impl.SseEvent("d", event="e", id="1")
    assert ev != ("e", "d", "1", 5)
    assert pickle.loads(pickle.dumps(ev)) == ev
    assert impl.SseEvent("x") == impl.SseEvent("x", event="message", id="", retry=None)
    with pytest.raises(AttributeError):
        ev.data = "other"


# -- encoder --------------------------------------------------------------------


def test_encode_e1_line_breaks(impl):
    """SSE-E1: data is split at LF, CR and CRLF; decoding joins with LF (lossy for CR)."""
    assert impl.encode_event("a\nb") == b"data: a\ndata: b\n\n"
    out = impl.encode_event("a\r\nb\rc")
    assert out == b"data: a\ndata: b\ndata: c\n\n"
    assert [e.data for e in impl.SseDecoder().feed(out)] == ["a\nb\nc"]


def test_encode_e2_leading_space_and_trailing_break(impl):
    """SSE-E2: a leading space survives (two spaces after the colon); a trailing LF gets an empty data line."""
    assert impl.encode_event(" lead") == b"data:  lead\n\n"
    assert impl.encode_event("a\n") == b"data: a\ndata: \n\n"
    dec = impl.SseDecoder()
    assert [e.data for e in dec.feed(impl.encode_event(" lead") + impl.encode_event("a\n"))] == [" lead", "a\n"]


def test_encode_e3_empty_data_and_id_only(impl):
    """SSE-E3: empty data dispatches ""; ``data=None`` only updates the id."""
    assert impl.encode_event("", id="5") == b"id: 5\ndata: \n\n"
    assert impl.encode_event(None, id="5") == b"id: 5\n\n"
    dec = impl.SseDecoder()
    assert [(e.data, e.id) for e in dec.feed(impl.encode_event("", id="5"))] == [("", "5")]
    dec = impl.SseDecoder()
    assert dec.feed(impl.encode_event(None, id="5")) == []
    assert dec.last_event_id == "5"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"id": "a\nb"}, {"id": "a\rb"}, {"id": "a\x00b"}, {"id": b"a\nb"},
        {"event": "a\nb"}, {"event": "a\rb"}, {"event": "a\x00"},
        {"retry": -1}, {"retry": 1.5}, {"retry": "10s"}, {"retry": True}, {"retry": 2**64},
        {"id": 5}, {"event": 1.0}, {"id": "\ud800"},
    ],
)
def test_encode_e4_rejects_bad_fields(impl, kwargs):
    """SSE-E4: an id or type with CR/LF/NUL, or a bad retry, raises LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        impl.encode_event("x", **kwargs)
    with pytest.raises(LocalProtocolError):
        impl.encode_event_chunk("x", **kwargs)


def test_encode_e4_good_retry_and_comment(impl):
    """SSE-E4: retry 3000 is written as ``retry: 3000``; comments with CR/LF are rejected."""
    assert impl.encode_event(None, retry=3000) == b"retry: 3000\n\n"
    assert impl.encode_event(None, retry=0) == b"retry: 0\n\n"
    assert impl.encode_event(None, retry=2**64 - 1) == b"retry: 18446744073709551615\n\n"
    assert impl.encode_comment() == b":\n"
    assert impl.encode_comment("keep-alive") == b": keep-alive\n"
    assert impl.encode_comment(b"x\x00y") == b": x\x00y\n"
    for bad in ("a\rb", "a\nb", b"\r"):
        with pytest.raises(LocalProtocolError):
            impl.encode_comment(bad)
    with pytest.raises(LocalProtocolError):
        impl.encode_comment(3)


def test_encode_fields_order_and_types(impl):
    """Fields come as event, id, retry, data; str, bytes, bytearray and memoryview are accepted."""
    want = b"event: e\nid: 7\nretry: 10\ndata: {}\n\n"
    assert impl.encode_event("{}", event="e", id="7", retry=10) == want
    assert impl.encode_event(b"{}", event=b"e", id=b"7", retry=10) == want
    assert impl.encode_event(bytearray(b"{}"), event=memoryview(b"e"), id=bytearray(b"7"), retry=10) == want
    assert impl.encode_event("é") == "data: é\n\n".encode()
    for ev in (None, "", "message", b"message"):
        assert impl.encode_event("x", event=ev) == b"data: x\n\n"
    assert impl.encode_event("x", id="") == b"id: \ndata: x\n\n"  # explicit clear
    with pytest.raises(LocalProtocolError):
        impl.encode_event(5)
    with pytest.raises(LocalProtocolError):
        impl.encode_event("\udc80")


def test_encode_priming(impl):
    """SRV-SSE-08: the priming event is an id plus empty data; it decodes to data "" (AMB-13)."""
    assert impl.encode_priming("s1-0") == b"id: s1-0\ndata: \n\n"
    assert impl.encode_priming(b"s1-0", retry=3000) == b"id: s1-0\nretry: 3000\ndata: \n\n"
    dec = impl.SseDecoder()
    (ev,) = dec.feed(impl.encode_priming("s1-0", retry=3000))
    assert (ev.event, ev.data, ev.id, dec.retry) == ("message", "", "s1-0", 3000)
    for bad in ("", b"", None, "a\nb", 7):
        with pytest.raises(LocalProtocolError):
            impl.encode_priming(bad)
    with pytest.raises(LocalProtocolError):
        impl.encode_priming("x", retry=-5)


@pytest.mark.parametrize("size", [0, 1, 200, 4089, 4090, 4096, 65536, 1 << 20])
def test_encode_event_chunk_framing(impl, size):
    """encode_event_chunk is exactly hex(len(ev)) CRLF ev CRLF (RFC 9112 7.1), at hex-width boundaries."""
    data = b"y" * size
    ev = impl.encode_event(data, id="9")
    assert impl.encode_event_chunk(data, id="9") == b"%x\r\n" % len(ev) + ev + b"\r\n"
    ev = impl.encode_event(None)
    assert impl.encode_event_chunk(None) == b"1\r\n\n\r\n" == b"%x\r\n" % len(ev) + ev + b"\r\n"


def test_twins_expose_the_same_api():
    """Both twins export the same names, and their classes the same public members."""
    from _twins import twins

    mods = twins(CODEC)
    if len(mods) < 2:
        pytest.skip("compiled twin not built")
    py, c = mods
    assert py.__all__ == c.__all__
    for name in py.__all__:
        assert hasattr(c, name), name
    for cls in ("SseDecoder", "SseEvent"):
        pub = [{n for n in dir(getattr(m, cls)) if not n.startswith("_")} for m in (py, c)]
        assert pub[0] == pub[1], cls
    for const in ("DEFAULT_MAX_EVENT_SIZE", "DEFAULT_MAX_LINE_SIZE", "MAX_RETRY"):
        assert getattr(py, const) == getattr(c, const)
    with pytest.raises(TypeError):
        c.SseDecoder(10)
    with pytest.raises(TypeError):
        py.SseDecoder(10)
    assert type(c.SseDecoder().feed(b"")) is type(py.SseDecoder().feed(b"")) is list

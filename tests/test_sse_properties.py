"""SSE codec: property tests (split invariance, round trip, twin equivalence, totality).

An independent, non-incremental model of the WHATWG algorithm (decode the
whole stream to text, then split and interpret lines, as WHATWG HTML 9.2.5-6
and the Encoding Standard describe it) checks both twins on random streams.
"""

from __future__ import annotations

import json
import random

import pytest
from _twins import twins
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamcore import LocalProtocolError
from streamcore._errors import SseDecodeError

CODEC = "sse"

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def whatwg_utf8_decode(b: bytes) -> str:
    """Encoding Standard 4.1 "UTF-8 decoder", with replacement, written out step by step."""
    out: list[str] = []
    cp = needed = seen = 0
    lower, upper = 0x80, 0xBF
    i = 0
    while i < len(b):
        byte = b[i]
        if needed == 0:
            i += 1
            if byte <= 0x7F:
                out.append(chr(byte))
            elif 0xC2 <= byte <= 0xDF:
                needed, cp = 1, byte & 0x1F
            elif 0xE0 <= byte <= 0xEF:
                if byte == 0xE0:
                    lower = 0xA0
                elif byte == 0xED:
                    upper = 0x9F
                needed, cp = 2, byte & 0x0F
            elif 0xF0 <= byte <= 0xF4:
                if byte == 0xF0:
                    lower = 0x90
                elif byte == 0xF4:
                    upper = 0x8F
                needed, cp = 3, byte & 0x07
            else:
                out.append("\ufffd")
            continue
        if not lower <= byte <= upper:
            # error; the byte is "prepended to the stream": not consumed
            cp = needed = seen = 0
            lower, upper = 0x80, 0xBF
            out.append("\ufffd")
            continue
        lower, upper = 0x80, 0xBF
        cp = (cp << 6) | (byte & 0x3F)
        seen += 1
        i += 1
        if seen == needed:
            out.append(chr(cp))
            cp = needed = seen = 0
    if needed:
        out.append("\ufffd")
    return "".join(out)


def model(stream: bytes):
    """WHATWG HTML 9.2.5-9.2.6 applied to a whole stream, then end of stream."""
    if stream.startswith(b"\xef\xbb\xbf"):
        stream = stream[3:]
    text = whatwg_utf8_decode(stream)
    lines, start, i = [], 0, 0
    while i < len(text):
        if text[i] in "\r\n":
            lines.append(text[start:i])
            if text[i] == "\r" and text[i + 1 : i + 2] == "\n":
                i += 1
            start = i + 1
        i += 1
    events, data, etype, idbuf, last, retry = [], "", "", "", "", None
    for line in lines:
        if line == "":
            last = idbuf
            if data:
                events.append((etype or "message", data[:-1], last))
            data = etype = ""
            continue
        if line[0] == ":":
            continue
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            data += value + "\n"
        elif name == "event":
            etype = value
        elif name == "id":
            if "\0" not in value:
                idbuf = value
        elif name == "retry":
            if value and all("0" <= c <= "9" for c in value):
                digits = value.lstrip("0") or "0"
                if len(digits) <= 20 and int(digits) < 2**64:
                    retry = int(digits)
    return events, last, retry


TOKENS = [
    b"data", b"data:", b"data: ", b"id", b"id: ", b"event: ", b"event:", b"retry: ", b"retry:",
    b":", b" ", b"\r", b"\n", b"\r\n", b"\n\n", b"\x00", b"\xef\xbb\xbf", b"\xef", b"\xbb", b"\xc3",
    b"\xa9", b"\xff", b"x", b"7", b"00", b"Data", b"\xe2\x82\xac", b"\xf0\x9f", b"\x98\x80", b"\t",
]
sse_streams = st.lists(
    st.one_of(st.sampled_from(TOKENS), st.binary(max_size=6)), max_size=60
).map(b"".join)


def cut(stream: bytes, cuts: list[int]) -> list[bytes]:
    """Split ``stream`` at the given offsets (any order, clamped)."""
    out, prev = [], 0
    for c in sorted(min(c, len(stream)) for c in cuts) + [len(stream)]:
        out.append(stream[prev:c])
        prev = c
    return out


def run(impl, feeds, **kw):
    """Decode the reads; return (event tuples, last_event_id, retry) or the exception type."""
    dec = impl.SseDecoder(**kw)
    evs = []
    try:
        for f in feeds:
            evs += dec.feed(f)
        evs += dec.close()
    except SseDecodeError:
        return SseDecodeError, [(e.event, e.data, e.id) for e in evs]
    return [(e.event, e.data, e.id) for e in evs], dec.last_event_id, dec.retry


@FAST
@given(stream=sse_streams, cuts=st.lists(st.integers(0, 400), max_size=8))
def test_matches_whatwg_model(impl, stream, cuts):
    """Any stream, split anywhere, decodes as the whole-stream WHATWG model says (SSE-01..25 generalised)."""
    events, last, retry = model(stream)
    assert run(impl, cut(stream, cuts)) == (events, last, retry)


@FAST
@given(stream=sse_streams, cuts=st.lists(st.integers(0, 400), max_size=8),
       max_line=st.integers(1, 12), max_event=st.integers(1, 12))
def test_split_invariance_with_limits(impl, stream, cuts, max_line, max_event):
    """Whole, per-byte and random-cut feeding agree; a limit error occurs in all or none."""
    kw = {"max_line_size": max_line, "max_event_size": max_event}
    whole = run(impl, [stream], **kw)
    for feeds in (cut(stream, cuts), [stream[i : i + 1] for i in range(len(stream))]):
        got = run(impl, feeds, **kw)
        if whole[0] is SseDecodeError:
            assert got[0] is SseDecodeError
        else:
            assert got == whole


@FAST
@given(stream=st.binary(max_size=300) | sse_streams, cuts=st.lists(st.integers(0, 300), max_size=6),
       max_line=st.integers(1, 40), max_event=st.integers(1, 40))
def test_garbage_raises_only_sse_decode_error(impl, stream, cuts, max_line, max_event):
    """Arbitrary bytes never raise anything but SseDecodeError (any other exception fails the test)."""
    dec = impl.SseDecoder(max_line_size=max_line, max_event_size=max_event)
    try:
        for f in cut(stream, cuts):
            dec.feed(f)
        dec.close()
    except SseDecodeError:
        pass


def _trace(mod, feeds, **kw):
    # per-call results, so the twins must agree on *when* each event appears
    dec = mod.SseDecoder(**kw)
    out = []
    for f in feeds:
        try:
            out.append(("ok", dec.feed(f), dec.last_event_id, dec.retry))
        except Exception as exc:  # noqa: BLE001 - comparing exception types is the point
            out.append(("err", type(exc)))
    try:
        out.append(("ok", dec.close(), dec.last_event_id, dec.retry))
    except Exception as exc:  # noqa: BLE001
        out.append(("err", type(exc)))
    return out


@FAST
@given(stream=st.binary(max_size=200) | sse_streams, cuts=st.lists(st.integers(0, 300), max_size=8),
       max_line=st.integers(1, 30), max_event=st.integers(1, 30))
def test_twins_agree_call_by_call(stream, cuts, max_line, max_event):
    """The compiled twin returns exactly what the pure twin returns, feed by feed, errors included."""
    mods = twins(CODEC)
    if len(mods) < 2:
        pytest.skip("compiled twin not built")
    py, c = mods
    feeds = cut(stream, cuts)
    for kw in ({}, {"max_line_size": max_line, "max_event_size": max_event}):
        assert _trace(py, feeds, **kw) == _trace(c, feeds, **kw)


@FAST
@given(raw=st.binary(max_size=40), cuts=st.lists(st.integers(0, 50), max_size=4))
def test_utf8_decoding_is_whatwg(impl, raw, cuts):
    """SSE-25: data bytes decode exactly as the WHATWG UTF-8 decoder does, however split."""
    raw = raw.replace(b"\r", b"").replace(b"\n", b"")
    stream = b"data:" + raw + b"\n\n"
    want = whatwg_utf8_decode(raw[1:] if raw[:1] == b" " else raw)
    assert run(impl, cut(stream, cuts))[0] == [("message", want, "")]


# -- encoder properties -------------------------------------------------------

no_surrogates = st.characters(blacklist_categories=("Cs",))
texts = st.text(no_surrogates, max_size=30) | st.text(st.sampled_from("a \r\n\x00é€😀:"), max_size=12)
single = st.text(no_surrogates.filter(lambda ch: ch not in "\r\n\x00"), max_size=12)
retries = st.none() | st.integers(0, 2**64 - 1)


@FAST
@given(data=st.none() | texts, event=st.none() | single, id=st.none() | single, retry=retries,
       as_bytes=st.booleans(), cuts=st.lists(st.integers(0, 200), max_size=4))
def test_round_trip_across_twins(data, event, id, retry, as_bytes, cuts):
    """SSE-E5: decode(encode(ev)) == ev for every pair of twins (CR and CRLF become LF)."""
    if as_bytes and data is not None:
        data = data.encode()
    for enc in twins(CODEC):
        wire = enc.encode_event(data, event=event, id=id, retry=retry)
        for dec_mod in twins(CODEC):
            dec = dec_mod.SseDecoder()
            got = []
            for f in cut(wire, cuts):
                got += dec.feed(f)
            if data is None:
                assert got == []
            else:
                text = data.decode() if isinstance(data, bytes) else data
                want = dec_mod.SseEvent(
                    text.replace("\r\n", "\n").replace("\r", "\n"),
                    event=event or "message", id=id or "", retry=retry,
                )
                assert got == [want]
            assert dec.last_event_id == (id or "")
            assert dec.retry == retry


@FAST
@given(msgs=st.lists(st.tuples(texts, st.none() | single), max_size=8),
       cuts=st.lists(st.integers(0, 500), max_size=10), comments=st.booleans())
def test_stream_of_events_round_trips(impl, msgs, cuts, comments):
    """A stream of encoded events (with keep-alive comments and priming) decodes to the same events."""
    wire = impl.encode_priming("p0", retry=10)
    want = [("message", "", "p0")]
    last = "p0"
    for data, id in msgs:
        if comments:
            wire += impl.encode_comment("ka")
        wire += impl.encode_event(data, id=id)
        last = id if id is not None else last
        want.append(("message", data.replace("\r\n", "\n").replace("\r", "\n"), last))
    assert run(impl, cut(wire, cuts)) == (want, last, 10)


anything = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 2**65), st.floats(allow_nan=False), texts,
    st.text(max_size=5), st.binary(max_size=10), st.sampled_from(["message", b"message", "", "\ud800"]),
)


def _encode_outcome(mod, fn, *args, **kw):
    try:
        return getattr(mod, fn)(*args, **kw)
    except Exception as exc:  # noqa: BLE001 - comparing exception types is the point
        return type(exc)


@FAST
@given(data=anything, event=anything, id=anything, retry=anything)
def test_encoder_twins_agree(data, event, id, retry):
    """Both twins return identical bytes, or raise the same type, for any arguments."""
    mods = twins(CODEC)
    if len(mods) < 2:
        pytest.skip("compiled twin not built")
    py, c = mods
    for fn in ("encode_event", "encode_event_chunk"):
        a = _encode_outcome(py, fn, data, event=event, id=id, retry=retry)
        assert a == _encode_outcome(c, fn, data, event=event, id=id, retry=retry)
        assert a is LocalProtocolError or isinstance(a, bytes)
    assert _encode_outcome(py, "encode_comment", data) == _encode_outcome(c, "encode_comment", data)
    assert _encode_outcome(py, "encode_priming", id, retry=retry) == _encode_outcome(
        c, "encode_priming", id, retry=retry
    )


@FAST
@given(data=st.none() | texts | st.binary(max_size=300), id=st.none() | single, retry=retries)
def test_event_chunk_is_framed_event(impl, data, id, retry):
    """encode_event_chunk(...) == b"%x\\r\\n" % len(ev) + ev + b"\\r\\n" for ev = encode_event(...)."""
    ev = impl.encode_event(data, id=id, retry=retry)
    assert impl.encode_event_chunk(data, id=id, retry=retry) == b"%x\r\n" % len(ev) + ev + b"\r\n"


# -- seeded corpus (spec section 6) --------------------------------------------


def _corpus(n: int, seed: int = 2026):
    rnd = random.Random(seed)
    msgs = []
    for i in range(n):
        kind = rnd.random()
        if kind < 0.4:
            body = {"jsonrpc": "2.0", "method": "notifications/progress",
                    "params": {"progressToken": i, "progress": rnd.random(), "message": "é" * rnd.randrange(5)}}
        else:
            body = {"jsonrpc": "2.0", "id": i, "result": {"content": [
                {"type": "text", "text": "".join(rnd.choice("abc xyz\u00e9\u20ac") for _ in range(rnd.randrange(300)))}
            ]}}
        msgs.append(json.dumps(body, separators=(",", ":"), ensure_ascii=False))
    return msgs


CORPUS = _corpus(10_000)


def test_jsonrpc_corpus_split_invariance(impl):
    """10k seeded JSON-RPC events (ids, priming, keep-alives) decode identically in every read size."""
    parts = [impl.encode_priming("s1-0", retry=500)]
    for i, m in enumerate(CORPUS):
        parts.append(impl.encode_event(m, id=f"s1-{i + 1}"))
        if i % 97 == 0:
            parts.append(impl.encode_comment())
    wire = b"".join(parts)
    want = [("message", "", "s1-0")] + [("message", m, f"s1-{i + 1}") for i, m in enumerate(CORPUS)]
    rnd = random.Random(7)
    cuts = [rnd.randrange(len(wire)) for _ in range(3000)]
    for feeds in ([wire], [wire[i : i + 1460] for i in range(0, len(wire), 1460)],
                  [wire[i : i + 64] for i in range(0, len(wire), 64)], cut(wire, cuts)):
        assert run(impl, feeds) == (want, f"s1-{len(CORPUS)}", 500)
    head = wire[:20_000]  # byte by byte on a prefix, to keep the pure twin quick
    got = run(impl, [head[i : i + 1] for i in range(len(head))])
    assert got[0] == want[: len(got[0])] and len(got[0]) > 10

"""Chunked codec properties (hypothesis): split invariance, round trip, twin equivalence, totality.

CH-11 (split invariance) and spec 4.3 (garbage raises only ChunkedDecodeError).
Bounded with ``max_examples`` so the file runs in a few seconds per twin.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _twins import twins
from streamcore._errors import ChunkedDecodeError

CODEC = "chunked"
TWINS = twins(CODEC)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
token = st.binary(min_size=1, max_size=6).map(lambda b: bytes(TCHAR[c % len(TCHAR)] for c in b))
quoted = st.binary(max_size=6).map(
    lambda b: b'"' + b"".join(b"\\" + bytes([c]) if c in b'"\\' else bytes([c]) for c in b.replace(b"\x7f", b"a") if c >= 0x20 or c == 9) + b'"'
)
bws = st.sampled_from([b"", b"", b" ", b"\t", b"  "])


@st.composite
def extension(draw) -> bytes:
    """One ``BWS ; BWS name [BWS = BWS value]`` (RFC 9112 7.1.1)."""
    out = draw(bws) + b";" + draw(bws) + draw(token)
    if draw(st.booleans()):
        out += draw(bws) + b"=" + draw(bws) + draw(st.one_of(token, quoted))
    return out


@st.composite
def size_line(draw, n: int) -> bytes:
    """A chunk-size line for ``n`` with random hex case, leading zeros and extensions."""
    digits = b"%x" % n
    if draw(st.booleans()):
        digits = digits.upper()
    digits = b"0" * draw(st.integers(0, 3)) + digits
    return digits + b"".join(draw(st.lists(extension(), max_size=2))) + b"\r\n"


trailer_name = token.filter(lambda t: t.lower() not in TWINS[0].FORBIDDEN_TRAILERS)
trailer_value = st.binary(max_size=12).map(
    lambda b: bytes(c for c in b if c not in b"\r\n\x00").strip(b" \t")
)


@st.composite
def chunked_body(draw):
    """(encoded stream, body, trailers as decoded) for a valid chunked body."""
    chunks = draw(st.lists(st.binary(min_size=1, max_size=300), max_size=6))
    out = [draw(size_line(len(c))) + c + b"\r\n" for c in chunks]
    out.append(draw(size_line(0)))
    trailers = draw(st.lists(st.tuples(trailer_name, trailer_value), max_size=3))
    for name, value in trailers:
        out.append(name + b":" + draw(bws) + value + draw(bws) + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out), b"".join(chunks), [(n.lower(), v) for n, v in trailers]


def pieces_of(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets."""
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def outcome(impl, pieces, *, close=False, **kw):
    """Everything observable: body so far, done, trailers, unused data, or the error."""
    dec = impl.ChunkedDecoder(**kw)
    body = bytearray()
    try:
        for p in pieces:
            body += dec.feed(p)
        if close:
            dec.close()
    except ChunkedDecodeError as e:
        return ("err", bytes(body), type(e).__name__, e.status_hint, str(e))
    return ("ok", bytes(body), dec.done, list(dec.trailers), dec.unused_data)


@SETTINGS
@given(case=chunked_body(), cuts=st.lists(st.integers(0, 10_000), max_size=8), tail=st.binary(max_size=8))
def test_split_invariance(impl, case, cuts, tail):
    """CH-11: any cutting of a valid stream (plus trailing bytes) gives the same result."""
    stream, body, trailers = case
    whole = outcome(impl, [stream + tail])
    assert whole == ("ok", body, True, trailers, tail)
    assert outcome(impl, pieces_of(stream + tail, cuts)) == whole
    assert outcome(impl, [bytes([b]) for b in stream]) == ("ok", body, True, trailers, b"")


@SETTINGS
@given(
    chunks=st.lists(st.binary(max_size=2000), max_size=8),
    trailers=st.lists(st.tuples(trailer_name, trailer_value), max_size=3),
    cuts=st.lists(st.integers(0, 20_000), max_size=8),
    enc=st.sampled_from(TWINS),
)
def test_round_trip(impl, chunks, trailers, cuts, enc):
    """Encode with one twin, decode with the other: same body and trailers (empty writes vanish)."""
    stream = b"".join(enc.encode_chunk(c) for c in chunks) + enc.encode_last_chunk(trailers)
    got = outcome(impl, pieces_of(stream, cuts), close=True)
    assert got == ("ok", b"".join(chunks), True, [(n.lower(), v) for n, v in trailers], b"")


# Framing-heavy alphabet so that random bytes reach deep states.
ALPHABET = b"0123456789aAfFgx;= \t\"\\\r\n:\x00\x7fXy,"
garbage = st.one_of(
    st.binary(max_size=80),
    st.lists(st.sampled_from(list(ALPHABET)), max_size=80).map(bytes),
)


@st.composite
def corrupted(draw):
    """A valid stream with a few random byte replacements, insertions and deletions."""
    stream = bytearray(draw(chunked_body())[0])
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(stream)))
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from(list(ALPHABET) + list(range(256))))
        if op == "insert" or pos == len(stream):
            stream[pos:pos] = bytes([byte])
        elif op == "replace":
            stream[pos] = byte
        else:
            del stream[pos]
    return bytes(stream)


needs_two = pytest.mark.skipif(len(TWINS) < 2, reason="compiled twin not built or disabled")


@needs_two
@SETTINGS
@given(
    data=st.one_of(garbage, corrupted()),
    cuts=st.lists(st.integers(0, 10_000), max_size=6),
    lenient=st.booleans(),
    small=st.booleans(),
)
def test_twins_agree_on_anything(data, cuts, lenient, small):
    """Twin equivalence: same data, state, trailers, exception type, hint and message, on any input."""
    kw = {"lenient": lenient}
    if small:
        kw.update(max_chunk_size=300, max_chunk_ext_size=6, max_trailer_size=12)
    py, c = TWINS
    pieces = pieces_of(data, cuts)
    assert outcome(py, pieces, close=True, **kw) == outcome(c, pieces, close=True, **kw)
    assert outcome(py, [data], **kw) == outcome(c, [data], **kw)


@SETTINGS
@given(data=st.one_of(garbage, corrupted()), cuts=st.lists(st.integers(0, 10_000), max_size=6), lenient=st.booleans())
def test_garbage_raises_only_chunked_decode_error(impl, data, cuts, lenient):
    """Spec 4.3: any input either decodes or raises ChunkedDecodeError, nothing else; output <= input."""
    dec = impl.ChunkedDecoder(lenient=lenient)
    out = 0
    try:
        for p in pieces_of(data, cuts):
            got = dec.feed(p)
            assert type(got) is bytes
            out += len(got)
        dec.close()
    except ChunkedDecodeError as e:
        assert e.status_hint in (400, 413, 431)
    assert out <= len(data)


@SETTINGS
@given(case=chunked_body())
def test_lenient_accepts_everything_strict_accepts(impl, case):
    """Lenient mode is a superset: strict-valid streams decode identically, also with bare LFs in lines."""
    stream, body, trailers = case
    assert outcome(impl, [stream], lenient=True) == outcome(impl, [stream])
    # a bare LF ending the final (empty) trailer line: lenient accepts, strict fails
    relaxed = stream[:-2] + b"\n"
    assert outcome(impl, [relaxed], lenient=True) == ("ok", body, True, trailers, b"")
    assert outcome(impl, [relaxed])[0] == "err"

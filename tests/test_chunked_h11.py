"""Differential test of the chunked decoder against h11 (spec 4.5).

h11 is driven as a server ``Connection`` receiving a request with
``Transfer-Encoding: chunked``; its Data / EndOfMessage events or its
RemoteProtocolError are compared with our decoder fed the same pieces.
Random bodies, chunk sizes, read splits and corruptions must give the same
body and the same verdict (accept / reject / incomplete), except where our
policy deliberately differs. Those differences are enumerated in
``KNOWN_DIFFERENCES`` and asserted case by case below, and every random
disagreement must be explained by one of them (``docs/chunked.md``).
"""

from __future__ import annotations

import re

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamcore._codecs import _chunked_py
from streamcore._errors import ChunkedDecodeError

CODEC = "chunked"

HEAD = b"POST / HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n"
FORBIDDEN = _chunked_py.FORBIDDEN_TRAILERS


def h11_outcome(pieces: list[bytes]) -> tuple:
    """("ok", body, trailers) / ("err", body) / ("incomplete", body) as h11 sees it."""
    conn = h11.Connection(h11.SERVER)
    body = bytearray()
    try:
        for p in [HEAD, *pieces]:
            conn.receive_data(p)
            while True:
                ev = conn.next_event()
                if ev is h11.NEED_DATA or ev is h11.PAUSED:
                    break
                if isinstance(ev, h11.Data):
                    body += ev.data
                elif isinstance(ev, h11.EndOfMessage):
                    trailers = [(bytes(n), bytes(v)) for n, v in ev.headers.raw_items()]
                    return ("ok", bytes(body), [(n.lower(), v) for n, v in trailers])
    except h11.RemoteProtocolError:
        return ("err", bytes(body))
    return ("incomplete", bytes(body))


def our_outcome(impl, pieces: list[bytes], **kw) -> tuple:
    """Same shape as :func:`h11_outcome`, plus the error message and the failing offset."""
    dec = impl.ChunkedDecoder(**kw)
    body = bytearray()
    try:
        for p in pieces:
            body += dec.feed(p)
            if dec.done:
                return ("ok", bytes(body), list(dec.trailers))
    except ChunkedDecodeError as e:
        return ("err", *_failing_offset(impl, b"".join(pieces), str(e), **kw))
    return ("incomplete", bytes(body))


def _failing_offset(impl, stream: bytes, msg: str, **kw) -> tuple[bytes, str, int]:
    # Feed byte by byte to find the byte that raised (same error: split
    # invariance) and all data before it: a feed() that raises does not return
    # the data it decoded before the bad byte (documented), so the body seen
    # with coarse pieces can be shorter than h11's.
    dec = impl.ChunkedDecoder(**kw)
    body = bytearray()
    for i in range(len(stream)):
        try:
            body += dec.feed(stream[i : i + 1])
        except ChunkedDecodeError as e:
            assert str(e) == msg
            return bytes(body), msg, i + 1
    raise AssertionError("split invariance violated: no byte raised")


# -- the deliberate differences, each asserted ----------------------------------

# (stream, our verdict, h11 verdict, why)
KNOWN_DIFFERENCES = [
    (b"5 ;a=b\r\nhello\r\n0\r\n\r\n", "ok", "err", "BWS before ';' is RFC 9112 grammar (CH-08); h11 follows RFC 7230"),
    (b"5;a = b\r\nhello\r\n0\r\n\r\n", "ok", "ok", "BWS around '=': both accept (h11 reads the extension as opaque)"),
    (b"5 \r\nhello\r\n0\r\n\r\n", "err", "ok", "trailing OWS after the size: strict rejects (CH-16), h11 tolerates"),
    (b"5;a=b \r\nhello\r\n0\r\n\r\n", "err", "ok", "trailing OWS after an extension: strict rejects"),
    (b"0" * 20 + b"5\r\nhello\r\n0\r\n\r\n", "ok", "err", "21 hex digits: leading zeros don't count for us (CH-17); h11 caps at 20 digits"),
    (b"10000000000000000\r\n", "err", "incomplete", "2**64 (17 digits): we refuse above 2**63-1 (413); h11 accepts up to 20 digits"),
    (b"5;\r\nhello\r\n0\r\n\r\n", "err", "ok", "empty extension name (CH-24): h11 does not parse extensions"),
    (b"5;=v\r\nhello\r\n0\r\n\r\n", "err", "ok", "'=' with no name (CH-24)"),
    (b"5;n=\r\nhello\r\n0\r\n\r\n", "err", "ok", "'=' with no value (CH-24)"),
    (b'5;n="open\r\nhello\r\n0\r\n\r\n', "err", "ok", "unterminated quoted-string (CH-24)"),
    (b"5;n=\x01\r\nhello\r\n0\r\n\r\n", "err", "ok", "CTL in an extension (CH-24)"),
    (b"5;n=a\rb\r\nhello\r\n0\r\n\r\n", "err", "ok", "bare CR inside an extension (CH-23)"),
    (b"0\r\nX: a\r\n b\r\n\r\n", "err", "ok", "obs-fold in trailers (CH-27): h11 unfolds it"),
    (b"0\r\nX: a\n\r\n", "err", "ok", "bare LF in a trailer line: strict rejects, h11 accepts"),
    (b"0\r\n\n", "err", "ok", "bare LF as the final line: strict rejects, h11 accepts"),
    (b"0\r\nX: a\x0bb\r\n\r\n", "ok", "err", "VT/FF in a trailer value: only CR, LF, NUL are refused (RFC 9110 5.5); h11 refuses all \\s"),
    (b"0\r\nContent-Length: x\r\n\r\n", "ok", "err", "forbidden trailer fields are dropped unread (CH-10); h11 validates them"),
    (b"0\r\nTransfer-Encoding: gzip\r\n\r\n", "ok", "err", "forbidden trailer fields are dropped unread (CH-10)"),
]


@pytest.mark.parametrize(("stream", "ours", "theirs", "why"), KNOWN_DIFFERENCES, ids=[c[3][:40] for c in KNOWN_DIFFERENCES])
def test_known_difference(impl, stream, ours, theirs, why):
    """Each listed policy difference from h11 holds exactly as documented (docs/chunked.md)."""
    assert our_outcome(impl, [stream])[0] == ours
    assert h11_outcome([stream])[0] == theirs


def test_forbidden_trailers_h11_keeps_we_drop(impl):
    """CH-10: h11 returns a Host trailer; we drop it (never merged into headers either way)."""
    stream = b"0\r\nHost: evil\r\nX: 1\r\n\r\n"
    assert h11_outcome([stream]) == ("ok", b"", [(b"host", b"evil"), (b"x", b"1")])
    assert our_outcome(impl, [stream]) == ("ok", b"", [(b"x", b"1")])


# -- random differential --------------------------------------------------------

# Classifiers: does a disagreement match one of the listed differences?
_SIZE_LINE_BWS = re.compile(rb"(?:^|\n)[0-9A-Fa-f]+[ \t]+;")
_LONG_SIZE = re.compile(rb"(?:^|\n)[0-9A-Fa-f]{21,}[;\r \t]")
_FORBIDDEN_MSGS = {
    _chunked_py.E_TRAILING_WS,
    _chunked_py.E_EXT,
    _chunked_py.E_TOO_BIG,
    _chunked_py.E_EXT_LIMIT,
    _chunked_py.E_OBS_FOLD,
    _chunked_py.E_BARE_LF_TRAILER,
}


def _failing_line(stream: bytes, offset: int) -> bytes:
    start = stream.rfind(b"\n", 0, offset - 1) + 1
    return stream[start:offset]


def explained(stream: bytes, ours: tuple, theirs: tuple) -> bool:
    """True when the verdicts differ only as KNOWN_DIFFERENCES allows."""
    if ours[0] == "err":
        msg, offset = ours[2], ours[3]
        if msg in _FORBIDDEN_MSGS:
            return True
        line = _failing_line(stream, offset)
        # bare CR / CTL inside an extension: h11 treats ";..." as opaque
        return msg == _chunked_py.E_BARE_CR_SIZE and b";" in line
    if theirs[0] == "err" and ours[0] in ("ok", "incomplete"):
        if _SIZE_LINE_BWS.search(stream) or _LONG_SIZE.search(stream):
            return True
        if ours[0] == "ok":
            names = {n for n, _ in ours[2]}
            tail = stream[stream.rfind(b"\n0") :]
            return bool(re.search(rb"[\x0b\x0c]", tail)) or any(
                f + b":" in tail.lower() for f in (b"content-length", b"transfer-encoding")
            ) or bool(names & FORBIDDEN)
    return False


TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
token = st.binary(min_size=1, max_size=5).map(lambda b: bytes(TCHAR[c % len(TCHAR)] for c in b))


@st.composite
def h11_compatible_body(draw):
    """A valid body in the grammar both parsers accept: no BWS, 1-20 digits, ';tok[=tok]'."""
    chunks = draw(st.lists(st.binary(min_size=1, max_size=200), max_size=6))
    out = []
    for c in [*chunks, b""]:
        digits = b"%x" % len(c)
        digits = digits.upper() if draw(st.booleans()) else digits
        out.append(b"0" * draw(st.integers(0, 3)) + digits)
        for _ in range(draw(st.integers(0, 2))):
            out.append(b";" + draw(token) + (b"=" + draw(token) if draw(st.booleans()) else b""))
        out.append(b"\r\n" + c + (b"\r\n" if c else b""))
    for _ in range(draw(st.integers(0, 2))):
        name = draw(token.filter(lambda t: t.lower() not in FORBIDDEN))
        value = draw(st.binary(max_size=8).map(lambda b: bytes(c for c in b if 0x21 <= c <= 0x7E)))
        out.append(name + b": " + value + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


CORRUPT_BYTES = list(b"0aF;= \t\"\r\n:\x00\x0bXg") + list(range(256))


@st.composite
def maybe_corrupted(draw):
    """A valid body, and half the time one to three random byte edits."""
    stream = bytearray(draw(h11_compatible_body()))
    if draw(st.booleans()):
        for _ in range(draw(st.integers(1, 3))):
            pos = draw(st.integers(0, len(stream)))
            op = draw(st.sampled_from(["replace", "insert", "delete"]))
            byte = draw(st.sampled_from(CORRUPT_BYTES))
            if op == "insert" or pos == len(stream):
                stream[pos:pos] = bytes([byte])
            elif op == "replace":
                stream[pos] = byte
            else:
                del stream[pos]
    return bytes(stream)


def pieces_of(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets."""
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


# Suffixes that end a body in progress: if the side that is still waiting
# fails once given one of them, both sides agree the stream is bad and the
# other side merely noticed earlier (we check each byte as it arrives; h11
# waits for whole lines).
ENDINGS = [b"\r\n", b"\r\n\r\n", b"\r\n0\r\n\r\n"]


def _eventually_fails(outcome_fn, pieces: list[bytes]) -> bool:
    return any(outcome_fn([*pieces, end])[0] == "err" for end in ENDINGS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=maybe_corrupted(), cuts=st.lists(st.integers(0, 5000), max_size=6))
def test_differential_against_h11(impl, stream, cuts):
    """Same body and verdict as h11 on random (corrupted) bodies and splits, bar listed differences."""
    pieces = pieces_of(stream, cuts)
    ours = our_outcome(impl, pieces)
    theirs = h11_outcome(pieces)
    verdicts = {ours[0], theirs[0]}
    if ours[0] == theirs[0] == "ok":
        assert ours[1] == theirs[1]
        # we drop forbidden trailers; h11 keeps them
        assert ours[2] == [(n, v) for n, v in theirs[2] if n not in FORBIDDEN]
        return
    # up to the point where one side stopped, the data agree
    n = min(len(ours[1]), len(theirs[1]))
    assert ours[1][:n] == theirs[1][:n]
    if verdicts == {"err", "incomplete"}:
        waiting = (lambda ps: our_outcome(impl, ps)) if ours[0] == "incomplete" else h11_outcome
        if _eventually_fails(waiting, pieces):
            return  # same verdict, reached at different bytes
    if ours[0] != theirs[0] or ours[1] != theirs[1]:
        assert explained(stream, ours, theirs), (stream, ours, theirs)


@settings(max_examples=100, deadline=None)
@given(stream=h11_compatible_body(), cuts=st.lists(st.integers(0, 5000), max_size=6))
def test_valid_bodies_agree_with_h11(impl, stream, cuts):
    """On bodies in the common grammar, h11 and we accept with the same body and trailers."""
    pieces = pieces_of(stream, cuts)
    ours, theirs = our_outcome(impl, pieces), h11_outcome(pieces)
    assert ours[0] == theirs[0] == "ok"
    assert ours[1:] == theirs[1:]

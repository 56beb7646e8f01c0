"""Chunked transfer coding: spec vectors CH-01..CH-30, limits, API (both twins).

Every decoder vector is fed whole, byte by byte, at seeded random cut points
and followed by trailing bytes (STYLE.md, h11 ``test_io.py``); all feedings
must agree. Spec: ``streamable-http.md`` sections 4 and 6.2.
"""

from __future__ import annotations

import random
import tracemalloc

import pytest

import streamcore.chunked as chunked
from streamcore._codecs import _chunked_common
from streamcore._errors import ChunkedDecodeError, LocalProtocolError, RemoteProtocolError

CODEC = "chunked"


def feedings(data: bytes, seed: int = 0) -> list[list[bytes]]:
    """Whole, byte by byte, and three seeded random splittings of ``data``."""
    out = [[data], [data[i : i + 1] for i in range(len(data))]]
    rnd = random.Random(seed)
    for _ in range(3):
        cuts = sorted(rnd.sample(range(1, len(data)), min(len(data) - 1, rnd.randint(1, 6)))) if len(data) > 1 else []
        bounds = [0, *cuts, len(data)]
        out.append([data[a:b] for a, b in zip(bounds, bounds[1:])])
    return out


def run(impl, pieces, **kw):
    """Feed ``pieces``; return ("ok", body, done, trailers, unused) or ("err", type, hint)."""
    dec = impl.ChunkedDecoder(**kw)
    body = bytearray()
    try:
        for p in pieces:
            body += dec.feed(p)
    except ChunkedDecodeError as e:
        return ("err", type(e), e.status_hint)
    return ("ok", bytes(body), dec.done, list(dec.trailers), dec.unused_data)


def decode_ok(impl, data: bytes, **kw):
    """Decode ``data`` every way; all must succeed identically. Returns (body, trailers, unused)."""
    results = {repr(run(impl, f, **kw)) for f in feedings(data)}
    assert len(results) == 1, results
    r = run(impl, [data], **kw)
    assert r[0] == "ok" and r[2] is True, r
    # with a trailing byte the body is the same and the byte is left unused
    r2 = run(impl, [data + b"X"], **kw)
    assert r2[:4] == r[:4] and r2[4] == r[4] + b"X"
    return r[1], r[3], r[4]


def decode_err(impl, data: bytes, status_hint: int = 400, **kw) -> None:
    """Decoding ``data`` fails with ChunkedDecodeError (and ``status_hint``) every way."""
    for f in feedings(data):
        r = run(impl, f, **kw)
        assert r[0] == "err" and issubclass(r[1], ChunkedDecodeError), (f, r)
        assert r[2] == status_hint, r


# -- valid input -------------------------------------------------------------


def test_ch01_single_chunk(impl):
    """CH-01: one chunk, then the last chunk; no trailers."""
    assert decode_ok(impl, b"5\r\nhello\r\n0\r\n\r\n") == (b"hello", [], b"")


def test_ch02_two_chunks(impl):
    """CH-02: chunk data is concatenated."""
    assert decode_ok(impl, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")[0] == b"hello world"


def test_ch03_hex_case_insensitive(impl):
    """CH-03: A, a and 1a are hex sizes, case-insensitive."""
    assert decode_ok(impl, b"A\r\n0123456789\r\n0\r\n\r\n")[0] == b"0123456789"
    assert decode_ok(impl, b"a\r\n0123456789\r\n0\r\n\r\n")[0] == b"0123456789"
    body = bytes(range(65, 65 + 26))
    assert decode_ok(impl, b"1a\r\n" + body + b"\r\n0\r\n\r\n")[0] == body
    assert decode_ok(impl, b"1A\r\n" + body + b"\r\n0\r\n\r\n")[0] == body


def test_ch04_leading_zeros(impl):
    """CH-04: leading zeros in a size and a ``000`` last chunk are valid."""
    assert decode_ok(impl, b"0005\r\nhello\r\n000\r\n\r\n")[0] == b"hello"


def test_ch05_empty_body(impl):
    """CH-05: only the last chunk: empty body, complete."""
    assert decode_ok(impl, b"0\r\n\r\n") == (b"", [], b"")


def test_ch06_extensions_ignored(impl):
    """CH-06: extensions are ignored, also on the last chunk."""
    assert decode_ok(impl, b"5;name=value\r\nhello\r\n0;x\r\n\r\n")[0] == b"hello"
    assert decode_ok(impl, b"5;a;b=c;d=\"e\"\r\nhello\r\n0\r\n\r\n")[0] == b"hello"


def test_ch07_quoted_string_extension(impl):
    """CH-07: ``;``, ``=`` and a quoted-pair inside a quoted-string do not split it."""
    assert decode_ok(impl, b'5;a="x;y=z\\"q"\r\nhello\r\n0\r\n\r\n')[0] == b"hello"


def test_ch08_bws_accepted_by_default(impl):
    """CH-08: BWS around ``;`` and ``=`` (RFC 9112) is accepted by default; h11 rejects it."""
    assert decode_ok(impl, b"5 ; n = v\r\nhello\r\n0\r\n\r\n")[0] == b"hello"
    assert decode_ok(impl, b"5\t;\tn\t=\t\"v\"\r\nhello\r\n0\r\n\r\n")[0] == b"hello"


def test_ch09_trailers_kept_separately(impl):
    """CH-09: trailer fields come back as (lower-case name, value), apart from the body."""
    body, trailers, _ = decode_ok(impl, b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n")
    assert body == b"hello"
    assert trailers == [(b"x-checksum", b"abc")]


def test_ch10_forbidden_trailers_dropped(impl):
    """CH-10: Content-Length, Host, Transfer-Encoding in trailers are dropped (policy), never merged."""
    data = b"5\r\nhello\r\n0\r\nContent-Length: 5\r\nHost: evil\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert decode_ok(impl, data) == (b"hello", [], b"")
    data = b"0\r\nX-A: 1\r\nAuthorization: x\r\nContent-Type: a/b\r\nX-B:  2 \r\n\r\n"
    assert decode_ok(impl, data)[1] == [(b"x-a", b"1"), (b"x-b", b"2")]


def test_ch11_split_invariance(impl):
    """CH-11: every valid vector decodes identically whole, bytewise and at random cuts."""
    vectors = [
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b'5;a="x;y=z\\"q"\r\nhello\r\n0;x\r\nX-Checksum: abc\r\nY: \r\n\r\n',
        b"0005\r\nhello\r\n000\r\n\r\n",
    ]
    for v in vectors:
        want = run(impl, [v])
        for seed in range(20):
            for f in feedings(v, seed):
                assert run(impl, f) == want


def test_ch12_unused_data_left_for_next_message(impl):
    """CH-12: bytes after the final CRLF are returned unconsumed, also from later feeds."""
    assert decode_ok(impl, b"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n") == (
        b"hello",
        [],
        b"GET / HTTP/1.1\r\n",
    )
    dec = impl.ChunkedDecoder()
    assert dec.feed(b"0\r\n\r\nGE") == b""
    assert dec.feed(b"T /") == b""
    assert dec.done and dec.unused_data == b"GET /"


def test_ch13_large_chunk_streams(impl):
    """CH-13: a 1 MiB chunk read in 1 KiB pieces comes out piece by piece, never buffered."""
    payload = random.Random(13).randbytes(1 << 20)
    data = b"100000\r\n" + payload + b"\r\n0\r\n\r\n"
    dec = impl.ChunkedDecoder()
    out = []
    for i in range(0, len(data), 1024):
        piece = data[i : i + 1024]
        got = dec.feed(piece)
        # everything that is data in this read comes out of this read
        lo, hi = max(i, 8), min(i + 1024, 8 + len(payload))
        assert len(got) == max(0, hi - lo)
        out.append(got)
    assert dec.done and b"".join(out) == payload


def test_ch13_all_data_read_is_not_copied(impl):
    """CH-13: a read that is all chunk data comes back as the same bytes object (compiled twin)."""
    dec = impl.ChunkedDecoder()
    dec.feed(b"100\r\n")
    piece = bytes(range(128))
    out = dec.feed(piece)
    assert out == piece
    if impl.__name__.endswith("_c"):
        assert out is piece
    assert dec.feed(bytearray(piece)) == piece


def test_ch13_gigabyte_chunk_bounded_memory(impl):
    """CH-13: a 1 GiB chunk streams through in memory bounded by the read size."""
    piece = bytes(64 * 1024)
    dec = impl.ChunkedDecoder()
    assert dec.feed(b"40000000\r\n") == b""
    tracemalloc.start()
    try:
        total = 0
        for _ in range((1 << 30) // len(piece)):
            total += len(dec.feed(piece))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 1 << 30
    assert peak < 1 << 20
    assert dec.feed(b"\r\n0\r\n\r\n") == b"" and dec.done


# -- rejected input ----------------------------------------------------------


def test_ch14_empty_size(impl):
    """CH-14: an empty chunk-size line is an error."""
    decode_err(impl, b"\r\nhello\r\n0\r\n\r\n")


@pytest.mark.parametrize("data", [b"g\r\n", b"0x5\r\n", b"+5\r\n", b"-5\r\n", b"5g\r\n", b"\x00\r\n"])
def test_ch15_bad_size(impl, data):
    """CH-15: non-hex, ``0x`` prefix and signs are errors."""
    decode_err(impl, data)


def test_ch16_whitespace_around_size(impl):
    """CH-16: leading whitespace always fails; trailing OWS fails strict, passes lenient."""
    decode_err(impl, b" 5\r\nhello\r\n0\r\n\r\n")
    decode_err(impl, b" 5\r\nhello\r\n0\r\n\r\n", lenient=True)
    decode_err(impl, b"5 \r\nhello\r\n0\r\n\r\n")
    decode_err(impl, b"5;a=b \r\nhello\r\n0\r\n\r\n")
    assert decode_ok(impl, b"5 \r\nhello\r\n0\t\r\n\r\n", lenient=True)[0] == b"hello"
    assert decode_ok(impl, b"5;a=b \r\nhello\r\n0\r\n\r\n", lenient=True)[0] == b"hello"


def test_ch17_overflow_never_wraps(impl):
    """CH-17: 2**64, 17 F's and sizes over the maximum fail with 413; zeros do not count."""
    decode_err(impl, b"10000000000000000\r\n", 413)
    decode_err(impl, b"FFFFFFFFFFFFFFFFF\r\n", 413)
    decode_err(impl, b"8000000000000000\r\n", 413)  # 2**63, one above the default maximum
    decode_err(impl, b"11\r\n", 413, max_chunk_size=16)
    assert decode_ok(impl, b"00000000000000000005\r\nhello\r\n0\r\n\r\n")[0] == b"hello"
    # exactly the default maximum is accepted (then incomplete, not an error)
    dec = impl.ChunkedDecoder()
    assert dec.feed(b"7fffffffffffffff\r\nab") == b"ab" and not dec.done


def test_ch18_data_longer_than_declared(impl):
    """CH-18: anything but CRLF right after the declared octets is an error."""
    decode_err(impl, b"5\r\nhello!!\r\n0\r\n\r\n")


def test_ch19_octets_counted_not_lines(impl):
    """CH-19: ``hi\\r\\n0`` is read as the 5 data octets; then the empty size line fails."""
    dec = impl.ChunkedDecoder()
    with pytest.raises(ChunkedDecodeError):
        dec.feed(b"5\r\nhi\r\n0\r\n\r\n")
    dec = impl.ChunkedDecoder()
    assert dec.feed(b"5\r\nhi\r\n0\r\n") == b"hi\r\n0"
    with pytest.raises(ChunkedDecodeError):
        dec.feed(b"\r\n")


def test_ch20_missing_crlf_after_data(impl):
    """CH-20: data followed directly by the next size is an error."""
    decode_err(impl, b"5\r\nhello0\r\n\r\n")


def test_ch21_bare_lf_in_size_line(impl):
    """CH-21: a bare LF ending a size line fails strict, passes lenient (RFC 9112 2.2 MAY)."""
    decode_err(impl, b"5\nhello\r\n0\r\n\r\n")
    assert decode_ok(impl, b"5\nhello\r\n0\n\n", lenient=True)[0] == b"hello"
    assert decode_ok(impl, b"5;a=b\nhello\r\n0\nX: y\n\n", lenient=True)[:2] == (b"hello", [(b"x", b"y")])


def test_ch22_bare_lf_after_data_always_fails(impl):
    """CH-22: a bare LF after chunk data is an error in every mode."""
    decode_err(impl, b"5\r\nhello\n0\r\n\r\n")
    decode_err(impl, b"5\r\nhello\n0\r\n\r\n", lenient=True)


def test_ch23_bare_cr(impl):
    """CH-23: a bare CR in a size line, after data, or in trailers is an error in every mode."""
    for lenient in (False, True):
        decode_err(impl, b"5\rhello\r\n0\r\n\r\n", lenient=lenient)
        decode_err(impl, b"5\r\nhello\r0\r\n\r\n", lenient=lenient)
        decode_err(impl, b"0\r\nX: a\rb\r\n\r\n", lenient=lenient)
        decode_err(impl, b"0\r\n\rX", lenient=lenient)


@pytest.mark.parametrize(
    "data",
    [b"5;\r\n", b"5;=v\r\n", b"5;n=\r\n", b'5;n="open\r\n', b"5;n=\x00\r\n", b"5;n=v;\r\n",
     b"5;n v\r\n", b'5;n="a"b\r\n', b"5;n=a\x01\r\n", b'5;n="\x7f"\r\n', b'5;n="\\\x00"\r\n',
     b"5;n=a=b\r\n", b"5;;\r\n", b"5;n\x00\r\n"],
)
def test_ch24_malformed_extensions(impl, data):
    """CH-24: empty name, empty value, unterminated quote, CTL/NUL: errors in every mode."""
    decode_err(impl, data)
    decode_err(impl, data, lenient=True)


def test_ch25_extension_limit(impl):
    """CH-25: a 70000-byte extension fails once the limit is passed (400)."""
    decode_err(impl, b"5;" + b"a" * 70000 + b"\r\n")
    dec = impl.ChunkedDecoder()
    # fails while streaming, before any line end arrives (bounded, no buffering)
    with pytest.raises(ChunkedDecodeError):
        for i in range(0, 70000, 1000):
            dec.feed(b"5;" if i == 0 else b"a" * 1000)


@pytest.mark.parametrize("data", [b"", b"5\r\nhel", b"5\r\nhello\r\n", b"5\r\nhello\r\n0\r\n", b"5", b"5\r", b"5\r\nhello\r", b"0\r\nX: y\r\n", b"0\r\n\r"])
def test_ch26_eof_is_incomplete(impl, data):
    """CH-26: EOF before the final CRLF raises IncompleteBodyError, via close() and feed(b"")."""
    for eof in ("close", "feed"):
        dec = impl.ChunkedDecoder()
        if data:
            dec.feed(data)
        with pytest.raises(chunked.IncompleteBodyError) as info:
            dec.close() if eof == "close" else dec.feed(b"")
        assert isinstance(info.value, ChunkedDecodeError) and info.value.status_hint == 400
        with pytest.raises(ChunkedDecodeError):  # stays failed
            dec.feed(b"0\r\n\r\n")
    dec = impl.ChunkedDecoder()
    dec.feed(b"0\r\n\r\n")
    dec.close()
    assert dec.feed(b"") == b""


@pytest.mark.parametrize(
    "data",
    [b"0\r\nbad header\r\n\r\n", b"0\r\nX: a\r\n b\r\n\r\n", b"0\r\nX: a\x00b\r\n\r\n",
     b"0\r\n: v\r\n\r\n", b"0\r\nX : v\r\n\r\n", b"0\r\n X: v\r\n\r\n", b"0\r\nX\r\n\r\n",
     b"0\r\n(X): v\r\n\r\n", b"0\r\nX: a\n\r\n"],
)
def test_ch27_malformed_trailers(impl, data):
    """CH-27: malformed field line, obs-fold, NUL in a value: errors."""
    decode_err(impl, data)


def test_ch27_trailer_values(impl):
    """CH-27: OWS around a trailer value is stripped; HTAB and obs-text inside are kept."""
    data = b"0\r\nA:\t x\ty \xff \r\nB:\r\n\r\n"
    assert decode_ok(impl, data)[1] == [(b"a", b"x\ty \xff"), (b"b", b"")]


# -- framing (CH-28, CH-29): the shared pure helper -----------------------------


def test_ch28_te_and_cl(impl):
    """CH-28: TE chunked plus Content-Length: decode by chunked, ignore CL, close after."""
    f = impl.framing_for_request([(b"Content-Length", b"3"), (b"Transfer-Encoding", b"chunked")])
    assert f == impl.BodyFraming(chunked=True, content_length=None, must_close=True)
    f = impl.framing_for_request([("transfer-encoding", "chunked")])
    assert f == impl.BodyFraming(chunked=True, content_length=None, must_close=False)


@pytest.mark.parametrize(
    ("te", "status"),
    [
        ([b"chunked, chunked"], 400),
        ([b"chunked", b"chunked"], 400),
        ([b"gzip"], 400),
        ([b"chunked;x=y"], 400),
        ([b"chunked ; x=y"], 400),
        ([b"foo, chunked"], 501),
        ([b"gzip, chunked"], 501),
        ([b""], 400),
        ([b"chunked, gzip"], 400),
    ],
)
def test_ch29_bad_transfer_encoding(impl, te, status):
    """CH-29: doubled chunked, non-final chunked, parameters: 400; unknown codings: 501."""
    with pytest.raises(impl.FramingError) as info:
        impl.framing_for_request([(b"transfer-encoding", v) for v in te])
    assert info.value.status_hint == status
    assert isinstance(info.value, ChunkedDecodeError)


def test_ch29_valid_transfer_encoding(impl):
    """CH-29: ``Chunked`` is valid (case-insensitive), empty list elements ignored; HTTP/1.0 closes."""
    for te in (b"Chunked", b"CHUNKED", b" chunked ", b", chunked,"):
        assert impl.framing_for_request([(b"Transfer-Encoding", te)]).chunked
    f = impl.framing_for_request([(b"Transfer-Encoding", b"chunked")], http_version=b"1.0")
    assert f.must_close


def test_framing_content_length(impl):
    """RFC 9112 6.3: CL decides the length; identical list values pass; bad values 400."""
    assert impl.framing_for_request([]) == impl.BodyFraming(False, 0, False)
    assert impl.framing_for_request([(b"Content-Length", b"42")]).content_length == 42
    assert impl.framing_for_request([(b"Content-Length", b"7, 7"), (b"content-length", b"7")]).content_length == 7
    assert impl.framing_for_request([(b"Content-Length", b"9223372036854775807")]).content_length == 2**63 - 1
    for bad in (b"", b"-1", b"+1", b"1.0", b"0x10", b"7, 8", b"9223372036854775808", b"1 2", b"12345678901234567890"):
        with pytest.raises(impl.FramingError) as info:
            impl.framing_for_request([(b"Content-Length", bad)])
        assert info.value.status_hint == 400


# -- encoder (CH-30) -------------------------------------------------------------


def test_ch30_encoder(impl):
    """CH-30: hello; nothing for b""; 4096 bytes; last chunk with trailers; CR refused."""
    assert impl.encode_chunk(b"hello") == b"5\r\nhello\r\n"
    assert impl.encode_chunk(b"") == b""
    assert impl.encode_chunk(bytearray()) == b""
    big = bytes(range(256)) * 16
    assert impl.encode_chunk(big) == b"1000\r\n" + big + b"\r\n"
    assert impl.encode_chunk(memoryview(big)[:26]) == b"1a\r\n" + big[:26] + b"\r\n"
    assert impl.encode_chunk(bytearray(b"x" * 255)) == b"ff\r\n" + b"x" * 255 + b"\r\n"
    assert impl.encode_last_chunk([(b"Name", b"v")]) == b"0\r\nName: v\r\n\r\n"
    assert impl.encode_last_chunk() == b"0\r\n\r\n"
    assert impl.encode_last_chunk([]) == b"0\r\n\r\n"
    assert impl.encode_last_chunk([("A", "1"), ("B", "")]) == b"0\r\nA: 1\r\nB: \r\n\r\n"
    with pytest.raises(LocalProtocolError):
        impl.encode_last_chunk([(b"Name", b"a\rb")])


@pytest.mark.parametrize(
    "trailer",
    [(b"N", b"a\nb"), (b"N", b"a\x00b"), (b"", b"v"), (b"N:", b"v"), (b"N N", b"v"),
     (b"Content-Length", b"5"), (b"transfer-encoding", b"chunked"), (b"HOST", b"x"),
     (b"Content-Type", b"a/b"), (b"Authorization", b"x"), (b"N", b" v"), (b"N", b"v\t"),
     ("Ñ", "v"), ("N", "é")],
)
def test_ch30_encoder_refuses_bad_trailers(impl, trailer):
    """CH-30, RFC 9110 6.5.1: bad names/values and forbidden fields raise LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        impl.encode_last_chunk([trailer])


def test_encode_chunk_type_errors(impl):
    """Non-buffers are the caller's TypeError, in both twins."""
    for bad in ("abc", "", 5, None):
        with pytest.raises(TypeError):
            impl.encode_chunk(bad)
    with pytest.raises(TypeError):
        impl.ChunkedDecoder().feed("0\r\n\r\n")
    strided = memoryview(b"5\r\nhello\r\n")[::2]
    with pytest.raises(BufferError):
        impl.ChunkedDecoder().feed(strided)
    with pytest.raises(BufferError):
        impl.encode_chunk(strided)


def test_encode_chunk_sizes(impl):
    """Hex sizes are lower-case, unpadded, for sizes across digit boundaries."""
    for n in (1, 9, 10, 15, 16, 17, 255, 256, 4095, 4096, 65535, 65536, 1 << 20):
        assert impl.encode_chunk(b"a" * n) == b"%x\r\n" % n + b"a" * n + b"\r\n"


# -- limits at their boundaries ---------------------------------------------------


def test_limit_defaults():
    """The DEFAULT_MAX_* constants and their values (precedents in _chunked_common)."""
    assert chunked.DEFAULT_MAX_CHUNK_EXT_SIZE == 4096
    assert chunked.DEFAULT_MAX_TRAILER_SIZE == 16 * 1024
    assert chunked.DEFAULT_MAX_CHUNK_SIZE == 2**63 - 1


def test_limit_chunk_ext_size_default_boundary(impl):
    """max_chunk_ext_size default: 4096 extension bytes pass, 4097 fail (400)."""
    ok = b"5;" + b"a" * 4095 + b"\r\nhello\r\n0\r\n\r\n"
    assert decode_ok(impl, ok)[0] == b"hello"
    decode_err(impl, b"5;" + b"a" * 4096 + b"\r\nhello\r\n0\r\n\r\n")


@pytest.mark.parametrize("limit", [0, 2, 10])
def test_limit_chunk_ext_size_boundary(impl, limit):
    """max_chunk_ext_size counts extensions, BWS and extra leading zeros: at the limit passes, +1 fails."""
    ext = (b";" + b"a" * (limit - 1)) if limit else b""
    assert decode_ok(impl, b"5" + ext + b"\r\nhello\r\n0\r\n\r\n", max_chunk_ext_size=limit)[0] == b"hello"
    decode_err(impl, b"5" + ext + b"a\r\nhello\r\n0\r\n\r\n" if limit else b"5;a\r\n", max_chunk_ext_size=limit)
    zeros = b"0" * (limit + 1)  # the first zero is the size's own digit
    assert decode_ok(impl, zeros + b"5\r\nhello\r\n" + zeros + b"\r\n\r\n", max_chunk_ext_size=limit)[0] == b"hello"
    decode_err(impl, b"0" + zeros + b"5\r\n", max_chunk_ext_size=limit)
    if limit >= 5:
        ws = b" " * (limit - 4)  # plus ";a=b"
        assert decode_ok(impl, b"5" + ws + b";a=b\r\nhello\r\n0\r\n\r\n", max_chunk_ext_size=limit)[0] == b"hello"
        decode_err(impl, b"5 " + ws + b";a=b\r\nhello\r\n0\r\n\r\n", max_chunk_ext_size=limit)


@pytest.mark.parametrize("limit", [0, 8, 20, 16 * 1024])
def test_limit_trailer_size_boundary(impl, limit):
    """max_trailer_size counts field lines with CRLFs: at the limit passes, +1 fails (431)."""
    kw = {} if limit == 16 * 1024 else {"max_trailer_size": limit}
    if limit == 0:
        assert decode_ok(impl, b"0\r\n\r\n", **kw)[1] == []
        decode_err(impl, b"0\r\nX: a\r\n\r\n", 431, **kw)
        return
    line = b"X: " + b"a" * (limit - 5) + b"\r\n"
    assert len(line) == limit
    assert decode_ok(impl, b"0\r\n" + line + b"\r\n", **kw)[1] == [(b"x", b"a" * (limit - 5))]
    decode_err(impl, b"0\r\nX: a" + b"a" * (limit - 5) + b"\r\n\r\n", 431, **kw)


@pytest.mark.parametrize("limit", [0, 1, 16, 2**40])
def test_limit_chunk_size_boundary(impl, limit):
    """max_chunk_size: a chunk of exactly the limit passes, one more fails (413)."""
    dec = impl.ChunkedDecoder(max_chunk_size=limit)
    dec.feed(b"%x\r\n" % limit)
    decode_err(impl, b"%x\r\n" % (limit + 1), 413, max_chunk_size=limit)
    if limit <= 16:
        data = b"%x\r\n" % limit + b"z" * limit + b"\r\n" if limit else b""
        assert decode_ok(impl, data + b"0\r\n\r\n", max_chunk_size=limit)[0] == b"z" * limit


@pytest.mark.parametrize(
    ("kw", "exc"),
    [({"max_chunk_size": -1}, ValueError), ({"max_chunk_size": 2**63}, ValueError),
     ({"max_trailer_size": "1"}, TypeError), ({"max_chunk_ext_size": 1.0}, TypeError),
     ({"max_chunk_ext_size": True}, TypeError), ({"max_trailer_size": 2**62 + 1}, ValueError)],
)
def test_limit_settings_validated(impl, kw, exc):
    """Limit keywords must be ints in range: misuse raises TypeError/ValueError, not a protocol error."""
    with pytest.raises(exc):
        impl.ChunkedDecoder(**kw)


def test_decoder_attributes(impl):
    """The settings and state are readable attributes with the documented defaults."""
    dec = impl.ChunkedDecoder()
    assert (dec.max_chunk_ext_size, dec.max_trailer_size, dec.max_chunk_size) == (4096, 16384, 2**63 - 1)
    assert dec.lenient is False and dec.done is False
    assert dec.trailers == [] and dec.unused_data == b""
    dec = impl.ChunkedDecoder(lenient=1, max_chunk_size=5)
    assert dec.lenient is True and dec.max_chunk_size == 5


def test_error_state_is_sticky(impl):
    """After an error every later feed/close raises ChunkedDecodeError with the same hint."""
    dec = impl.ChunkedDecoder(max_chunk_size=1)
    with pytest.raises(ChunkedDecodeError) as first:
        dec.feed(b"2\r\n")
    assert first.value.status_hint == 413
    for call in (lambda: dec.feed(b"0\r\n\r\n"), dec.close, lambda: dec.feed(bytearray(b"x"))):
        with pytest.raises(ChunkedDecodeError) as again:
            call()
        assert again.value.status_hint == 413


def test_feed_accepts_buffers(impl):
    """bytes, bytearray, memoryview (also sliced, or of another item size) decode alike."""
    raw = b"5\r\nhello\r\n0\r\n\r\nrest"
    for data in (raw, bytearray(raw), memoryview(raw), memoryview(b"xx" + raw)[2:]):
        dec = impl.ChunkedDecoder()
        assert dec.feed(data) == b"hello" and dec.unused_data == b"rest"
    dec = impl.ChunkedDecoder()
    assert dec.feed(b"5\r\n") == b""
    assert dec.feed(bytearray(b"hel")) == b"hel"
    assert dec.feed(memoryview(b"lo\r\n0\r\n\r\n")) == b"lo"
    assert dec.done


def test_errors_are_remote_protocol_errors():
    """The codec's errors are ChunkedDecodeError subclasses, i.e. RemoteProtocolError."""
    assert issubclass(chunked.IncompleteBodyError, ChunkedDecodeError)
    assert issubclass(chunked.FramingError, ChunkedDecodeError)
    assert issubclass(ChunkedDecodeError, RemoteProtocolError)
    assert chunked.ChunkedDecodeError is ChunkedDecodeError
    assert _chunked_common.IncompleteBodyError is chunked.IncompleteBodyError


def test_selector_module():
    """``streamcore.chunked`` exposes the twin in use and its whole API."""
    assert chunked.IMPLEMENTATION in ("compiled", "pure")
    for name in chunked.__all__:
        assert hasattr(chunked, name), name
    assert chunked.ChunkedDecoder is chunked._impl.ChunkedDecoder


def test_encode_event_chunk_is_fused_sse_chunk():
    """``chunked.encode_event_chunk`` equals ``encode_chunk(sse.encode_event(...))``."""
    sse = pytest.importorskip("streamcore.sse")
    fn = getattr(chunked, "encode_event_chunk", None)
    if fn is None:
        pytest.skip("streamcore.sse.encode_event_chunk not available yet")
    assert fn is sse.encode_event_chunk
    cases = [
        ((b'{"jsonrpc":"2.0","id":1}',), {}),
        (("line1\nline2",), {"event": "message", "id": "7", "retry": 1000}),
        ((b"x" * 5000,), {"id": b"s1-99"}),
        ((None,), {"id": "only-id"}),
        (("",), {}),
    ]
    for args, kw in cases:
        assert fn(*args, **kw) == chunked.encode_chunk(sse.encode_event(*args, **kw))

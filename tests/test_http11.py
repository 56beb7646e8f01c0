"""streamcore's HTTP/1.1 server engine (streamcore._http11), checked against RFC 9112
and differentially against h11, the reference engine."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from types import ModuleType

from streamcore._http11 import (
    CLOSED,
    END,
    NEED_DATA,
    PAUSED,
    Http11Error,
    RequestHead,
    target_form,
)

# Every test taking ``impl`` runs on both twins (pure, compiled): conftest.py.
CODEC = "http11"


def drive(impl: ModuleType, raw: bytes, cuts: list[int] | None = None, **kw: object) -> list:
    """Feed ``raw`` (split at ``cuts``) and collect events until the first PAUSED."""
    conn = impl.Http11Connection(**kw)  # type: ignore[arg-type]
    pieces = []
    prev = 0
    for c in sorted(set(cuts or [])):
        if 0 < c < len(raw):
            pieces.append(raw[prev:c])
            prev = c
    pieces.append(raw[prev:])
    out: list = []
    body = bytearray()
    for p in pieces:
        conn.receive_data(p)
        while True:
            ev = conn.next_event()
            if ev is NEED_DATA:
                break
            if type(ev) is bytes:
                body += ev
                continue
            if ev is PAUSED:
                out.append(("body", bytes(body)))
                return out
            out.append(ev)
    out.append(("body", bytes(body)))
    return out


GOOD = (
    b"POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello"
)


def test_simple_request_whole_and_split(impl: ModuleType) -> None:
    """A Content-Length request parses the same whole and byte by byte (RFC 9112 6.2)."""
    whole = drive(impl, GOOD)
    bytewise = drive(impl, GOOD, list(range(len(GOOD))))
    assert whole == bytewise
    head = whole[0]
    assert isinstance(head, RequestHead)
    assert (head.method, head.target, head.http_version) == (b"POST", b"/mcp", b"1.1")
    assert head.headers == [(b"host", b"a"), (b"content-type", b"application/json"), (b"content-length", b"5")]
    assert whole[1] is END and whole[2] == ("body", b"hello")


def test_chunked_request_body(impl: ModuleType) -> None:
    """A chunked request body is decoded by streamcore.chunked (RFC 9112 7.1)."""
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n"
    evs = drive(impl, raw, [3, 40, 60])
    assert evs[-1] == ("body", b"hello!") and END in evs


def test_pipelined_requests_wait_for_the_response(impl: ModuleType) -> None:
    """PAUSED after a request until the response is done; then the next one parses."""
    conn = impl.Http11Connection()
    conn.receive_data(GOOD + b"GET /mcp HTTP/1.1\r\nHost: a\r\n\r\n")
    assert isinstance(conn.next_event(), RequestHead)
    assert conn.next_event() == b"hello"
    assert conn.next_event() is END
    assert conn.next_event() is PAUSED
    out = conn.response_head(202, [(b"content-length", b"0")]) + conn.response_end()
    assert out == b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"
    assert conn.keep_alive and conn.request_complete
    conn.start_next_cycle()
    head = conn.next_event()
    assert head.method == b"GET" and conn.next_event() is END


def test_streaming_response_is_chunked(impl: ModuleType) -> None:
    """An SSE response (unknown length) is chunked on HTTP/1.1 and ends with the last chunk."""
    conn = impl.Http11Connection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.next_event(), conn.next_event()
    out = conn.response_head(200, [(b"content-type", b"text/event-stream")], streaming=True)
    assert out.endswith(b"transfer-encoding: chunked\r\n\r\n") and conn.chunked_output
    assert conn.response_data(b"data: x\n\n") == b"9\r\ndata: x\n\n\r\n"
    assert conn.response_data(b"") == b""  # never a premature last chunk (CH-30)
    assert conn.response_end() == b"0\r\n\r\n"


def test_http10_streaming_is_close_delimited(impl: ModuleType) -> None:
    """RFC 9112 6.3: no chunked to an HTTP/1.0 client; the body ends with the connection."""
    conn = impl.Http11Connection()
    conn.receive_data(b"GET / HTTP/1.0\r\n\r\n")
    conn.next_event(), conn.next_event()
    out = conn.response_head(200, [], streaming=True)
    assert b"transfer-encoding" not in out and b"connection: close" in out and not conn.chunked_output
    assert conn.response_data(b"abc") == b"abc" and conn.response_end() == b""
    assert not conn.keep_alive


def test_connection_close_and_eof(impl: ModuleType) -> None:
    """Connection: close ends keep-alive; EOF between requests is CLOSED, mid-request an error."""
    conn = impl.Http11Connection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    conn.next_event(), conn.next_event()
    conn.response_head(200, [(b"content-length", b"0")])
    assert not conn.keep_alive
    c2 = impl.Http11Connection()
    c2.receive_data(b"")
    assert c2.next_event() is CLOSED
    c3 = impl.Http11Connection()
    c3.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc")
    c3.next_event(), c3.next_event()
    c3.receive_data(b"")
    with pytest.raises(Http11Error):
        c3.next_event()


def test_expect_continue(impl: ModuleType) -> None:
    """Expect: 100-continue with a body is reported, so the adapter can send the interim response."""
    (head, *_rest) = drive(impl, b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
    assert head.expect_continue


@pytest.mark.parametrize(
    "raw,status",
    [
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),  # two Hosts
        (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),  # obs-fold
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),  # space before colon
        (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400),  # NUL in a value (HTTP-04)
        (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),  # bare CR
        (b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400),  # bare LF
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),  # double space
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400),  # not HTTP/1.x
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", 400),  # CH-29 style
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),  # CH-29
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501),  # CH-29
    ],
)
def test_refusals(impl: ModuleType, raw: bytes, status: int) -> None:
    """Each malformed head raises Http11Error with the right status_hint (RFC 9112 3, 5, 6)."""
    with pytest.raises(Http11Error) as info:
        drive(impl, raw)
    assert info.value.status_hint == status


def test_te_with_cl_decodes_chunked_and_closes(impl: ModuleType) -> None:
    """CH-28: Transfer-Encoding with Content-Length: chunked wins, connection closed after the response."""
    conn = impl.Http11Connection()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
    assert isinstance(conn.next_event(), RequestHead)
    assert conn.next_event() == b"x" and conn.next_event() is END
    conn.response_head(200, [(b"content-length", b"0")])
    assert not conn.keep_alive


def test_head_size_limit_boundary(impl: ModuleType) -> None:
    """max_head_size: a head of exactly the limit parses; one byte more is 431."""
    base = b"GET / HTTP/1.1\r\nHost: a\r\nX: "
    pad = 200 - len(base) - 4
    raw = base + b"y" * pad + b"\r\n\r\n"
    assert len(raw) == 200
    assert isinstance(drive(impl, raw, max_head_size=200)[0], RequestHead)
    raw2 = base + b"y" * (pad + 1) + b"\r\n\r\n"
    with pytest.raises(Http11Error) as info:
        drive(impl, raw2, max_head_size=200)
    assert info.value.status_hint == 431
    with pytest.raises(Http11Error):  # also without ever seeing the terminator
        drive(impl, b"GET / HTTP/1.1\r\nX: " + b"z" * 300, max_head_size=200)


def test_field_count_limit(impl: ModuleType) -> None:
    """max_fields: at the limit passes, one more is 431."""
    fields = b"".join(b"X%d: v\r\n" % i for i in range(9))
    assert isinstance(drive(impl, b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n", max_fields=10)[0], RequestHead)
    with pytest.raises(Http11Error):
        drive(impl, b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"X: v\r\n\r\n", max_fields=10)


def test_early_refusal_closes(impl: ModuleType) -> None:
    """A response sent before the body was read forces the connection closed."""
    conn = impl.Http11Connection()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
    conn.next_event()
    out = conn.response_head(406, [(b"content-length", b"0")])
    assert b"connection: close" in out and not conn.keep_alive


# -- differential: h11 as the reference ---------------------------------------

def h11_parse(raw: bytes) -> tuple:
    c = h11.Connection(h11.SERVER)
    c.receive_data(raw)
    c.receive_data(b"")  # EOF: an incomplete message is an error, not a wait
    body = bytearray()
    try:
        ev = c.next_event()
        if ev is h11.NEED_DATA:
            return ("need",)
        head = (ev.method, ev.target, [(n, v) for n, v in ev.headers])
        while True:
            ev = c.next_event()
            if ev is h11.NEED_DATA:
                return ("need",)
            if type(ev) is h11.Data:
                body += ev.data
            elif type(ev) is h11.EndOfMessage:
                return ("ok", head, bytes(body))
    except h11.RemoteProtocolError:
        return ("error",)


def ours_parse(impl: ModuleType, raw: bytes) -> tuple:
    c = impl.Http11Connection()
    c.receive_data(raw)
    c.receive_data(b"")
    body = bytearray()
    try:
        ev = c.next_event()
        if ev is NEED_DATA:
            return ("need",)
        head = (ev.method, ev.target, ev.headers)
        while True:
            ev = c.next_event()
            if ev is NEED_DATA:
                return ("need",)
            if type(ev) is bytes:
                body += ev
            elif ev is END:
                return ("ok", head, bytes(body))
    except Http11Error:
        return ("error",)


token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=12)
value = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ;=/,0123456789", max_size=20).map(str.strip)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([b"GET", b"POST", b"DELETE"]))
    fields = draw(st.lists(st.tuples(token, value), max_size=6))
    body = draw(st.binary(max_size=50))
    lines = [method + b" /mcp HTTP/1.1", b"Host: 127.0.0.1:8000"]
    lines += [f"X-{n}: {v}".encode() for n, v in fields]
    if body or method == b"POST":
        if draw(st.booleans()):
            lines.append(b"Content-Length: %d" % len(body))
            payload = body
        else:
            lines.append(b"Transfer-Encoding: chunked")
            payload = (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    else:
        payload = b""
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


@settings(max_examples=1000, deadline=None)
@given(requests(), st.data())
def test_agrees_with_h11_on_valid_and_corrupted_requests(impl: ModuleType, raw: bytes, data: st.DataObject) -> None:
    """Random requests, optionally with one byte changed: same head, body and verdict as h11,
    except where our policy is deliberately stricter (docs/server.md, "HTTP/1.1 engine"):
    a bare LF as a line end (in the head or the chunked framing), CTL characters (other
    than HTAB) in the head, obs-fold, and request-targets outside RFC 9112 3.2's forms
    (or in a form their method may not use), all of which h11 accepts (RFC 9112 2.2 and 5.2
    and RFC 9110 5.5 allow refusing them)."""
    if data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(raw) - 1))
        b = data.draw(st.sampled_from([0, 9, 10, 13, 32, 58, 0x7F, 0xFF, ord("a")]))
        raw = raw[:i] + bytes([b]) + raw[i + 1 :]
    ours, ref = ours_parse(impl, raw), h11_parse(raw)
    if ours != ref:
        head = raw.split(b"\r\n\r\n", 1)[0]
        bare_lf = b"\n" in raw.replace(b"\r\n", b"")
        ctl = any(c < 0x20 and c not in (9, 10, 13) or c == 0x7F for c in head)
        obs_fold = any(line[:1] in (b" ", b"\t") for line in head.split(b"\r\n")[1:])
        # The request-target syntax of RFC 9112 3.2, which h11 checks only loosely.
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        bad_target = len(parts) == 3 and target_form(parts[0], parts[1]) is None
        assert ours == ("error",) and (bare_lf or ctl or obs_fold or bad_target), (raw, ours, ref)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_raises_only_http11error(impl: ModuleType, raw: bytes) -> None:
    """Any bytes: events or Http11Error, never another exception, and no unbounded loop."""
    conn = impl.Http11Connection(max_head_size=256)
    conn.receive_data(raw)
    try:
        for _ in range(1000):
            ev = conn.next_event()
            if ev is NEED_DATA or ev is PAUSED:
                break
    except Http11Error:
        pass


# -- issue 10: heads, targets, numbers, HEAD, buffered input ---------------------


@pytest.mark.parametrize("raw", [b"GET /mcp HTTP/1.1\nHost: a\n", b"GET /mcp HTTP/1.1\rHost: a", b"GET /mcp\n"])
def test_bare_lf_or_cr_refused_before_the_head_ends(impl: ModuleType, raw: bytes) -> None:
    """A bare LF or CR is refused as soon as it arrives (the head need not be complete)."""
    conn = impl.Http11Connection()
    conn.receive_data(raw)
    with pytest.raises(Http11Error) as e:
        conn.next_event()
    assert e.value.status_hint == 400


def test_a_final_cr_waits_for_its_lf(impl: ModuleType) -> None:
    """A CR at the end of what has arrived may be half of a CRLF: not refused yet."""
    conn = impl.Http11Connection()
    conn.receive_data(b"GET /mcp HTTP/1.1\r")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"\nHost: a\r\n\r\n")
    assert isinstance(conn.next_event(), RequestHead)


@pytest.mark.parametrize("method,target,form", [
    (b"POST", b"/mcp", "origin"), (b"GET", b"/mcp?a=1&b=%20/?", "origin"), (b"GET", b"/", "origin"),
    (b"POST", b"http://127.0.0.1:8000/mcp", "absolute"), (b"POST", b"HTTPS://[::1]/mcp?x", "absolute"),
    (b"OPTIONS", b"*", "asterisk"), (b"CONNECT", b"example.com:443", "authority"),
    (b"POST", b"*", None), (b"POST", b"example.com:443", None), (b"POST", b"/a%2", None),
    (b"POST", b"http://user@host/", None), (b"POST", b"ftp://host/", None), (b"POST", b"http:///mcp", None),
    (b"POST", b"/a\\b", None), (b"POST", b"mcp", None), (b"POST", b"/a#frag", None),
])
def test_target_forms(impl: ModuleType, method: bytes, target: bytes, form: str | None) -> None:
    """RFC 9112 3.2: each form, and the method that may use it."""
    assert target_form(method, target) == form
    conn = impl.Http11Connection()
    conn.receive_data(method + b" " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    if form is None:
        with pytest.raises(Http11Error):
            conn.next_event()
    else:
        ev = conn.next_event()
        assert isinstance(ev, RequestHead) and ev.target_form == form


@pytest.mark.parametrize("value,ok", [(b"1" * 19, True), (b"1" * 20, False), (b"9" * 5000, False),
                                      (b"\xc2\xb2", False), (b"0012", True), (b"-1", False)])
def test_content_length_digits_bound(impl: ModuleType, value: bytes, ok: bool) -> None:
    """Content-Length: 1 to 19 ASCII digits (the boundary is 19), else 400; never int() on more."""
    conn = impl.Http11Connection()
    conn.receive_data(b"POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Length: " + value + b"\r\n\r\n")
    if ok:
        assert isinstance(conn.next_event(), RequestHead)
    else:
        with pytest.raises(Http11Error) as e:
            conn.next_event()
        assert e.value.status_hint == 400


def test_head_response_has_no_body(impl: ModuleType) -> None:
    """A HEAD request's response carries no body bytes and no chunked framing (RFC 9110 9.3.2)."""
    conn = impl.Http11Connection()
    conn.receive_data(b"HEAD /mcp HTTP/1.1\r\nHost: a\r\n\r\n")
    assert isinstance(conn.next_event(), RequestHead)
    assert conn.body_suppressed
    head = conn.response_head(200, [], streaming=True)
    assert b"transfer-encoding" not in head
    assert conn.response_data(b"abc") == b"" and conn.response_end() == b""


def test_crlf_between_requests_whole_or_split(impl: ModuleType) -> None:
    """Empty lines between requests are ignored however they arrive (a fuzzer find:
    whole input used to give 400 where byte-by-byte input gave a clean close)."""
    raw = b"GET /mcp HTTP/1.1\r\nHost: a\r\n\r\n\r\n\r\n"
    for pieces in ([raw], [bytes([b]) for b in raw]):
        conn = impl.Http11Connection()
        out = []
        for p in [*pieces, b""]:
            conn.receive_data(p)
            while True:
                ev = conn.next_event()
                if ev is PAUSED:
                    conn.response_head(200, [(b"content-length", b"0")])
                    conn.response_end()
                    conn.start_next_cycle()
                    continue
                out.append(ev if not isinstance(ev, RequestHead) else "head")
                if ev is NEED_DATA or ev is CLOSED:
                    break
        assert [e for e in out if e is not NEED_DATA] == ["head", END, CLOSED]


def test_buffered_reports_pipelined_bytes(impl: ModuleType) -> None:
    """buffered counts received, unparsed bytes (the adapter pauses reading past its bound)."""
    conn = impl.Http11Connection()
    conn.receive_data(b"GET /mcp HTTP/1.1\r\nHost: a\r\n\r\n" + b"x" * 1000)
    assert isinstance(conn.next_event(), RequestHead)
    assert conn.next_event() is END and conn.next_event() is PAUSED
    assert conn.buffered == 1000


# -- the twins agree (issue 15) ---------------------------------------------------


def _trace(mod: ModuleType, pieces: list[bytes]) -> list[object]:
    """Every event, error message and status hint, and each response's bytes, for ``pieces``."""
    conn = mod.Http11Connection(max_head_size=512, max_fields=8)
    out: list[object] = []
    try:
        for piece in [*pieces, b""]:
            conn.receive_data(piece)
            for _ in range(1000):
                ev = conn.next_event()
                out.append(ev if isinstance(ev, (bytes, tuple)) else repr(ev))
                if ev is NEED_DATA or ev is CLOSED:
                    break
                if ev is PAUSED:
                    out.append(conn.response_head(200, [(b"content-type", b"text/event-stream")], streaming=True))
                    out.append(conn.response_data(b"data: x\n\n"))
                    out.append((conn.response_end(), conn.keep_alive, conn.request_complete, conn.buffered))
                    if not (conn.keep_alive and conn.request_complete):
                        return out
                    conn.start_next_cycle()
    except Http11Error as exc:
        out.append(("error", str(exc), exc.status_hint))
    return out


_BYTES = st.sampled_from([b"GET", b"POST", b" ", b"/mcp", b"/a%2F?q=1", b"*", b"http://h/x", b"HTTP/1.1", b"HTTP/1.0",
                          b"\r\n", b"\n", b"\r", b"Host: a", b"HOST:b", b"X-A:\t v \t", b"Content-Length: 3",
                          b"Content-Length: 03", b"Transfer-Encoding: chunked", b"Connection: close",
                          b"Expect: 100-continue", b"abc", b"3\r\nabc\r\n0\r\n\r\n", b"\x00", b"\x7f", b"\xff", b":"])


@settings(max_examples=600, deadline=None)
@given(st.lists(_BYTES, max_size=30), st.lists(st.integers(0, 200), max_size=4))
def test_compiled_twin_matches_the_pure_one(raw_parts: list[bytes], cuts: list[int]) -> None:
    """The compiled engine gives the pure one's events, errors (message and status) and
    response bytes on near-valid and broken requests, whole or cut anywhere."""
    from _twins import twins

    mods = twins("http11")
    if len(mods) < 2:
        pytest.skip("the compiled twin is not built (STREAMCORE_NO_EXTENSIONS, or no compiler)")
    raw = b"".join(raw_parts)
    pieces, prev = [], 0
    for c in sorted(set(cuts)):
        if prev < c < len(raw):
            pieces.append(raw[prev:c])
            prev = c
    pieces.append(raw[prev:])
    for shape in ([raw], pieces):
        assert _trace(mods[0], shape) == _trace(mods[1], shape), shape

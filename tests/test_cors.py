"""streamcore.cors: the sans-IO CORS policy for MCP browser clients."""

from __future__ import annotations

import pytest

from streamcore.cors import MAX_REQUEST_HEADERS, MCP_EXPOSE_HEADERS, CorsPolicy

APP = "https://app.example"


def _pre(origin: bytes, method: bytes = b"POST", asked: bytes | None = None) -> list[tuple[bytes, bytes]]:
    h = [(b"origin", origin), (b"access-control-request-method", method)]
    if asked is not None:
        h.append((b"access-control-request-headers", asked))
    return h


def test_preflight_allows_mcp_methods_and_headers() -> None:
    """POST, GET and DELETE with the MCP request headers (any case, and Mcp-Param-*) are allowed."""
    p = CorsPolicy(allowed_origins=(APP,))
    for method in (b"POST", b"GET", b"DELETE"):
        status, h = p.preflight(_pre(APP.encode(), method,
                                     b"Content-Type, MCP-Protocol-Version, Mcp-Session-Id, Last-Event-ID, "
                                     b"Mcp-Method, Mcp-Name, Mcp-Param-Region, authorization"))
        d = dict(h)
        assert status == 204
        assert d[b"access-control-allow-origin"] == APP.encode()
        assert d[b"access-control-allow-methods"] == b"POST, GET, DELETE"
        assert b"mcp-param-region" in d[b"access-control-allow-headers"]
        assert d[b"vary"] == b"origin" and b"access-control-allow-credentials" not in d


@pytest.mark.parametrize("pre", [
    _pre(b"https://evil.example"),
    _pre(APP.encode(), b"PUT"),
    _pre(APP.encode(), b"POST", b"x-custom"),
    _pre(APP.encode(), b"POST", b"mcp-param-"),
    _pre(b"null"),
    [(b"access-control-request-method", b"POST")],
])
def test_preflight_refusals_carry_no_allow_headers(pre: list[tuple[bytes, bytes]]) -> None:
    """A refused preflight is 403 with no Access-Control-Allow-* at all."""
    status, h = CorsPolicy(allowed_origins=(APP,)).preflight(pre)
    assert status == 403 and not any(k.startswith(b"access-control-allow") for k, _ in h)


def test_requested_header_count_is_bounded() -> None:
    """Exactly MAX_REQUEST_HEADERS names are answered; one more is refused."""
    p = CorsPolicy(allowed_origins=(APP,))
    names = [f"mcp-param-p{i}".encode() for i in range(MAX_REQUEST_HEADERS + 1)]
    assert p.preflight(_pre(APP.encode(), b"POST", b",".join(names[:-1])))[0] == 204
    assert p.preflight(_pre(APP.encode(), b"POST", b",".join(names)))[0] == 403


def test_response_headers_expose_the_session_id() -> None:
    """An allowed origin may read Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate, Retry-After."""
    d = dict(CorsPolicy(allowed_origins=(APP,), extra_expose_headers=("X-Trace",)).response_headers(
        [(b"origin", APP.encode())]))
    exposed = d[b"access-control-expose-headers"].split(b", ")
    assert [e.decode() for e in exposed] == [*MCP_EXPOSE_HEADERS, "x-trace"]
    assert d[b"access-control-allow-origin"] == APP.encode()


def test_response_headers_for_other_origins_only_vary() -> None:
    """No Origin, or one not allowed: only Vary: Origin (caches must not mix the answers)."""
    p = CorsPolicy(allowed_origins=(APP,))
    assert p.response_headers([]) == [(b"vary", b"origin")]
    assert p.response_headers([(b"origin", b"https://evil.example")]) == [(b"vary", b"origin")]


def test_no_wildcard_with_credentials() -> None:
    """'*' with allow_credentials is refused (browsers reject it); credentials echo the exact origin."""
    with pytest.raises(ValueError, match="wildcard"):
        CorsPolicy(allowed_origins=("*",), allow_credentials=True)
    p = CorsPolicy(allowed_origins=(APP,), allow_credentials=True)
    d = dict(p.response_headers([(b"origin", APP.encode())]))
    assert d[b"access-control-allow-origin"] == APP.encode()
    assert d[b"access-control-allow-credentials"] == b"true"
    assert dict(p.preflight(_pre(APP.encode()))[1])[b"access-control-allow-credentials"] == b"true"


def test_wildcard_without_credentials() -> None:
    """'*' answers '*' and turns the core's Origin check off (origin_hosts is None); 'null' stays refused."""
    p = CorsPolicy(allowed_origins=("*",))
    assert dict(p.response_headers([(b"origin", b"https://any.example")]))[b"access-control-allow-origin"] == b"*"
    assert p.origin_hosts is None
    assert not p.allows_origin(b"null")


def test_origins_are_normalized() -> None:
    """Scheme and host compare case-insensitively and default ports are dropped (RFC 6454)."""
    p = CorsPolicy(allowed_origins=("HTTPS://App.Example:443", "http://localhost:5173"))
    assert p.allowed_origins == ("https://app.example", "http://localhost:5173")
    assert p.allows_origin(b"https://app.example") and p.allows_origin(b"https://APP.example:443")
    assert not p.allows_origin(b"http://app.example") and not p.allows_origin(b"http://localhost:5174")
    assert not p.allows_origin(b"\xff")
    assert p.origin_hosts == ("app.example", "localhost")


@pytest.mark.parametrize("bad", [(), ("app.example",), ("https://a.example/path",), ("ftp://a.example",),
                                 ("https://u:p@a.example",)])
def test_bad_origins_are_refused(bad: tuple[str, ...]) -> None:
    """Origins must be scheme://host[:port]; an empty list is refused."""
    with pytest.raises(ValueError):
        CorsPolicy(allowed_origins=bad)


def test_bad_settings_are_refused() -> None:
    """Header names and max_age are validated."""
    with pytest.raises(ValueError):
        CorsPolicy(allowed_origins=(APP,), extra_request_headers=("bad header",))
    with pytest.raises(ValueError):
        CorsPolicy(allowed_origins=(APP,), max_age=-1)
    with pytest.raises(ValueError):
        CorsPolicy(allowed_origins=APP)  # type: ignore[arg-type]


def test_is_preflight() -> None:
    """Only OPTIONS with Origin and Access-Control-Request-Method is a preflight."""
    assert CorsPolicy.is_preflight(b"OPTIONS", _pre(APP.encode()))
    assert not CorsPolicy.is_preflight(b"OPTIONS", [(b"origin", APP.encode())])
    assert not CorsPolicy.is_preflight(b"POST", _pre(APP.encode()))


def test_refuses_is_exact_and_lets_the_own_origin_through() -> None:
    """refuses(): an Origin neither allowed nor scheme://Host is refused (SEC-02, AMB-18 for null);
    a listed one, the server's own, and no Origin at all are not."""
    p = CorsPolicy(allowed_origins=("http://127.0.0.1:5173",))
    host = (b"host", b"127.0.0.1:8000")
    assert not p.refuses([host])
    assert not p.refuses([host, (b"origin", b"http://127.0.0.1:5173")])
    assert not p.refuses([host, (b"origin", b"http://127.0.0.1:8000")])
    assert p.refuses([host, (b"origin", b"https://127.0.0.1:8000")])  # another scheme
    assert not p.refuses([(b"host", b"127.0.0.1:443"), (b"origin", b"https://127.0.0.1")], scheme="https")
    assert p.refuses([host, (b"origin", b"http://127.0.0.1:5174")])
    assert p.refuses([host, (b"origin", b"http://localhost:5173")])
    assert p.refuses([host, (b"origin", b"null")])
    assert p.refuses([(b"origin", b"http://127.0.0.1:8000")])  # no Host to compare with
    assert p.refuses([(b"host", b"127.0.0.1:99999"), (b"origin", b"http://127.0.0.1:8000")])
    assert p.refuses([host, (b"origin", b"\xff")])

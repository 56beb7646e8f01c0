"""The resource-server side (``streamcore.auth``): PRM document, BearerAuth through the server core, verifiers."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from streamcore.auth import (
    AccessToken,
    AuthChallenge,
    BearerAuth,
    IntrospectionVerifier,
    JwtVerifier,
    ProtectedResource,
    StaticTokens,
    bearer_token,
    parse_www_authenticate,
)
from streamcore.events import ResponseHead
from streamcore.server import Server, ServerConfig

URL = "http://127.0.0.1:8000/mcp"
PR = ProtectedResource(URL, ["https://as.example.com"], scopes_supported=["read", "write"])
GOOD = AccessToken(subject="u1", client_id="c1", token="good", scopes=frozenset({"read"}), audience=(URL,))
TOKENS = StaticTokens({
    "good": GOOD,
    "expired": AccessToken(subject="u1", token="expired", scopes=frozenset({"read"}), audience=(URL,), expires_at=1.0),
    "other-aud": AccessToken(subject="u1", token="other-aud", scopes=frozenset({"read"}),
                             audience=("http://127.0.0.1:9999/mcp",)),
    "no-aud": AccessToken(subject="u1", token="no-aud", scopes=frozenset({"read"})),
    "readwrite": AccessToken(subject="u1", token="readwrite", scopes=frozenset({"read", "write"}), audience=(URL,)),
})


def test_protected_resource_document_and_path() -> None:
    """RFC 9728 section 3.1: the well-known path has the resource's path appended; the document names the AS."""
    assert PR.metadata_path == "/.well-known/oauth-protected-resource/mcp"
    assert PR.metadata_url == "http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp"
    doc = json.loads(PR.document())
    assert doc["resource"] == URL and doc["authorization_servers"] == ["https://as.example.com"]
    assert doc["scopes_supported"] == ["read", "write"] and doc["bearer_methods_supported"] == ["header"]
    root = ProtectedResource("https://mcp.example.com/", ["https://as"])
    assert root.metadata_path == "/.well-known/oauth-protected-resource" and root.resource == "https://mcp.example.com"
    with pytest.raises(Exception):
        ProtectedResource(URL, [])
    with pytest.raises(Exception):
        ProtectedResource("/mcp", ["https://as"])


def _check(auth: BearerAuth, value: bytes | None) -> AccessToken | AuthChallenge:
    headers = [(b"authorization", value)] if value is not None else []
    try:
        return auth(headers)
    except AuthChallenge as exc:
        return exc


def test_bearer_auth_verdicts() -> None:
    """Missing: 401 with resource_metadata and scope, no error; invalid, expired, wrong audience: 401
    invalid_token; valid without a required scope: 403 insufficient_scope; valid: the AccessToken."""
    auth = BearerAuth(TOKENS, PR, required_scopes=["read"])
    r = _check(auth, None)
    assert isinstance(r, AuthChallenge) and r.status_hint == 401
    p = parse_www_authenticate(r.www_authenticate.decode())
    assert p == {"resource_metadata": PR.metadata_url, "scope": "read"}
    for value in (b"Bearer nope", b"Bearer expired", b"Bearer other-aud", b"Bearer no-aud", b"Bearer a b",
                  b"Bearer", b"Bearer \xff"):
        r = _check(auth, value)
        assert isinstance(r, AuthChallenge) and r.status_hint == 401, value
        assert parse_www_authenticate(r.www_authenticate.decode())["error"] == "invalid_token"  # type: ignore[index]
    assert _check(auth, b"Bearer good") == GOOD
    assert _check(auth, b"bearer good") == GOOD  # the scheme is case-insensitive (RFC 9110 section 11.1)
    assert isinstance(_check(auth, b"Basic Zm9vOmJhcg=="), AuthChallenge)
    step = BearerAuth(TOKENS, PR, required_scopes=["read", "write"])
    r = _check(step, b"Bearer good")
    assert isinstance(r, AuthChallenge) and r.status_hint == 403
    p = parse_www_authenticate(r.www_authenticate.decode())
    assert p is not None and p["error"] == "insufficient_scope" and p["scope"] == "read write"
    assert _check(step, b"Bearer readwrite") == TOKENS.tokens["readwrite"]
    lax = BearerAuth(TOKENS, PR, check_audience=False)
    assert isinstance(_check(lax, b"Bearer no-aud"), AccessToken)


def test_token_size_limit_boundary() -> None:
    """An Authorization value of max_size bytes is read; one byte more is rejected unread."""
    value = b"Bearer " + b"a" * (100 - 7)
    assert len(value) == 100
    assert bearer_token([(b"authorization", value)], max_size=100) == "a" * 93
    with pytest.raises(ValueError):
        bearer_token([(b"authorization", value + b"a")], max_size=100)
    with pytest.raises(ValueError):
        bearer_token([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")])


def test_identity_survives_token_refresh() -> None:
    """The core binds sessions to the identity: two tokens of one subject and client compare equal."""
    a = AccessToken(subject="u", client_id="c", issuer="i", token="t1", scopes=frozenset({"a"}))
    b = AccessToken(subject="u", client_id="c", issuer="i", token="t2", scopes=frozenset({"b"}), expires_at=5.0)
    assert a == b and hash(a) == hash(b)
    assert a != AccessToken(subject="v", client_id="c", issuer="i")


def _post(server: Server, headers: list[tuple[bytes, bytes]]) -> ResponseHead:
    base = [(b"host", b"127.0.0.1:8000"), (b"accept", b"application/json, text/event-stream"),
            (b"content-type", b"application/json")]
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}).encode()
    xid = server.receive_request(b"POST", b"/mcp", base + headers + [(b"content-length", b"%d" % len(body))], now=0.0)
    server.receive_body(xid, body)
    server.receive_end(xid, now=0.0)
    while (ev := server.next_event()) is not None:
        if isinstance(ev, ResponseHead) and ev.xid == xid:
            return ev
    raise AssertionError("no response head")


def test_through_the_server_core() -> None:
    """ServerConfig(authenticate=BearerAuth(...)): 401 and 403 carry the challenge; a good token reaches the app."""
    server = Server(ServerConfig(authenticate=BearerAuth(TOKENS, PR, required_scopes=["read"])))
    h = _post(server, [])
    assert h.status == 401
    www = dict(h.headers)[b"www-authenticate"]
    assert www.startswith(b"Bearer resource_metadata=")
    assert _post(server, [(b"authorization", b"Bearer nope")]).status == 401
    strict = Server(ServerConfig(authenticate=BearerAuth(TOKENS, PR, required_scopes=["read", "write"])))
    assert _post(strict, [(b"authorization", b"Bearer good")]).status == 403
    ok = Server(ServerConfig(authenticate=BearerAuth(TOKENS, PR, required_scopes=["read"])))
    xid = ok.receive_request(b"POST", b"/mcp", [(b"host", b"127.0.0.1:8000"), (b"authorization", b"Bearer good"),
                                                 (b"accept", b"application/json, text/event-stream"),
                                                 (b"content-type", b"application/json")], now=0.0)
    ok.receive_body(xid, b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
                         b'"capabilities":{},"clientInfo":{"name":"t","version":"0"}}}')
    ok.receive_end(xid, now=0.0)
    evs = []
    while (ev := ok.next_event()) is not None:
        evs.append(ev)
    got = [e for e in evs if type(e).__name__ == "RequestReceived"]
    assert got and got[0].identity == GOOD


def _jwt_setup() -> tuple[Any, dict[str, Any]]:
    jwt = pytest.importorskip("jwt")
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "use": "sig"})
    return key, {"keys": [jwk]}


def test_jwt_verifier() -> None:
    """Good token; wrong issuer, expired, unknown kid, alg none, garbage: not valid (None), never an exception."""
    import jwt

    key, jwks = _jwt_setup()
    v = JwtVerifier(jwks, issuer="https://as")
    now = int(time.time())
    claims = {"iss": "https://as", "sub": "u", "aud": URL, "scope": "read write", "exp": now + 60, "client_id": "c"}
    good = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})
    at = v.verify(good, now=now)
    assert at is not None and at.scopes == {"read", "write"} and at.audience == (URL,) and at.subject == "u"
    assert v.verify(jwt.encode({**claims, "iss": "https://evil"}, key, algorithm="ES256", headers={"kid": "k1"}),
                    now=now) is None
    assert v.verify(jwt.encode({**claims, "exp": now - 100}, key, algorithm="ES256", headers={"kid": "k1"}),
                    now=now) is None
    assert v.verify(jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k2"}), now=now) is None
    assert v.verify(jwt.encode(claims, None, algorithm="none"), now=now) is None
    assert v.verify("not.a.jwt", now=now) is None
    assert BearerAuth(v, PR)([(b"authorization", f"Bearer {good}".encode())]).subject == "u"
    with pytest.raises(Exception):
        JwtVerifier(jwks, issuer="x", algorithms=["none"])
    with pytest.raises(Exception):
        JwtVerifier({"keys": []}, issuer="x")


def test_introspection_verifier_cache() -> None:
    """RFC 7662: request shape; active answers cached until exp or cache_ttl; inactive for negative_ttl;
    5xx not cached; the cache holds at most max_cache tokens."""
    iv = IntrospectionVerifier("https://as/introspect", client_id="rs", client_secret="s", cache_ttl=100,
                               negative_ttl=10, max_cache=2)
    url, headers, body = iv.request("t1")
    assert url == "https://as/introspect" and body == b"token=t1&token_type_hint=access_token"
    assert (b"authorization", b"Basic cnM6cw==") in headers
    assert iv.needs("t1", now=0) and iv.verify("t1", now=0) is None
    active = json.dumps({"active": True, "sub": "u", "scope": "read", "aud": URL, "exp": 50}).encode()
    at = iv.receive("t1", 200, active, now=0)
    assert at is not None and at.expires_at == 50 and iv.verify("t1", now=49) == at
    assert not iv.needs("t1", now=49) and iv.needs("t1", now=50)
    assert iv.receive("t2", 200, b'{"active": false}', now=0) is None
    assert not iv.needs("t2", now=9) and iv.needs("t2", now=10)
    assert iv.receive("t3", 503, b"", now=0) is None and iv.needs("t3", now=0)
    iv.receive("t4", 200, active, now=0)  # third entry: the oldest (t1) goes
    assert iv.needs("t1", now=1) and not iv.needs("t4", now=1)


def test_jwt_verifier_cache() -> None:
    """Verified JWTs are cached (LRU, max_cache entries) until exp; a key rotation empties the cache."""
    import jwt

    key, jwks = _jwt_setup()
    now = int(time.time())

    def tok(sub: str, exp: int) -> str:
        return jwt.encode({"iss": "https://as", "sub": sub, "aud": URL, "exp": exp}, key, algorithm="ES256",
                          headers={"kid": "k1"})

    v = JwtVerifier(jwks, issuer="https://as", max_cache=1, leeway=0)
    a, b = tok("a", now + 60), tok("b", now + 60)
    first = v.verify(a, now=now)
    assert first is not None and v.verify(a, now=now) is first  # served from the cache
    assert v.verify(b, now=now) is not None
    assert v.verify(a, now=now) is not first  # evicted by b (max_cache=1), verified again
    assert v.verify(a, now=now + 61) is None  # past exp: the cached entry is dropped and the JWT re-checked
    key2, jwks2 = _jwt_setup()
    v.update_jwks(jwks2)
    assert v.verify(a, now=now) is None  # signed by the withdrawn key
    with pytest.raises(Exception):
        JwtVerifier(jwks, issuer="x", max_cache=-1)


def test_resource_server_document_routing() -> None:
    """The asyncio adapter's part answers GET on the well-known path only (query ignored), nothing else."""
    from streamcore.aio.server import ResourceServer

    rs = ResourceServer(PR)
    assert rs.document(b"GET", b"/.well-known/oauth-protected-resource/mcp") == PR.document()
    assert rs.document(b"GET", b"/.well-known/oauth-protected-resource/mcp?x=1") == PR.document()
    assert rs.document(b"POST", b"/.well-known/oauth-protected-resource/mcp") is None
    assert rs.document(b"GET", b"/.well-known/oauth-protected-resource") is None
    assert rs.document(b"GET", b"/mcp") is None
    assert rs.prepare([(b"authorization", b"Bearer x")]) is None  # no introspection configured

"""The sans-IO OAuth client (``streamcore.auth.OAuthClient``) driven by scripted HTTP answers, no sockets."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import pytest

from streamcore import LocalProtocolError
from streamcore.auth import (
    AuthorizationFailed,
    AuthorizationNeeded,
    Authorized,
    HttpCall,
    OAuthClient,
    OAuthConfig,
    canonical_resource,
    parse_challenges,
    parse_www_authenticate,
    pkce_pair,
)

MCP = "https://mcp.example.com/mcp"
AS = "https://as.example.com"
PRM_URL = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
REDIRECT = "http://127.0.0.1:33418/callback"


def asm(**over: Any) -> dict[str, Any]:
    doc = {"issuer": AS, "authorization_endpoint": AS + "/authorize", "token_endpoint": AS + "/token",
           "registration_endpoint": AS + "/register", "code_challenge_methods_supported": ["S256"],
           "authorization_response_iss_parameter_supported": True}
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not None}


class Script:
    """Answers HttpCalls from a table ``(method, url) -> (status, body)``; records every call."""

    def __init__(self, table: dict[tuple[str, str], tuple[int, Any]]) -> None:
        self.table = table
        self.calls: list[HttpCall] = []

    def answer(self, ev: HttpCall) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        self.calls.append(ev)
        status, body = self.table.get((ev.method, ev.url), (404, {"error": "not_found"}))
        return status, [(b"content-type", b"application/json")], json.dumps(body).encode() if not isinstance(
            body, bytes) else body


def default_table(**over: Any) -> dict[tuple[str, str], tuple[int, Any]]:
    t: dict[tuple[str, str], tuple[int, Any]] = {
        ("GET", PRM_URL): (200, {"resource": MCP, "authorization_servers": [AS], "scopes_supported": ["read"]}),
        ("GET", AS + "/.well-known/oauth-authorization-server"): (200, asm()),
        ("POST", AS + "/register"): (201, {"client_id": "c1", "token_endpoint_auth_method": "none"}),
        ("POST", AS + "/token"): (200, {"access_token": "tok", "token_type": "Bearer", "expires_in": 60,
                                        "refresh_token": "r1", "scope": "read"}),
    }
    t.update(over)
    return t


def consent_ok(ev: AuthorizationNeeded) -> str:
    q = dict(parse_qsl(urlsplit(ev.url).query))
    return f"{REDIRECT}?code=abc&state={q['state']}&iss={AS}"


def run(client: OAuthClient, script: Script, consent: Callable[[AuthorizationNeeded], str] = consent_ok, *,
        status: int | None = 401, www: str = f'Bearer resource_metadata="{PRM_URL}"', now: float = 1000.0
        ) -> tuple[bool, list[Any]]:
    seen: list[Any] = []
    started = client.begin(MCP, status=status, headers=[(b"www-authenticate", www.encode())] if www else [], now=now)
    if not started:
        return False, seen
    for _ in range(50):
        ev = client.next_event()
        seen.append(ev)
        if isinstance(ev, HttpCall):
            st, h, b = script.answer(ev)
            client.receive_response(st, h, b, now=now)
        elif isinstance(ev, AuthorizationNeeded):
            client.receive_redirect(consent(ev), now=now)
        else:
            return True, seen
    raise AssertionError("flow did not end")


def test_full_flow_discovers_registers_authorizes_and_stores_tokens() -> None:
    """401 -> PRM from resource_metadata -> RFC 8414 metadata -> DCR -> PKCE code flow -> token, in that order."""
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT))
    s = Script(default_table())
    ok, seen = run(c, s)
    assert ok and isinstance(seen[-1], Authorized)
    assert [(e.method, e.url) for e in s.calls] == [
        ("GET", PRM_URL), ("GET", AS + "/.well-known/oauth-authorization-server"), ("POST", AS + "/register"),
        ("POST", AS + "/token")]
    auth = next(e for e in seen if isinstance(e, AuthorizationNeeded))
    q = dict(parse_qsl(urlsplit(auth.url).query))
    assert q["resource"] == MCP and q["code_challenge_method"] == "S256" and q["scope"] == "read"
    assert q["client_id"] == "c1" and q["redirect_uri"] == REDIRECT and q["state"] == auth.state
    form = dict(parse_qsl(s.calls[-1].body.decode()))  # type: ignore[union-attr]
    verifier = form["code_verifier"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert digest == q["code_challenge"] and form["resource"] == MCP and form["grant_type"] == "authorization_code"
    reg = json.loads(s.calls[2].body or b"{}")
    assert reg["redirect_uris"] == [REDIRECT] and reg["application_type"] == "native"
    assert c.authorization(MCP, now=1000.0) == "Bearer tok"


def test_token_only_for_the_resource_origin_and_not_after_expiry() -> None:
    """Tokens never go to another host or another path outside the resource; an expired token is not sent."""
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT))
    run(c, Script(default_table()))
    assert c.authorization("https://evil.example.com/mcp", now=1000.0) is None
    assert c.authorization("http://mcp.example.com/mcp", now=1000.0) is None  # other scheme = other origin
    assert c.authorization("https://mcp.example.com/other", now=1000.0) is None
    assert c.authorization(MCP, now=1059.9) == "Bearer tok"
    assert c.authorization(MCP, now=1060.0) is None
    assert c.needs_refresh(MCP, now=1030.0) and not c.needs_refresh(MCP, now=1029.9)


def test_refresh_uses_refresh_token_and_resource() -> None:
    """status=None refreshes: one token request, grant_type=refresh_token, the same resource, no user step."""
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT))
    s = Script(default_table())
    run(c, s)
    s.calls.clear()
    ok, seen = run(c, s, status=None, www="", now=1050.0)
    assert ok and isinstance(seen[-1], Authorized) and len(s.calls) == 1
    form = dict(parse_qsl(s.calls[0].body.decode()))  # type: ignore[union-attr]
    assert form == {"grant_type": "refresh_token", "refresh_token": "r1", "resource": MCP, "client_id": "c1"}
    assert not any(isinstance(e, AuthorizationNeeded) for e in seen)


def test_well_known_fallback_order_without_resource_metadata() -> None:
    """No resource_metadata: path-based PRM first, then the root one (2025-11-25 discovery order)."""
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT))
    t = default_table()
    del t[("GET", PRM_URL)]
    t[("GET", "https://mcp.example.com/.well-known/oauth-protected-resource")] = (
        200, {"resource": "https://mcp.example.com", "authorization_servers": [AS]})
    s = Script(t)
    ok, seen = run(c, s, www="Bearer")
    assert isinstance(seen[-1], Authorized)
    assert [e.url for e in s.calls[:2]] == [PRM_URL, "https://mcp.example.com/.well-known/oauth-protected-resource"]


def test_as_metadata_order_for_issuer_with_path() -> None:
    """Issuer with a path: oauth-authorization-server inserted, openid-configuration inserted, then appended."""
    issuer = AS + "/tenant1"
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT))
    t = default_table()
    t[("GET", PRM_URL)] = (200, {"resource": MCP, "authorization_servers": [issuer]})
    t[("GET", AS + "/tenant1/.well-known/openid-configuration")] = (200, asm(issuer=issuer))
    s = Script(t)
    run(c, s, consent=lambda ev: consent_ok(ev).replace(f"iss={AS}", f"iss={issuer}"))
    assert [e.url for e in s.calls[1:4]] == [
        AS + "/.well-known/oauth-authorization-server/tenant1", AS + "/.well-known/openid-configuration/tenant1",
        AS + "/tenant1/.well-known/openid-configuration"]


@pytest.mark.parametrize("name,table,consent,error", [
    ("resource mismatch", {("GET", PRM_URL): (200, {"resource": "https://evil.example.com/mcp",
                                                     "authorization_servers": [AS]})}, None, "invalid_resource"),
    ("metadata issuer mismatch", {("GET", AS + "/.well-known/oauth-authorization-server"): (
        200, asm(issuer=AS + "/"))}, None, "invalid_issuer"),
    ("no PKCE", {("GET", AS + "/.well-known/oauth-authorization-server"): (
        200, asm(code_challenge_methods_supported=None))}, None, None),
    ("state mismatch", {}, lambda ev: f"{REDIRECT}?code=abc&state=other&iss={AS}", "invalid_state"),
    ("wrong iss", {}, lambda ev: consent_ok(ev).replace(AS, "https://evil.example.com"), "invalid_issuer"),
    ("normalized iss", {}, lambda ev: consent_ok(ev) + "/", "invalid_issuer"),
    ("missing iss", {}, lambda ev: consent_ok(ev).split("&iss=")[0], "invalid_issuer"),
    ("denied", {}, lambda ev: consent_ok(ev).replace("code=abc", "error=access_denied"), "access_denied"),
    ("token error", {("POST", AS + "/token"): (400, {"error": "invalid_grant"})}, None, "invalid_grant"),
    ("no registration", {("GET", AS + "/.well-known/oauth-authorization-server"): (
        200, asm(registration_endpoint=None))}, None, "unregistered_client"),
    ("bad JSON", {("GET", AS + "/.well-known/oauth-authorization-server"): (200, b"{nope")}, None, None),
])
def test_flow_rejections(name: str, table: dict, consent: Any, error: str | None) -> None:
    """Each bad answer ends the flow with AuthorizationFailed (never an exception out of the API)."""
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT))
    s = Script(default_table())
    s.table.update(table)
    ok, seen = run(c, s, consent or consent_ok)
    assert isinstance(seen[-1], AuthorizationFailed), name
    if error is not None:
        assert seen[-1].error.error == error
    assert c.authorization(MCP, now=1000.0) is None
    if name in ("state mismatch", "wrong iss", "missing iss", "normalized iss", "denied"):
        assert not any(e.url.endswith("/token") for e in s.calls)  # the code went nowhere


def test_step_up_unites_scopes_and_retry_limit() -> None:
    """403 insufficient_scope re-authorizes with prior + challenged scopes; after max_authorizations, begin() is False."""
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT, max_authorizations=2))
    s = Script(default_table())
    run(c, s)
    ok, seen = run(c, s, status=403, www=f'Bearer error="insufficient_scope", scope="write", resource_metadata="{PRM_URL}"')
    auth = [e for e in seen if isinstance(e, AuthorizationNeeded)][0]
    assert dict(parse_qsl(urlsplit(auth.url).query))["scope"] == "read write"
    ok, _ = run(c, s, status=403, www='Bearer error="insufficient_scope", scope="write"')
    assert ok is False  # limit reached (2 authorizations without a success)
    c.succeeded(MCP)
    ok, _ = run(c, s, status=403, www='Bearer error="insufficient_scope", scope="write"')
    assert ok is True


def test_403_without_insufficient_scope_starts_nothing() -> None:
    """A plain 403 is not an authorization problem the client can fix."""
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT))
    assert c.begin(MCP, status=403, headers=[(b"www-authenticate", b'Bearer error="invalid_token"')], now=0) is False
    assert c.begin(MCP, status=403, headers=[], now=0) is False


def test_cimd_and_preregistration_priority() -> None:
    """Pre-registered credentials first, then the CIMD URL when advertised, then DCR."""
    t = default_table()
    t[("GET", AS + "/.well-known/oauth-authorization-server")] = (200, asm(client_id_metadata_document_supported=True))
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT, client_metadata_url="https://app.example.com/client.json"))
    s = Script(t)
    _, seen = run(c, s)
    auth = next(e for e in seen if isinstance(e, AuthorizationNeeded))
    assert dict(parse_qsl(urlsplit(auth.url).query))["client_id"] == "https://app.example.com/client.json"
    assert not any(e.url.endswith("/register") for e in s.calls)
    c2 = OAuthClient(OAuthConfig(redirect_uri=REDIRECT, client_id="pre", client_secret="sec",
                                 client_metadata_url="https://app.example.com/client.json"))
    s2 = Script(t)
    run(c2, s2)
    tok = s2.calls[-1]
    assert (b"authorization", b"Basic " + base64.b64encode(b"pre:sec")) in tok.headers
    assert not any(e.url.endswith("/register") for e in s2.calls)


def test_legacy_2025_03_26_fallbacks() -> None:
    """No PRM anywhere: the server's origin is the AS; no metadata either: /authorize, /token, /register."""
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT))
    base = "https://mcp.example.com"
    s = Script({("POST", base + "/register"): (201, {"client_id": "c"}),
                ("POST", base + "/token"): (200, {"access_token": "t", "token_type": "bearer"})})
    ok, seen = run(c, s, www="Bearer", consent=lambda ev: consent_ok(ev).split("&iss=")[0])
    assert isinstance(seen[-1], Authorized)
    auth = next(e for e in seen if isinstance(e, AuthorizationNeeded))
    assert auth.url.startswith(base + "/authorize?")
    assert c.authorization(MCP, now=0) == "Bearer t"


def test_oversized_document_fails_the_flow() -> None:
    """A metadata document over max_document_size ends the flow (bounded memory)."""
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT, max_document_size=1024))
    s = Script(default_table())
    s.table[("GET", PRM_URL)] = (200, b'{"resource": "' + b"x" * 1100 + b'"}')
    _, seen = run(c, s)
    assert isinstance(seen[-1], AuthorizationFailed) and "larger than 1024" in str(seen[-1].error)


def test_api_misuse_raises_local_protocol_error() -> None:
    """Answers without a question, a second flow, bad config: LocalProtocolError."""
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT))
    with pytest.raises(LocalProtocolError):
        c.receive_response(200, [], b"{}", now=0)
    with pytest.raises(LocalProtocolError):
        c.receive_redirect(REDIRECT, now=0)
    with pytest.raises(LocalProtocolError):
        c.begin(MCP, status=500, now=0)
    assert c.begin(MCP, status=401, now=0)
    with pytest.raises(LocalProtocolError):
        c.begin(MCP, status=401, now=0)
    with pytest.raises(LocalProtocolError):
        OAuthConfig(max_document_size=1023)
    OAuthConfig(max_document_size=1024)
    with pytest.raises(LocalProtocolError):
        OAuthConfig(max_authorizations=0)
    with pytest.raises(LocalProtocolError):
        OAuthConfig(grant_type="password")
    with pytest.raises(LocalProtocolError):
        OAuthConfig(redirect_uri="myapp:/cb")
    with pytest.raises(LocalProtocolError):
        OAuthConfig(grant_type="client_credentials")


def test_dpop_proof_on_token_request_and_resource_requests() -> None:
    """With dpop_signing_alg_values_supported: ES256, a proof goes to /token; a DPoP token is sent as
    ``Authorization: DPoP`` with a fresh proof (htm, htu, ath) per request; a use_dpop_nonce 401 asks for a retry."""
    jwt = pytest.importorskip("jwt")
    t = default_table()
    t[("GET", AS + "/.well-known/oauth-authorization-server")] = (200, asm(dpop_signing_alg_values_supported=["ES256"]))
    t[("POST", AS + "/token")] = (200, {"access_token": "dtok", "token_type": "DPoP"})
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT))
    s = Script(t)
    run(c, s)
    proof = dict(s.calls[-1].headers)[b"dpop"].decode()
    assert jwt.get_unverified_header(proof)["typ"] == "dpop+jwt"
    h1 = dict(c.request_headers("POST", MCP + "?x=1", now=1000.0))
    h2 = dict(c.request_headers("POST", MCP, now=1000.0))
    assert h1[b"authorization"] == b"DPoP dtok"
    p1 = jwt.decode(h1[b"dpop"], options={"verify_signature": False})
    p2 = jwt.decode(h2[b"dpop"], options={"verify_signature": False})
    assert p1["htm"] == "POST" and p1["htu"] == MCP and p1["jti"] != p2["jti"]
    assert p1["ath"] == base64.urlsafe_b64encode(hashlib.sha256(b"dtok").digest()).rstrip(b"=").decode()
    challenge = [(b"www-authenticate", b'DPoP error="use_dpop_nonce"'), (b"dpop-nonce", b"n1")]
    assert c.receive_resource_response(MCP, 401, challenge)
    p3 = jwt.decode(dict(c.request_headers("POST", MCP, now=1000.0))[b"dpop"], options={"verify_signature": False})
    assert p3["nonce"] == "n1"


def test_parse_www_authenticate() -> None:
    """Quoted strings with escapes, several challenges, token values, DPoP; None without Bearer/DPoP."""
    v = 'Basic realm="x", Bearer error="insufficient_scope", scope="a b", resource_metadata="https://h/p?q=\\"1\\""'
    p = parse_www_authenticate(v)
    assert p == {"error": "insufficient_scope", "scope": "a b", "resource_metadata": 'https://h/p?q="1"'}
    assert parse_www_authenticate("Bearer") == {}
    assert parse_www_authenticate("bearer realm=example") == {"realm": "example"}
    assert parse_www_authenticate('Basic realm="x"') is None
    assert parse_www_authenticate('DPoP error="use_dpop_nonce"') == {"error": "use_dpop_nonce"}
    assert [s for s, _ in parse_challenges('Bearer a="1", DPoP b=2')] == ["bearer", "dpop"]
    assert parse_www_authenticate("") is None
    assert parse_www_authenticate('Bearer scope="unterminated') == {"scope": "unterminated"}


def test_canonical_resource_and_pkce() -> None:
    """RFC 8707 canonical URI; RFC 7636 verifier length and S256."""
    assert canonical_resource("HTTPS://MCP.Example.com/mcp/") == "https://mcp.example.com/mcp"
    assert canonical_resource("https://mcp.example.com/") == "https://mcp.example.com"
    assert canonical_resource("https://h/mcp?x=1#f") == "https://h/mcp"
    with pytest.raises(LocalProtocolError):
        canonical_resource("/relative")
    v, ch = pkce_pair()
    assert 43 <= len(v) <= 128
    assert ch == base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"=").decode()


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=False),
                       st.text(max_size=20), st.sampled_from([MCP, AS, AS + "/x", "S256", "none", "DPoP", "ES256"]))
_json = st.recursive(_json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                     max_leaves=8)
_KEYS = ["resource", "authorization_servers", "scopes_supported", "issuer", "authorization_endpoint",
         "token_endpoint", "registration_endpoint", "code_challenge_methods_supported", "client_id",
         "client_secret", "token_endpoint_auth_method", "access_token", "token_type", "expires_in",
         "refresh_token", "scope", "dpop_signing_alg_values_supported", "client_id_metadata_document_supported",
         "authorization_response_iss_parameter_supported", "token_endpoint_auth_methods_supported"]
_doc = st.one_of(_json, st.fixed_dictionaries({}, optional={k: _json for k in _KEYS}))


@settings(max_examples=300)
@given(st.data())
def test_any_answers_end_in_an_event_never_an_exception(data: st.DataObject) -> None:
    """Whatever the network answers (status, JSON of any shape, garbage, a strange redirect), the flow
    ends in Authorized or AuthorizationFailed; no exception leaves the sans-IO API."""
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT, client_metadata_url="https://app/c.json"))
    base = default_table()
    started = c.begin(MCP, status=data.draw(st.sampled_from([401, 403])), headers=[(b"www-authenticate", data.draw(
        st.sampled_from([b'Bearer error="insufficient_scope", scope="x"', f'Bearer resource_metadata="{PRM_URL}"'.encode(),
                         b"Bearer", b"garbage ,,= \"", b'DPoP error="use_dpop_nonce"'])))], now=1000.0)
    if not started:
        return
    for _ in range(60):
        ev = c.next_event()
        if isinstance(ev, HttpCall):
            if data.draw(st.booleans()):
                status, body = base.get((ev.method, ev.url), (404, {}))
                raw = json.dumps(body).encode()
            else:
                status = data.draw(st.sampled_from([200, 201, 302, 400, 401, 404, 500]))
                raw = data.draw(st.one_of(_doc.map(lambda d: json.dumps(d).encode()), st.binary(max_size=30)))
            c.receive_response(status, [(b"dpop-nonce", b"n")] if data.draw(st.booleans()) else [], raw, now=1000.0)
        elif isinstance(ev, AuthorizationNeeded):
            cb = data.draw(st.sampled_from([consent_ok(ev), REDIRECT, REDIRECT + "?code=&state=", "not a url",
                                            consent_ok(ev).split("&iss=")[0], REDIRECT + "?error=x&state=y"]))
            c.receive_redirect(cb, now=1000.0)
        else:
            assert isinstance(ev, (Authorized, AuthorizationFailed))
            return
    raise AssertionError("the flow neither ended nor asked for anything")


@settings(max_examples=400)
@given(st.data())
def test_one_mutated_field_ends_in_an_event(data: st.DataObject) -> None:
    """A valid exchange with one field of one answer dropped or replaced by any JSON value: still only events."""
    table = default_table()
    keys = sorted(table)
    target = data.draw(st.sampled_from(keys))
    status, doc = table[target]
    doc = dict(doc)
    field = data.draw(st.sampled_from(sorted(doc) + ["code_challenge_methods_supported", "expires_in"]))
    if data.draw(st.booleans()):
        doc.pop(field, None)
    else:
        doc[field] = data.draw(_json)
    table[target] = (status, doc)
    c = OAuthClient(OAuthConfig(redirect_uri=REDIRECT))
    ok, seen = run(c, Script(table))
    assert ok and isinstance(seen[-1], (Authorized, AuthorizationFailed))

"""Sans-IO OAuth 2.1 client for MCP authorization (spec revisions 2025-03-26 .. 2026-07-28).

Theory of operation
-------------------
:class:`OAuthClient` never touches a socket. An adapter asks it for the
``Authorization`` value of each MCP request (:meth:`OAuthClient.authorization`);
when the MCP server answers 401 or 403 the adapter calls
:meth:`OAuthClient.begin` with that response's status and headers, then pumps
:meth:`OAuthClient.next_event` until :class:`Authorized` or
:class:`AuthorizationFailed`:

* :class:`HttpCall`: make this HTTP request and hand the response to
  :meth:`OAuthClient.receive_response` (metadata discovery, registration,
  token and refresh requests; one at a time).
* :class:`AuthorizationNeeded`: send the user (or a headless agent) to
  ``url``; hand the redirect URI it came back to, with its query, to
  :meth:`OAuthClient.receive_redirect`.

The flow itself is written as one generator (``_flow``) that yields those
events and is resumed with the answers, the "sans-IO coroutine" pattern: the
order of steps reads top to bottom as the spec lists them.

Steps (MCP authorization, 2025-11-25 and 2026-07-28 unless noted):

1. ``WWW-Authenticate`` (RFC 6750 section 3, RFC 9728 section 5.1): the
   ``resource_metadata``, ``scope`` and ``error`` parameters.
2. Protected Resource Metadata (RFC 9728 section 3): the URL from the
   challenge, else ``/.well-known/oauth-protected-resource/<path>`` then
   ``/.well-known/oauth-protected-resource``. The ``resource`` it names must
   be the MCP server's (same origin, a path prefix; RFC 9728 section 3.3).
   No document at all: the 2025-03-26 rules (the MCP server's origin is the
   authorization server).
3. Authorization server metadata (RFC 8414 section 3.1, OpenID Connect
   Discovery 1.0, in the order of the spec); ``issuer`` must be identical to
   the identifier the URL was built from (RFC 8414 section 3.3). Nothing found:
   the default endpoints ``/authorize``, ``/token``, ``/register`` (2025-03-26).
4. Client identification, per authorization server (credentials are bound to
   the issuer that issued them, SEP-2352): stored registration, then
   pre-registered ``client_id``, then a Client ID Metadata Document URL when
   the server advertises ``client_id_metadata_document_supported``, then
   Dynamic Client Registration (RFC 7591 section 3).
5. Scope: the challenge's ``scope``, else PRM ``scopes_supported``, else none;
   united with what was asked before (step-up, SEP-2350); ``offline_access``
   added when the authorization server lists it (SEP-2207).
6. Authorization code with PKCE S256 (RFC 7636 section 4), ``state`` and the
   ``resource`` indicator (RFC 8707 section 2); the response's ``state`` and
   ``iss`` (RFC 9207 section 2.4, simple string comparison) are checked before
   the code goes anywhere.
7. Token request (OAuth 2.1 section 4.1.3) with the client authentication
   method the registration agreed on (``client_secret_basic``,
   ``client_secret_post``, ``none``, ``private_key_jwt`` RFC 7523 section 2.2).
8. Refresh (OAuth 2.1 section 4.3) before expiry and after a 401 with a token
   that is known to have expired; on failure, a fresh authorization.

``client_credentials`` (OAuth 2.1 section 4.2; the MCP client-credentials
extension) replaces steps 4-7 by one token request.

Time: every ``now`` is the caller's clock in seconds; tokens store
``expires_at`` in that clock. Use wall-clock time (``time.time()``) if the
storage outlives the process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field, replace
from typing import Any, Generator, Protocol, Sequence
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "OAuthError",
    "OAuthConfig",
    "IdJag",
    "Tokens",
    "ClientInfo",
    "TokenStorage",
    "MemoryTokenStorage",
    "OAuthClient",
    "HttpCall",
    "AuthorizationNeeded",
    "Authorized",
    "AuthorizationFailed",
    "parse_www_authenticate",
    "parse_challenges",
    "canonical_resource",
    "pkce_pair",
    "DEFAULT_MAX_AUTHORIZATIONS",
    "DEFAULT_MAX_DOCUMENT_SIZE",
    "DEFAULT_REFRESH_MARGIN",
]

Headers = Sequence[tuple[bytes, bytes]]

#: authorizations per resource without a successful request in between
#: (the spec's "retry limits"; the conformance suite allows at most 3)
DEFAULT_MAX_AUTHORIZATIONS = 3
#: bytes of a metadata, registration or token response we accept
#: (metadata documents are a few KiB; 1 MiB leaves room and bounds memory)
DEFAULT_MAX_DOCUMENT_SIZE = 1024 * 1024
#: refresh this many seconds before ``expires_at``
DEFAULT_REFRESH_MARGIN = 30.0

_JSON = b"application/json"
_FORM = b"application/x-www-form-urlencoded"
_JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class OAuthError(RemoteProtocolError):
    """The authorization flow failed; ``error`` is the OAuth error code when there is one.

    ``status_hint`` is 401: the MCP request that needed the token fails.
    """

    status_hint = 401

    def __init__(self, msg: str, *, error: str | None = None) -> None:
        super().__init__(msg)
        self.error = error


@dataclass(frozen=True, slots=True, kw_only=True)
class IdJag:
    """Where and how to get an Identity Assertion JWT Authorization Grant (SEP-990, RFC 8693 token exchange)."""

    idp_token_endpoint: str
    idp_client_id: str
    id_token: str
    idp_client_secret: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuthConfig:
    """What the client knows before it meets an authorization server."""

    #: where the authorization server sends the user back (registered with it)
    redirect_uri: str = "http://127.0.0.1:33418/callback"
    client_name: str = "streamcore"
    #: RFC 7591 / SEP-837: "native" (loopback redirect) or "web"
    application_type: str = "native"
    #: an HTTPS URL serving this client's Client ID Metadata Document (CIMD)
    client_metadata_url: str | None = None
    #: pre-registered credentials (static client); bound to ``issuer`` if given
    client_id: str | None = None
    client_secret: str | None = None
    issuer: str | None = None
    #: force a method; None: what registration returned, else the best one the server supports
    token_endpoint_auth_method: str | None = None
    #: "authorization_code" (a user consents), "client_credentials" (machine to machine) or
    #: "jwt_bearer" (RFC 7523 section 2.1: a workload JWT, ``assertion``, or an ID-JAG got with ``id_jag``)
    grant_type: str = "authorization_code"
    #: the JWT the workload holds (workload identity federation, SEP-1933)
    assertion: str | None = None
    #: enterprise-managed authorization (SEP-990): trade the IdP's ID token for an ID-JAG first
    id_jag: "IdJag | None" = None
    #: PEM private key for ``private_key_jwt`` (RFC 7523 section 2.2); needs PyJWT
    private_key_pem: str | None = None
    signing_algorithm: str = "RS256"
    #: scopes always asked for, besides those the server names
    scope: str | None = None
    #: ask for ``offline_access`` when the authorization server lists it (SEP-2207)
    offline_access: bool = True
    max_authorizations: int = DEFAULT_MAX_AUTHORIZATIONS
    max_document_size: int = DEFAULT_MAX_DOCUMENT_SIZE
    refresh_margin: float = DEFAULT_REFRESH_MARGIN
    #: sent as ``MCP-Protocol-Version`` on metadata requests
    protocol_version: str = "2025-11-25"
    #: ask for DPoP-bound tokens (RFC 9449) when the authorization server supports ES256 proofs; needs PyJWT
    dpop: bool = True

    def __post_init__(self) -> None:
        if self.grant_type not in ("authorization_code", "client_credentials", "jwt_bearer"):
            raise LocalProtocolError("grant_type is authorization_code, client_credentials or jwt_bearer, "
                                     f"not {self.grant_type!r}")
        if self.grant_type == "jwt_bearer" and (self.assertion is None) == (self.id_jag is None):
            raise LocalProtocolError("jwt_bearer needs exactly one of assertion and id_jag")
        if self.application_type not in ("native", "web"):
            raise LocalProtocolError(f"application_type is native or web, not {self.application_type!r}")
        if self.max_authorizations < 1:
            raise LocalProtocolError("max_authorizations must be at least 1")
        if self.max_document_size < 1024:
            raise LocalProtocolError("max_document_size must be at least 1024")
        if self.grant_type == "client_credentials" and self.client_id is None:
            raise LocalProtocolError("client_credentials needs a client_id")
        u = urlsplit(self.redirect_uri)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise LocalProtocolError(f"redirect_uri must be an absolute http(s) URL, not {self.redirect_uri!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Tokens:
    """A token response (OAuth 2.1 section 3.2.3), with ``expires_at`` in the caller's clock."""

    access_token: str
    token_type: str = "Bearer"
    expires_at: float | None = None
    refresh_token: str | None = None
    scope: str | None = None
    #: the authorization server that issued them and the resource they are for
    issuer: str | None = None
    resource: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientInfo:
    """This client's identity at one authorization server."""

    client_id: str
    client_secret: str | None = None
    token_endpoint_auth_method: str | None = None


class TokenStorage(Protocol):
    """Where tokens (per resource) and client registrations (per issuer) live."""

    def get_tokens(self, resource: str) -> Tokens | None: ...
    def set_tokens(self, resource: str, tokens: Tokens | None) -> None: ...
    def get_client(self, issuer: str) -> ClientInfo | None: ...
    def set_client(self, issuer: str, info: ClientInfo | None) -> None: ...


class MemoryTokenStorage:
    """The default :class:`TokenStorage`: two dicts, gone with the process."""

    def __init__(self) -> None:
        self.tokens: dict[str, Tokens] = {}
        self.clients: dict[str, ClientInfo] = {}

    def get_tokens(self, resource: str) -> Tokens | None:
        return self.tokens.get(resource)

    def set_tokens(self, resource: str, tokens: Tokens | None) -> None:
        if tokens is None:
            self.tokens.pop(resource, None)
        else:
            self.tokens[resource] = tokens

    def get_client(self, issuer: str) -> ClientInfo | None:
        return self.clients.get(issuer)

    def set_client(self, issuer: str, info: ClientInfo | None) -> None:
        if info is None:
            self.clients.pop(issuer, None)
        else:
            self.clients[issuer] = info


# -- events -----------------------------------------------------------------------


class AuthEvent:
    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpCall(AuthEvent):
    """Make this request; answer with :meth:`OAuthClient.receive_response`. Never follow redirects."""

    method: str
    url: str
    headers: list[tuple[bytes, bytes]]
    body: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizationNeeded(AuthEvent):
    """Send the user agent to ``url``; answer with :meth:`OAuthClient.receive_redirect`."""

    url: str
    redirect_uri: str
    state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Authorized(AuthEvent):
    """A token for ``resource`` is in the storage: retry the request."""

    resource: str
    tokens: Tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizationFailed(AuthEvent):
    error: OAuthError


# -- helpers ----------------------------------------------------------------------


def parse_www_authenticate(value: str) -> dict[str, str] | None:
    """The parameters of the ``Bearer`` (else ``DPoP``, RFC 9449 section 7.1) challenge in a
    ``WWW-Authenticate`` value (RFC 9110 section 11.6.1).

    Returns None if there is neither. Parameter names are lower-cased.
    """
    found = dict(parse_challenges(value))
    return found.get("bearer", found.get("dpop"))


def parse_challenges(value: str) -> list[tuple[str, dict[str, str]]]:
    """Every challenge of a ``WWW-Authenticate`` value: ``[(scheme lower-cased, {param: value})]``."""
    challenges: list[tuple[str, dict[str, str]]] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t,":
            i += 1
        j = i
        while j < n and value[j] not in " \t=,":
            j += 1
        token = value[i:j]
        if not token:
            break
        k = j
        while k < n and value[k] in " \t":
            k += 1
        if k < n and value[k] == "=" and challenges:  # auth-param = token / quoted-string
            k += 1
            while k < n and value[k] in " \t":
                k += 1
            if k < n and value[k] == '"':
                k += 1
                buf = []
                while k < n and value[k] != '"':
                    if value[k] == "\\" and k + 1 < n:
                        k += 1
                    buf.append(value[k])
                    k += 1
                k += 1
                v = "".join(buf)
            else:
                m = k
                while m < n and value[m] not in " \t,":
                    m += 1
                v, k = value[k:m], m
            challenges[-1][1].setdefault(token.lower(), v)
            i = k
        else:  # a new auth-scheme
            challenges.append((token.lower(), {}))
            i = j
    return challenges


def canonical_resource(url: str) -> str:
    """The canonical URI of an MCP server (RFC 8707 section 2): lower-case scheme and host, no fragment,
    no query, no trailing slash unless the path is only ``/``."""
    u = urlsplit(url)
    if not u.scheme or not u.netloc:
        raise LocalProtocolError(f"not an absolute URL: {url!r}")
    netloc = u.netloc.lower()
    path = u.path
    if path.endswith("/") and path != "/":
        path = path.rstrip("/")
    if path == "/":
        path = ""
    return urlunsplit((u.scheme.lower(), netloc, path, "", ""))


def _origin(url: str) -> tuple[str, str, int]:
    u = urlsplit(url)
    scheme = u.scheme.lower()
    port = u.port or (443 if scheme == "https" else 80)
    return scheme, (u.hostname or "").lower(), port


def _resource_covers(resource: str, server_url: str) -> bool:
    """RFC 9728 section 3.3 / MCP: the PRM ``resource`` identifies this server (same origin, a path prefix)."""
    try:
        if _origin(resource) != _origin(server_url):
            return False
    except ValueError:
        return False
    rp = urlsplit(resource).path.rstrip("/")
    sp = urlsplit(server_url).path.rstrip("/")
    return sp == rp or sp.startswith(rp + "/") or rp == ""


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``code_verifier`` (43..128 unreserved characters) and its S256 ``code_challenge`` (RFC 7636 section 4)."""
    verifier = secrets.token_urlsafe(48)  # 64 characters
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _well_known(base: str, suffix: str, *, insert: bool) -> str:
    u = urlsplit(base)
    path = u.path.rstrip("/")
    if insert:
        p = f"/.well-known/{suffix}{path}"
    else:
        p = f"{path}/.well-known/{suffix}"
    return urlunsplit((u.scheme, u.netloc, p, "", ""))


def _header(headers: Headers, name: bytes) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def _scopes(s: str | None) -> list[str]:
    return [x for x in (s or "").split(" ") if x]


def _union(*parts: str | None) -> str | None:
    seen: dict[str, None] = {}
    for p in parts:
        for s in _scopes(p):
            seen[s] = None
    return " ".join(seen) or None


_Step = Generator[AuthEvent, Any, None]


class OAuthClient:
    """The sans-IO OAuth 2.1 client; see the module docstring for the pump."""

    def __init__(self, config: OAuthConfig | None = None, storage: TokenStorage | None = None) -> None:
        self.config = config or OAuthConfig()
        self.storage: TokenStorage = storage if storage is not None else MemoryTokenStorage()
        self._gen: _Step | None = None
        self._pending: AuthEvent | None = None
        self._waiting: type | None = None  # what the generator waits for: HttpCall or AuthorizationNeeded
        self._requested: dict[str, str | None] = {}  # resource -> scope asked last time (step-up union)
        self._attempts: dict[str, int] = {}  # resource -> authorizations since the last success
        self._resources: dict[tuple[str, str, int], str] = {}  # origin -> resource its token is for
        self._as_cache: dict[str, dict[str, Any]] = {}  # issuer -> its metadata
        self._dpop_key: Any = None  # the EC P-256 key DPoP proofs are signed with (one per client)
        self._nonces: dict[tuple[str, str, int], str] = {}  # origin -> its last DPoP-Nonce (RFC 9449 section 8)

    # -- tokens on requests ---------------------------------------------------------

    def resource_for(self, url: str) -> str:
        """The resource a request to ``url`` uses tokens of (the one discovered for its origin, else its canonical URI)."""
        r = self._resources.get(_origin(url))
        if r is not None and _resource_covers(r, url):
            return r
        return canonical_resource(url)

    def tokens_for(self, url: str) -> Tokens | None:
        return self.storage.get_tokens(self.resource_for(url))

    def authorization(self, url: str, *, now: float) -> str | None:
        """The ``Authorization`` value for a request to ``url`` (AUTH-01), or None.

        A token goes only to the origin of the resource it was issued for, and
        only while it has not expired (then :meth:`needs_refresh` is True).
        """
        t = self.tokens_for(url)
        if t is None or t.resource is None or not _resource_covers(t.resource, url):
            return None
        if t.expires_at is not None and now >= t.expires_at:
            return None
        scheme = "DPoP" if t.token_type.lower() == "dpop" else "Bearer"
        return f"{scheme} {t.access_token}"

    def request_headers(self, method: str, url: str, *, now: float) -> list[tuple[bytes, bytes]]:
        """``Authorization`` (and for a DPoP-bound token, a fresh ``DPoP`` proof) for one request, or nothing."""
        value = self.authorization(url, now=now)
        if value is None:
            return []
        out = [(b"authorization", value.encode("latin-1"))]
        if value.startswith("DPoP "):
            out.append((b"dpop", self._dpop_proof(method, url, now, access_token=value[5:]).encode("ascii")))
        return out

    def receive_resource_response(self, url: str, status: int, headers: Headers) -> bool:
        """Note a response of the MCP server; True if it is a ``use_dpop_nonce`` challenge (RFC 9449 section 9):
        retry at once with the new nonce, no authorization flow needed."""
        nonce = _header(headers, b"dpop-nonce")
        if nonce is not None:
            self._nonces[_origin(url)] = nonce
        if status == 401 and nonce is not None:
            for scheme, params in parse_challenges(_header(headers, b"www-authenticate") or ""):
                if scheme == "dpop" and params.get("error") == "use_dpop_nonce":
                    return True
        return False

    def _dpop_proof(self, method: str, url: str, now: float, *, access_token: str | None = None) -> str:
        """A DPoP proof JWT (RFC 9449 section 4.2): ``typ`` dpop+jwt, ES256, the public ``jwk``; ``htm``, ``htu``
        (no query or fragment), ``iat``, ``jti``, the origin's ``nonce``, and ``ath`` for a resource request."""
        try:
            import jwt  # PyJWT with cryptography, the [jwt] extra
            from cryptography.hazmat.primitives.asymmetric import ec
        except ImportError:  # pragma: no cover - depends on the environment
            raise OAuthError("DPoP needs PyJWT and cryptography: pip install 'streamcore[jwt]'") from None
        if self._dpop_key is None:
            self._dpop_key = ec.generate_private_key(ec.SECP256R1())
        pub = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self._dpop_key.public_key()))
        u = urlsplit(url)
        claims: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": method.upper(),
                                  "htu": urlunsplit((u.scheme, u.netloc, u.path or "/", "", "")), "iat": int(now)}
        nonce = self._nonces.get(_origin(url))
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        headers = {"typ": "dpop+jwt", "jwk": {k: pub[k] for k in ("kty", "crv", "x", "y")}}
        return str(jwt.encode(claims, self._dpop_key, algorithm="ES256", headers=headers))

    def _use_dpop(self, asm: dict[str, Any]) -> bool:
        algs = asm.get("dpop_signing_alg_values_supported")
        return self.config.dpop and isinstance(algs, list) and "ES256" in algs

    def needs_refresh(self, url: str, *, now: float) -> bool:
        """A token for ``url`` exists, can be refreshed, and expires within ``refresh_margin``."""
        t = self.tokens_for(url)
        return (t is not None and t.refresh_token is not None and t.expires_at is not None
                and now >= t.expires_at - self.config.refresh_margin)

    def succeeded(self, url: str) -> None:
        """A request with the token went through: reset the retry counter of its resource."""
        self._attempts.pop(self.resource_for(url), None)

    # -- the flow --------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._gen is not None

    def begin(self, url: str, *, status: int | None = None, headers: Headers = (), now: float) -> bool:
        """Start a flow for the MCP endpoint ``url``.

        ``status``/``headers``: the 401 or 403 that asked for it (AUTH-07);
        ``status=None`` refreshes ahead of expiry. Returns False when no flow
        makes sense (a 403 other than ``insufficient_scope``, or the retry limit
        for this resource is reached); the request then fails as it is.
        """
        if self._gen is not None:
            raise LocalProtocolError("an authorization flow is already running")
        challenge: dict[str, str] = {}
        if status is not None:
            if status not in (401, 403):
                raise LocalProtocolError(f"begin() takes a 401 or 403, not {status}")
            raw = _header(headers, b"www-authenticate")
            parsed = parse_www_authenticate(raw) if raw is not None else None
            challenge = parsed or {}
            if status == 403 and challenge.get("error") != "insufficient_scope":
                return False
        resource = self.resource_for(url)
        if status is not None:
            n = self._attempts.get(resource, 0)
            if n >= self.config.max_authorizations:
                return False
            self._attempts[resource] = n + 1
        self._gen = self._flow(url, status, challenge, now)
        self._advance(None)
        return True

    def next_event(self) -> AuthEvent | None:
        """The next event (each is returned once), or None while the flow waits for an answer or is idle."""
        ev = self._pending
        self._pending = None
        return ev

    def receive_response(self, status: int, headers: Headers, body: bytes, *, now: float) -> None:
        """The answer to the last :class:`HttpCall` (the whole body, at most ``max_document_size``)."""
        if self._waiting is not HttpCall:
            raise LocalProtocolError("no HTTP request of the authorization flow is outstanding")
        self._advance((status, list(headers), body, now))

    def receive_error(self, exc: BaseException, *, now: float) -> None:
        """The last :class:`HttpCall` failed at the transport level."""
        if self._waiting is not HttpCall:
            raise LocalProtocolError("no HTTP request of the authorization flow is outstanding")
        self._advance(exc)

    def receive_redirect(self, callback_url: str, *, now: float) -> None:
        """The URL the authorization server redirected the user agent to (with its query)."""
        if self._waiting is not AuthorizationNeeded:
            raise LocalProtocolError("no authorization request is outstanding")
        self._advance((callback_url, now))

    def cancel(self, reason: str = "cancelled") -> None:
        """Abandon the running flow (it ends with :class:`AuthorizationFailed`)."""
        if self._gen is not None:
            self._gen.close()
            self._gen = None
            self._waiting = None
            self._pending = AuthorizationFailed(error=OAuthError(reason))

    def _advance(self, value: Any) -> None:
        gen = self._gen
        assert gen is not None
        try:
            if isinstance(value, BaseException):
                ev = gen.throw(value)
            else:
                ev = gen.send(value)
        except StopIteration:
            self._gen = None
            self._waiting = None
            return
        except OAuthError as exc:
            self._gen = None
            self._waiting = None
            self._pending = AuthorizationFailed(error=exc)
            return
        except (OSError, ValueError, UnicodeError) as exc:
            self._gen = None
            self._waiting = None
            self._pending = AuthorizationFailed(error=OAuthError(f"authorization failed: {exc}"))
            return
        if isinstance(ev, Authorized):
            gen.close()
            self._gen = None
            self._waiting = None
        else:
            self._waiting = type(ev)
        self._pending = ev

    # -- steps -----------------------------------------------------------------------

    def _get_json(self, url: str, *, accept_404: bool = True) -> Generator[AuthEvent, Any, dict[str, Any] | None]:
        headers = [(b"accept", _JSON), (b"mcp-protocol-version", self.config.protocol_version.encode())]
        answer = yield HttpCall(method="GET", url=url, headers=headers)
        if isinstance(answer, BaseException):  # pragma: no cover - thrown in, not sent
            raise answer
        status, _h, body, _now = answer
        if status != 200:
            if 400 <= status < 500 and accept_404:
                return None
            raise OAuthError(f"GET {url}: HTTP {status}")
        if len(body) > self.config.max_document_size:
            raise OAuthError(f"{url}: document larger than {self.config.max_document_size} bytes")
        try:
            return self._json(body, url)
        except OAuthError:  # a 200 that is not a JSON object (an HTML catch-all page): no document here
            return None

    def _json(self, body: bytes, what: str) -> dict[str, Any]:
        if len(body) > self.config.max_document_size:
            raise OAuthError(f"{what}: document larger than {self.config.max_document_size} bytes")
        try:
            doc = json.loads(body)
        except ValueError:
            raise OAuthError(f"{what}: not JSON") from None
        if not isinstance(doc, dict):
            raise OAuthError(f"{what}: not a JSON object")
        return doc

    def _flow(self, url: str, status: int | None, challenge: dict[str, str], now: float) -> _Step:
        cfg = self.config
        server = canonical_resource(url)
        # refresh: before expiry, or after a 401 on a token that expired
        old = self.tokens_for(url)
        if old is not None and old.refresh_token and (status is None or (
                status == 401 and old.expires_at is not None and now >= old.expires_at - cfg.refresh_margin)):
            asm = self._as_cache.get(old.issuer or "") if old.issuer else None
            if asm is not None:
                tokens = yield from self._refresh(old, asm, now)
                if tokens is not None:
                    yield Authorized(resource=old.resource or server, tokens=tokens)
                    return
        if status is None:
            raise OAuthError("nothing to refresh")
        if status == 401 and old is not None:  # the token is no good: forget it
            self.storage.set_tokens(old.resource or server, None)

        # step 2: Protected Resource Metadata (RFC 9728)
        prm: dict[str, Any] | None = None
        candidates: list[str] = []
        if challenge.get("resource_metadata"):
            candidates.append(challenge["resource_metadata"])
        u = urlsplit(url)
        if u.path.strip("/"):
            candidates.append(_well_known(url, "oauth-protected-resource", insert=True))
        candidates.append(_well_known(urlunsplit((u.scheme, u.netloc, "", "", "")), "oauth-protected-resource",
                                      insert=True))
        for c in dict.fromkeys(candidates):
            if _origin(c)[0] not in ("http", "https"):
                continue
            doc = yield from self._get_json(c)
            if doc is not None and isinstance(doc.get("authorization_servers"), list):
                prm = doc
                break
        if prm is not None:
            res = prm.get("resource")
            if not isinstance(res, str) or not _resource_covers(res, url):
                raise OAuthError(f"the protected resource metadata names resource {res!r}, not this server ({server})",
                                 error="invalid_resource")
            resource = res
            servers = [s for s in prm["authorization_servers"] if isinstance(s, str)]
            if not servers:
                raise OAuthError("the protected resource metadata lists no authorization server")
            issuer = servers[0]  # RFC 9728 section 7.6: the client chooses; we take the first
        else:  # 2025-03-26: the MCP server's origin is the authorization server
            resource = server
            issuer = urlunsplit((u.scheme, u.netloc, "", "", ""))
        self._resources[_origin(url)] = resource

        # step 3: authorization server metadata (RFC 8414, OpenID Connect Discovery)
        asm = yield from self._as_metadata(issuer, legacy=prm is None)

        if cfg.grant_type == "jwt_bearer":
            client = self._static_client(issuer) or ClientInfo(client_id="", token_endpoint_auth_method="none")
            assertion = cfg.assertion
            if cfg.id_jag is not None:
                assertion = yield from self._id_jag(cfg.id_jag, asm, resource)
            assert assertion is not None
            scope = _union(cfg.scope, challenge.get("scope"))
            form = {"grant_type": _JWT_BEARER_GRANT, "assertion": assertion}
            if cfg.id_jag is None:
                form["resource"] = resource
            if scope:
                form["scope"] = scope
            tokens = yield from self._token(asm, client, form, resource, now)
            yield Authorized(resource=resource, tokens=tokens)
            return

        if cfg.grant_type == "client_credentials":
            static = self._static_client(issuer)
            if static is None:
                raise OAuthError(f"the client_credentials client_id is bound to {cfg.issuer}, not {issuer}")
            client = static
            scope = _union(cfg.scope, challenge.get("scope") or " ".join(
                s for s in (prm or {}).get("scopes_supported") or [] if isinstance(s, str)))
            tokens = yield from self._token(asm, client, {"grant_type": "client_credentials", "resource": resource,
                                                          **({"scope": scope} if scope else {})}, resource, now)
            yield Authorized(resource=resource, tokens=tokens)
            return

        # step 4: who we are at this authorization server
        client = yield from self._client(issuer, asm)

        # step 5: scope
        chosen = challenge.get("scope")
        if not chosen and prm is not None:
            sup = prm.get("scopes_supported")
            if isinstance(sup, list):
                chosen = " ".join(s for s in sup if isinstance(s, str)) or None
        prior = self._requested.get(resource)
        if old is not None:
            prior = _union(prior, old.scope)
        scope = _union(cfg.scope, prior if status == 403 else None, chosen)
        as_scopes = asm.get("scopes_supported")
        if cfg.offline_access and isinstance(as_scopes, list) and "offline_access" in as_scopes:
            scope = _union(scope, "offline_access")
        self._requested[resource] = scope

        # step 6: authorization request (PKCE S256, state, resource)
        methods = asm.get("code_challenge_methods_supported")
        if not asm.get("_fallback") and (not isinstance(methods, list) or "S256" not in methods):
            raise OAuthError("the authorization server does not advertise PKCE S256; refusing to proceed")
        verifier, challenge_s256 = pkce_pair()
        state = secrets.token_urlsafe(32)
        q = {"response_type": "code", "client_id": client.client_id, "redirect_uri": cfg.redirect_uri,
             "state": state, "code_challenge": challenge_s256, "code_challenge_method": "S256",
             "resource": resource}
        if scope:
            q["scope"] = scope
        ep = asm.get("authorization_endpoint")
        if not isinstance(ep, str) or urlsplit(ep).scheme not in ("http", "https"):
            raise OAuthError("the authorization server metadata has no usable authorization_endpoint")
        sep = "&" if urlsplit(ep).query else "?"
        answer = yield AuthorizationNeeded(url=ep + sep + urlencode(q, quote_via=quote), redirect_uri=cfg.redirect_uri,
                                           state=state)
        callback, now = answer
        params = dict(parse_qsl(urlsplit(callback).query, keep_blank_values=True))
        if params.get("state") != state:
            raise OAuthError("the authorization response's state does not match", error="invalid_state")
        # RFC 9207 section 2.4: simple string comparison, before anything else is acted on
        iss = params.get("iss")
        expected_iss = asm.get("issuer")
        if iss is not None:
            if expected_iss is None or iss != expected_iss:
                raise OAuthError(f"the authorization response comes from issuer {iss!r}, not {expected_iss!r}",
                                 error="invalid_issuer")
        elif asm.get("authorization_response_iss_parameter_supported") is True:
            raise OAuthError("the authorization server promised an iss parameter and sent none",
                             error="invalid_issuer")
        if "error" in params:
            raise OAuthError(f"authorization denied: {params['error']} {params.get('error_description', '')}".strip(),
                             error=params["error"])
        code = params.get("code")
        if not code:
            raise OAuthError("the authorization response carries no code")

        # step 7: token request
        tokens = yield from self._token(asm, client, {
            "grant_type": "authorization_code", "code": code, "redirect_uri": cfg.redirect_uri,
            "code_verifier": verifier, "resource": resource}, resource, now)
        yield Authorized(resource=resource, tokens=tokens)

    def _as_metadata(self, issuer: str, *, legacy: bool) -> Generator[AuthEvent, Any, dict[str, Any]]:
        u = urlsplit(issuer)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise OAuthError(f"authorization server {issuer!r} is not an http(s) URL")
        if u.path.strip("/"):
            urls = [_well_known(issuer, "oauth-authorization-server", insert=True),
                    _well_known(issuer, "openid-configuration", insert=True),
                    _well_known(issuer, "openid-configuration", insert=False)]
        else:
            urls = [_well_known(issuer, "oauth-authorization-server", insert=True),
                    _well_known(issuer, "openid-configuration", insert=True)]
        for c in urls:
            doc = yield from self._get_json(c)
            if doc is None:
                continue
            if legacy and isinstance(doc.get("issuer"), str):
                # 2025-03-26: the URL came from the MCP server's origin, not from an issuer
                # identifier, so there is nothing to compare the document's issuer with
                pass
            elif doc.get("issuer") != issuer:  # RFC 8414 section 3.3: identical
                raise OAuthError(f"authorization server metadata at {c} names issuer {doc.get('issuer')!r}, "
                                 f"not {issuer!r}", error="invalid_issuer")
            for key in ("authorization_endpoint", "token_endpoint"):
                v = doc.get(key)
                if v is not None and not isinstance(v, str):
                    raise OAuthError(f"authorization server metadata: {key} is not a string")
            if not isinstance(doc.get("token_endpoint"), str):
                raise OAuthError("authorization server metadata has no token_endpoint")
            self._as_cache[issuer] = doc
            return doc
        # 2025-03-26 section 2.3.3: default endpoints relative to the authorization base URL
        base = urlunsplit((u.scheme, u.netloc, "", "", ""))
        doc = {"authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
               "registration_endpoint": base + "/register", "_fallback": True}
        self._as_cache[issuer] = doc
        return doc

    def _id_jag(self, j: IdJag, asm: dict[str, Any], resource: str) -> Generator[AuthEvent, Any, str]:
        """RFC 8693 token exchange at the IdP: the user's ID token for an ID-JAG whose audience is this issuer."""
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "requested_token_type": "urn:ietf:params:oauth:token-type:id-jag",
                "audience": asm.get("issuer") or "", "resource": resource, "subject_token": j.id_token,
                "subject_token_type": "urn:ietf:params:oauth:token-type:id_token", "client_id": j.idp_client_id}
        headers = [(b"content-type", _FORM), (b"accept", _JSON)]
        if j.idp_client_secret is not None:
            form["client_secret"] = j.idp_client_secret
        answer = yield HttpCall(method="POST", url=j.idp_token_endpoint, headers=headers,
                                body=urlencode(form).encode())
        status, _h, body, _now = answer
        if status != 200:
            raise OAuthError(f"token exchange at {j.idp_token_endpoint} failed: HTTP {status}")
        grant = self._json(body, "token exchange response").get("access_token")
        if not isinstance(grant, str) or not grant:
            raise OAuthError("token exchange response has no access_token (the ID-JAG)")
        return grant

    def _static_client(self, issuer: str) -> ClientInfo | None:
        cfg = self.config
        if cfg.client_id is None or (cfg.issuer is not None and cfg.issuer != issuer):
            return None
        method = cfg.token_endpoint_auth_method
        if method is None and cfg.private_key_pem is not None:
            method = "private_key_jwt"
        return ClientInfo(client_id=cfg.client_id, client_secret=cfg.client_secret, token_endpoint_auth_method=method)

    def _client(self, issuer: str, asm: dict[str, Any]) -> Generator[AuthEvent, Any, ClientInfo]:
        cfg = self.config
        stored = self.storage.get_client(issuer)
        if stored is not None:
            return stored
        static = self._static_client(issuer)
        if static is not None:
            if cfg.issuer is None:  # bind the static credentials to the first issuer they are used with
                self.config = replace(cfg, issuer=issuer)
            self.storage.set_client(issuer, static)
            return static
        if cfg.client_metadata_url and asm.get("client_id_metadata_document_supported") is True:
            info = ClientInfo(client_id=cfg.client_metadata_url, token_endpoint_auth_method="none")
            self.storage.set_client(issuer, info)
            return info
        ep = asm.get("registration_endpoint")
        if not isinstance(ep, str):
            raise OAuthError(f"no way to identify this client at {issuer}: no pre-registered client_id, no "
                             "Client ID Metadata Document support, no registration endpoint",
                             error="unregistered_client")
        supported = asm.get("token_endpoint_auth_methods_supported")
        supported = supported if isinstance(supported, list) else ["client_secret_basic"]
        want = cfg.token_endpoint_auth_method or next(
            (m for m in ("none", "client_secret_basic", "client_secret_post") if m in supported), "client_secret_basic")
        meta = {"client_name": cfg.client_name, "redirect_uris": [cfg.redirect_uri],
                "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                "token_endpoint_auth_method": want, "application_type": cfg.application_type}
        answer = yield HttpCall(method="POST", url=ep, headers=[(b"content-type", _JSON), (b"accept", _JSON)],
                                body=json.dumps(meta).encode())
        status, _h, body, _now = answer
        if status not in (200, 201):
            raise OAuthError(f"dynamic client registration at {ep} failed: HTTP {status}")
        doc = self._json(body, "registration response")
        cid = doc.get("client_id")
        if not isinstance(cid, str) or not cid:
            raise OAuthError("registration response has no client_id")
        secret = doc.get("client_secret")
        method = doc.get("token_endpoint_auth_method")
        info = ClientInfo(client_id=cid, client_secret=secret if isinstance(secret, str) else None,
                          token_endpoint_auth_method=method if isinstance(method, str) else None)
        self.storage.set_client(issuer, info)
        return info

    def _auth_method(self, client: ClientInfo, asm: dict[str, Any]) -> str:
        if client.token_endpoint_auth_method:
            return client.token_endpoint_auth_method
        if client.client_secret is None:
            return "none"
        supported = asm.get("token_endpoint_auth_methods_supported")
        supported = supported if isinstance(supported, list) else ["client_secret_basic"]
        return "client_secret_post" if "client_secret_basic" not in supported and "client_secret_post" in supported \
            else "client_secret_basic"

    def _token(self, asm: dict[str, Any], client: ClientInfo, form: dict[str, str], resource: str,
               now: float) -> Generator[AuthEvent, Any, Tokens]:
        ep = asm["token_endpoint"]
        headers = [(b"content-type", _FORM), (b"accept", _JSON)]
        method = self._auth_method(client, asm)
        form = dict(form)
        if method == "client_secret_basic":
            if client.client_secret is None:
                raise OAuthError("client_secret_basic needs a client secret")
            # RFC 6749 section 2.3.1: each part form-urlencoded before base64
            raw = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}".encode()
            headers.append((b"authorization", b"Basic " + base64.b64encode(raw)))
        elif method == "client_secret_post":
            form["client_id"] = client.client_id
            form["client_secret"] = client.client_secret or ""
        elif method == "private_key_jwt":
            form["client_id"] = client.client_id
            form["client_assertion_type"] = _JWT_BEARER_ASSERTION
            form["client_assertion"] = self._assertion(client.client_id, asm, now)
        elif client.client_id:
            form["client_id"] = client.client_id
        dpop = self._use_dpop(asm)
        for _ in range(2):  # a second time only after a use_dpop_nonce challenge (RFC 9449 section 8)
            sent = headers + ([(b"dpop", self._dpop_proof("POST", ep, now).encode())] if dpop else [])
            answer = yield HttpCall(method="POST", url=ep, headers=sent, body=urlencode(form).encode())
            status, rh, body, now = answer
            nonce = _header(rh, b"dpop-nonce")
            if nonce is not None:
                self._nonces[_origin(ep)] = nonce
            if not (dpop and status == 400 and nonce is not None and b"use_dpop_nonce" in body):
                break
        if status != 200:
            err = None
            try:
                err = self._json(body, "token error").get("error")
            except OAuthError:
                pass
            raise OAuthError(f"token request to {ep} failed: HTTP {status} {err or ''}".strip(),
                             error=err if isinstance(err, str) else None)
        doc = self._json(body, "token response")
        at = doc.get("access_token")
        tt = doc.get("token_type", "Bearer")
        if not isinstance(at, str) or not at or not isinstance(tt, str):
            raise OAuthError("token response has no access_token")
        exp = doc.get("expires_in")
        rt = doc.get("refresh_token")
        sc = doc.get("scope")
        tokens = Tokens(access_token=at, token_type=tt,
                        expires_at=now + float(exp) if isinstance(exp, (int, float)) and exp >= 0 else None,
                        refresh_token=rt if isinstance(rt, str) else form.get("refresh_token"),
                        scope=sc if isinstance(sc, str) else form.get("scope"),
                        issuer=asm.get("issuer") or None, resource=resource)
        if tokens.issuer is None:  # fallback endpoints: key by the token endpoint's origin
            s, h, p = _origin(ep)
            tokens = replace(tokens, issuer=f"{s}://{h}:{p}")
        self._as_cache.setdefault(tokens.issuer or "", asm)
        self.storage.set_tokens(resource, tokens)
        return tokens

    def _refresh(self, old: Tokens, asm: dict[str, Any], now: float) -> Generator[AuthEvent, Any, Tokens | None]:
        client = self.storage.get_client(old.issuer or "") or self._static_client(old.issuer or "")
        if client is None or old.refresh_token is None:
            return None
        try:
            return (yield from self._token(asm, client, {"grant_type": "refresh_token",
                                                         "refresh_token": old.refresh_token,
                                                         "resource": old.resource or ""}, old.resource or "", now))
        except OAuthError:
            self.storage.set_tokens(old.resource or "", None)
            return None

    def _assertion(self, client_id: str, asm: dict[str, Any], now: float) -> str:
        """An RFC 7523 section 2.2 client assertion, signed with ``private_key_pem`` (needs PyJWT)."""
        try:
            import jwt  # PyJWT, the [jwt] extra
        except ImportError:  # pragma: no cover - depends on the environment
            raise OAuthError("private_key_jwt needs PyJWT: pip install 'streamcore[jwt]'") from None
        if self.config.private_key_pem is None:
            raise OAuthError("private_key_jwt needs private_key_pem")
        t = int(now)  # JWT claims are wall-clock (RFC 7519 section 4.1.4): ``now`` must be too
        claims = {"iss": client_id, "sub": client_id, "aud": asm.get("issuer") or asm["token_endpoint"],
                  "iat": t, "exp": t + 300, "jti": secrets.token_urlsafe(16)}
        return str(jwt.encode(claims, self.config.private_key_pem, algorithm=self.config.signing_algorithm))

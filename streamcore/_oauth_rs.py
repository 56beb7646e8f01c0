"""Sans-IO resource-server side of MCP authorization: PRM document, bearer checks, token verifiers.

* :class:`ProtectedResource`: the RFC 9728 document of one MCP endpoint and
  the well-known path it is served at (section 3.1: the resource's path is
  appended to ``/.well-known/oauth-protected-resource``).
* :class:`BearerAuth`: the server core's ``authenticate`` hook
  (``ServerConfig(authenticate=BearerAuth(...))``). It reads
  ``Authorization: Bearer`` (RFC 6750 section 2.1), asks a
  :class:`TokenVerifier`, checks expiry, audience (RFC 8707 / MCP "Token
  Handling": the token must be for *this* resource) and the required scopes,
  and rejects with :class:`AuthChallenge`: 401 with ``WWW-Authenticate: Bearer
  resource_metadata="...", scope="..."`` (RFC 9728 section 5.1, RFC 6750
  section 3) and ``error="invalid_token"`` when a token was presented; 403
  ``error="insufficient_scope"`` for step-up (RFC 6750 section 3.1).
* Verifiers: :class:`StaticTokens` (a dict, for tests and development),
  :class:`JwtVerifier` (RFC 9068 JWT access tokens signed by keys of a JWKS;
  PyJWT, the ``[jwt]`` extra) and :class:`IntrospectionVerifier` (RFC 7662:
  it builds the introspection request and caches answers; the asyncio adapter
  makes the call before the request reaches the core).

The identity the core binds sessions to (SEC-10) is the :class:`AccessToken`,
whose equality is (issuer, subject, client_id): a refreshed token keeps its
session.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence
from urllib.parse import urlencode, urlsplit

from ._errors import LocalProtocolError, RemoteProtocolError
from ._oauth import canonical_resource

__all__ = [
    "AccessToken",
    "AuthChallenge",
    "BearerAuth",
    "IntrospectionVerifier",
    "JwtVerifier",
    "ProtectedResource",
    "StaticTokens",
    "TokenVerifier",
    "bearer_token",
    "DEFAULT_INTROSPECTION_CACHE",
    "DEFAULT_JWT_CACHE",
    "DEFAULT_MAX_TOKEN_SIZE",
]

#: introspection answers kept (LRU); each is a few hundred bytes
DEFAULT_INTROSPECTION_CACHE = 10_000
#: verified JWTs remembered (LRU); an entry is a few hundred bytes
DEFAULT_JWT_CACHE = 10_000
#: a longer Authorization value is rejected unread (JWTs are 1-2 KiB; Kong/nginx cap headers at 8 KiB)
DEFAULT_MAX_TOKEN_SIZE = 8 * 1024

Headers = Sequence[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessToken:
    """A verified access token: who, for whom, with what (equality: issuer, subject, client_id)."""

    subject: str | None = None
    client_id: str | None = None
    issuer: str | None = None
    token: str = field(default="", compare=False, repr=False)
    scopes: frozenset[str] = field(default=frozenset(), compare=False)
    #: resource indicators the token is for (``aud``); empty: the verifier does not know
    audience: tuple[str, ...] = field(default=(), compare=False)
    #: wall-clock seconds
    expires_at: float | None = field(default=None, compare=False)
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class TokenVerifier(Protocol):
    """Turns a presented token into an :class:`AccessToken`, or None when it is not valid."""

    def verify(self, token: str, *, now: float) -> AccessToken | None:
        """The verified token, or None when ``token`` is not valid (unknown, bad signature, revoked)."""
        ...


class AuthChallenge(RemoteProtocolError):
    """A rejected request: ``status_hint`` (401/403) and the ``WWW-Authenticate`` header in ``headers``."""

    def __init__(self, msg: str, *, status_hint: int, www_authenticate: bytes) -> None:
        super().__init__(msg, status_hint=status_hint)
        self.headers = [(b"www-authenticate", www_authenticate)]
        self.www_authenticate = www_authenticate


def _quote(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ProtectedResource:
    """RFC 9728 Protected Resource Metadata of one MCP endpoint."""

    def __init__(self, resource: str, authorization_servers: Sequence[str], *,
                 scopes_supported: Sequence[str] | None = None, resource_name: str | None = None,
                 bearer_methods_supported: Sequence[str] = ("header",), extra: Mapping[str, Any] | None = None) -> None:
        if not authorization_servers:
            raise LocalProtocolError("a protected resource names at least one authorization server (MCP)")
        u = urlsplit(resource)
        if u.scheme not in ("http", "https") or not u.netloc or u.fragment:
            raise LocalProtocolError(f"resource must be an absolute http(s) URL without fragment: {resource!r}")
        self.resource = canonical_resource(resource)
        self.authorization_servers = list(authorization_servers)
        self.scopes_supported = list(scopes_supported) if scopes_supported is not None else None
        doc: dict[str, Any] = {"resource": self.resource, "authorization_servers": self.authorization_servers,
                               "bearer_methods_supported": list(bearer_methods_supported)}
        if self.scopes_supported is not None:
            doc["scopes_supported"] = self.scopes_supported
        if resource_name:
            doc["resource_name"] = resource_name
        doc.update(extra or {})
        self._document = json.dumps(doc).encode()

    @property
    def metadata_path(self) -> str:
        """``/.well-known/oauth-protected-resource`` + the resource's path (RFC 9728 section 3.1)."""
        return "/.well-known/oauth-protected-resource" + urlsplit(self.resource).path.rstrip("/")

    @property
    def metadata_url(self) -> str:
        """The absolute URL of the document (the ``resource_metadata`` of challenges)."""
        u = urlsplit(self.resource)
        return f"{u.scheme}://{u.netloc}{self.metadata_path}"

    def document(self) -> bytes:
        """The JSON document (``application/json``)."""
        return self._document

    def challenge(self, *, error: str | None = None, scope: str | None = None,
                  description: str | None = None) -> bytes:
        """A ``WWW-Authenticate`` value: ``Bearer resource_metadata="...", scope="...", error="..."``."""
        parts = [f"resource_metadata={_quote(self.metadata_url)}"]
        if scope:
            parts.append(f"scope={_quote(scope)}")
        if error:
            parts.append(f"error={_quote(error)}")
        if description:
            parts.append(f"error_description={_quote(description)}")
        return ("Bearer " + ", ".join(parts)).encode("latin-1", "replace")


def bearer_token(headers: Headers, *, max_size: int = DEFAULT_MAX_TOKEN_SIZE) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (RFC 6750 section 2.1), or None.

    Raises :class:`ValueError` for a malformed Bearer value (several, empty, or not b64token).
    """
    found = None
    for k, v in headers:
        if k.lower() == b"authorization":
            if found is not None:
                raise ValueError("more than one Authorization header")
            found = v
    if found is None:
        return None
    if len(found) > max_size:
        raise ValueError("Authorization header too large")
    scheme, _, rest = found.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    tok = rest.strip()
    # translate() deletes the b64token characters in C: anything left is illegal (a per-byte
    # Python loop cost 60% of a cached verification)
    if not tok or tok.translate(None, _B64TOKEN):
        raise ValueError("malformed Bearer token")
    return tok.decode("ascii")


_B64TOKEN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="


class BearerAuth:
    """The core's ``authenticate`` hook: every request needs a valid token for this resource (SEC-08).

    ``required_scopes``: scopes every request needs (403 ``insufficient_scope``
    without them). ``scope_hint``: the ``scope`` put in the 401 challenge
    (default: the required scopes; the spec's scope-selection strategy).
    ``check_audience``: reject tokens whose audience does not include the
    resource (a verifier that cannot tell returns an empty audience, which
    passes only with ``check_audience=False``).
    """

    def __init__(self, verifier: TokenVerifier, resource: ProtectedResource, *,
                 required_scopes: Iterable[str] = (), scope_hint: str | None = None, check_audience: bool = True,
                 clock: Callable[[], float] = time.time, max_token_size: int = DEFAULT_MAX_TOKEN_SIZE) -> None:
        self.verifier = verifier
        self.resource = resource
        self.required_scopes = frozenset(required_scopes)
        self.scope_hint = scope_hint if scope_hint is not None else (" ".join(sorted(self.required_scopes)) or None)
        self.check_audience = check_audience
        self.clock = clock
        self.max_token_size = max_token_size

    def _reject(self, status: int, msg: str, error: str | None, scope: str | None = None) -> AuthChallenge:
        www = self.resource.challenge(error=error, scope=scope if scope is not None else self.scope_hint,
                                      description=msg if error else None)
        return AuthChallenge(msg, status_hint=status, www_authenticate=www)

    def __call__(self, headers: Headers) -> AccessToken:
        try:
            token = bearer_token(headers, max_size=self.max_token_size)
        except ValueError as exc:
            raise self._reject(401, str(exc), "invalid_token") from None
        if token is None:
            raise self._reject(401, "Unauthorized: a Bearer token is required", None)
        now = self.clock()
        at = self.verifier.verify(token, now=now)
        if at is None:
            raise self._reject(401, "Unauthorized: the token is not valid", "invalid_token")
        if at.expires_at is not None and now >= at.expires_at:
            raise self._reject(401, "Unauthorized: the token has expired", "invalid_token")
        if self.check_audience and not any(_same_resource(a, self.resource.resource) for a in at.audience):
            raise self._reject(401, "Unauthorized: the token was not issued for this resource", "invalid_token")
        missing = self.required_scopes - at.scopes
        if missing:
            need = " ".join(sorted(self.required_scopes | at.scopes))
            raise self._reject(403, f"Forbidden: insufficient scope (missing {' '.join(sorted(missing))})",
                               "insufficient_scope", scope=need)
        return at

    def insufficient_scope(self, scope: str) -> AuthChallenge:
        """The 403 to send when an operation needs ``scope`` (for adapters that check per method)."""
        return self._reject(403, f"Forbidden: insufficient scope (needs {scope})", "insufficient_scope", scope=scope)


@functools.lru_cache(maxsize=1024)  # audiences repeat on every request of a client: parse each once
def _canonical_or_none(a: str) -> str | None:
    try:
        return canonical_resource(a)
    except (LocalProtocolError, ValueError):
        return None


def _same_resource(a: str, b: str) -> bool:
    ca = _canonical_or_none(a)
    return ca is not None and ca == _canonical_or_none(b)


class StaticTokens:
    """A fixed table of tokens (tests, development, service accounts)."""

    def __init__(self, tokens: Mapping[str, AccessToken]) -> None:
        self.tokens = dict(tokens)

    def verify(self, token: str, *, now: float) -> AccessToken | None:
        """The table's entry for ``token``, or None."""
        return self.tokens.get(token)


def _scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    sc = claims.get("scope")
    if isinstance(sc, str):
        return frozenset(s for s in sc.split(" ") if s)
    scp = claims.get("scp")
    if isinstance(scp, list):
        return frozenset(s for s in scp if isinstance(s, str))
    return frozenset()


def _audience_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list):
        return tuple(a for a in aud if isinstance(a, str))
    return ()


class JwtVerifier:
    """JWT access tokens (RFC 9068) signed by a key of a JWKS (RFC 7517), checked with PyJWT.

    ``jwks`` is the key set document (``{"keys": [...]}``); fetch it with
    :func:`streamcore.aio.auth.load_jwks` or your own client and call
    :meth:`update_jwks` when the issuer rotates keys. Checked: signature
    (``algorithms`` only, never ``none``), ``iss``, ``exp``/``nbf`` (with
    ``leeway``), ``aud`` when ``audience`` is given (else :class:`BearerAuth`
    checks it against the resource).
    """

    def __init__(self, jwks: Mapping[str, Any], *, issuer: str, audience: str | None = None,
                 algorithms: Sequence[str] = ("RS256", "ES256", "PS256", "EdDSA"), leeway: float = 30.0,
                 max_cache: int = DEFAULT_JWT_CACHE) -> None:
        try:
            import jwt  # noqa: F401  (PyJWT, the [jwt] extra)
        except ImportError:  # pragma: no cover - depends on the environment
            raise LocalProtocolError("JwtVerifier needs PyJWT with cryptography: pip install 'streamcore[jwt]'") from None
        if "none" in algorithms:
            raise LocalProtocolError("the 'none' algorithm is never acceptable")
        self.issuer = issuer
        self.audience = audience
        self.algorithms = list(algorithms)
        self.leeway = leeway
        if max_cache < 0:
            raise LocalProtocolError("max_cache must be 0 (no cache) or more")
        self.max_cache = max_cache
        # verified tokens -> AccessToken: a session sends the same token on every request, and a
        # signature check costs ~1000x a dict hit; bounded LRU, an entry lives until the token's exp
        self._cache: OrderedDict[str, AccessToken] = OrderedDict()
        self._keys: dict[str | None, Any] = {}
        self.update_jwks(jwks)

    def update_jwks(self, jwks: Mapping[str, Any]) -> None:
        """Replace the key set (key rotation); the cache of verified tokens is emptied."""
        import jwt
        keys: dict[str | None, Any] = {}
        for k in jwks.get("keys", []) if isinstance(jwks, Mapping) else []:
            if not isinstance(k, Mapping) or k.get("use", "sig") != "sig":
                continue
            try:
                keys[k.get("kid")] = jwt.PyJWK(dict(k)).key
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                continue  # a key type PyJWT cannot use: skip it, keep the others
        if not keys:
            raise LocalProtocolError("the JWKS has no usable signing key")
        self._keys = keys
        self._cache.clear()  # a key may have been withdrawn: verify again

    def verify(self, token: str, *, now: float) -> AccessToken | None:
        """The verified token (from the cache while unexpired), or None."""
        hit = self._cache.get(token)
        if hit is not None:
            if hit.expires_at is not None and now < hit.expires_at + self.leeway:
                self._cache.move_to_end(token)
                return hit
            del self._cache[token]
        at = self._verify(token, now)
        if at is not None and self.max_cache:
            self._cache[token] = at
            if len(self._cache) > self.max_cache:
                self._cache.popitem(last=False)
        return at

    def _verify(self, token: str, now: float) -> AccessToken | None:
        import jwt
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = self._keys.get(kid) if kid is not None else (
                next(iter(self._keys.values())) if len(self._keys) == 1 else None)
            if key is None:
                return None
            # time claims are checked below against ``now`` (the caller's clock), not PyJWT's own
            opts: dict[str, Any] = {"require": ["exp", "iss"], "verify_exp": False, "verify_nbf": False,
                                    "verify_iat": False}
            if self.audience is None:
                opts["verify_aud"] = False
            claims = jwt.decode(token, key, algorithms=self.algorithms, issuer=self.issuer, audience=self.audience,
                                leeway=self.leeway, options=opts)  # type: ignore[arg-type]
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, (int, float)) or now >= exp + self.leeway:
            return None
        if isinstance(nbf, (int, float)) and now < nbf - self.leeway:
            return None
        return AccessToken(subject=claims.get("sub"), client_id=claims.get("client_id") or claims.get("azp"),
                           issuer=claims.get("iss"), token=token, scopes=_scopes_of(claims),
                           audience=_audience_of(claims),
                           expires_at=float(exp) if isinstance(exp, (int, float)) else None, claims=claims)


class IntrospectionVerifier:
    """RFC 7662 token introspection, sans-IO: the request to make, and a bounded cache of answers.

    :meth:`verify` answers from the cache only; :meth:`needs` says whether a
    token must be introspected first, :meth:`request` builds that call
    (``POST token=...`` with the resource server's client credentials, RFC
    7662 section 2.1) and :meth:`receive` stores the answer (section 2.2).
    Answers are kept until the token's ``exp`` or ``cache_ttl``, whichever is
    first; inactive answers for ``negative_ttl``.
    """

    def __init__(self, endpoint: str, *, client_id: str, client_secret: str, cache_ttl: float = 300.0,
                 negative_ttl: float = 30.0, max_cache: int = DEFAULT_INTROSPECTION_CACHE) -> None:
        if max_cache < 1:
            raise LocalProtocolError("max_cache must be at least 1")
        self.endpoint = endpoint
        self.client_id = client_id
        self.client_secret = client_secret
        self.cache_ttl = cache_ttl
        self.negative_ttl = negative_ttl
        self.max_cache = max_cache
        self._cache: OrderedDict[str, tuple[float, AccessToken | None]] = OrderedDict()

    def needs(self, token: str, *, now: float) -> bool:
        """True when ``token`` must be introspected (not cached, or its answer is stale)."""
        hit = self._cache.get(token)
        return hit is None or now >= hit[0]

    def request(self, token: str) -> tuple[str, list[tuple[bytes, bytes]], bytes]:
        """``(url, headers, body)`` of the introspection POST."""
        cred = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode())
        return (self.endpoint, [(b"content-type", b"application/x-www-form-urlencoded"),
                                (b"accept", b"application/json"), (b"authorization", b"Basic " + cred)],
                urlencode({"token": token, "token_type_hint": "access_token"}).encode())

    def receive(self, token: str, status: int, body: bytes, *, now: float) -> AccessToken | None:
        """Store the answer to :meth:`request`; an error or inactive answer caches "not valid"."""
        at: AccessToken | None = None
        until = now + self.negative_ttl
        if status == 200:
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            if isinstance(doc, dict) and doc.get("active") is True:
                exp = doc.get("exp")
                expires = float(exp) if isinstance(exp, (int, float)) else None
                at = AccessToken(subject=doc.get("sub"), client_id=doc.get("client_id"), issuer=doc.get("iss"),
                                 token=token, scopes=_scopes_of(doc), audience=_audience_of(doc),
                                 expires_at=expires, claims=doc)
                until = min(now + self.cache_ttl, expires if expires is not None else now + self.cache_ttl)
        elif status >= 500:
            return None  # the introspection endpoint failed: do not remember anything
        self._cache[token] = (until, at)
        self._cache.move_to_end(token)
        while len(self._cache) > self.max_cache:
            self._cache.popitem(last=False)
        return at

    def verify(self, token: str, *, now: float) -> AccessToken | None:
        """The cached answer for ``token``: the AccessToken if active, else None (also when not cached)."""
        hit = self._cache.get(token)
        if hit is None or now >= hit[0]:
            return None
        return hit[1]

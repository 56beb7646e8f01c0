"""A small sans-IO CORS policy for MCP browser clients.

Browsers call a Streamable HTTP endpoint from another origin only after a
preflight (``OPTIONS`` with ``Access-Control-Request-Method``), and they let
a script read a response header only when the server names it in
``Access-Control-Expose-Headers``: without ``Mcp-Session-Id`` there a browser
client can never continue the session it just opened. :class:`CorsPolicy`
answers the preflight and says which headers to add to every other response.
It never reads a socket: :mod:`streamcore.asgi` uses it, and any adapter can
(call :meth:`CorsPolicy.preflight` for ``OPTIONS`` and add
:meth:`CorsPolicy.response_headers` to the head of every other response).

CORS is a browser-side read permission, not access control: the server core's
``Origin`` check (SEC-02: a present, not allowed ``Origin`` gets 403) stays
on. Give the core the same origins (:attr:`CorsPolicy.origin_hosts` is the
value for ``ServerConfig.allowed_origins``). The core compares host names
only; :meth:`CorsPolicy.refuses` is the exact check (scheme, host and port)
that the adapters add in front of it: an ``Origin`` that is neither allowed
nor the server's own gets 403 before the core sees the request.

Rules (Fetch standard, "CORS protocol"):

* allowed origins are explicit (``scheme://host[:port]``); ``"*"`` is
  accepted only without credentials, since browsers refuse a wildcard on a
  credentialed response;
* the preflight allows ``POST``, ``GET`` and ``DELETE`` and the MCP request
  headers (``Content-Type``, ``Accept``, ``Authorization``,
  ``Mcp-Session-Id``, ``MCP-Protocol-Version``, ``Last-Event-ID``,
  ``Mcp-Method``, ``Mcp-Name`` and any ``Mcp-Param-*``);
* responses expose ``Mcp-Session-Id``, ``MCP-Protocol-Version``,
  ``WWW-Authenticate`` and ``Retry-After`` and carry ``Vary: Origin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "CorsPolicy",
    "MCP_REQUEST_HEADERS",
    "MCP_EXPOSE_HEADERS",
    "MCP_METHODS",
    "DEFAULT_MAX_AGE",
    "MAX_REQUEST_HEADERS",
]

Headers = list[tuple[bytes, bytes]]

#: Request headers an MCP client sends (both protocol eras).
MCP_REQUEST_HEADERS: tuple[str, ...] = (
    "accept", "authorization", "content-type", "last-event-id", "mcp-method", "mcp-name",
    "mcp-protocol-version", "mcp-session-id",
)
#: Prefix of the 2026-07-28 custom argument headers (SEP-2243), allowed by prefix.
MCP_PARAM_PREFIX = "mcp-param-"
#: Response headers a browser client must be able to read.
MCP_EXPOSE_HEADERS: tuple[str, ...] = ("mcp-session-id", "mcp-protocol-version", "www-authenticate", "retry-after")
#: Methods of the one MCP endpoint.
MCP_METHODS: tuple[str, ...] = ("POST", "GET", "DELETE")
#: Seconds a browser may cache a preflight (Chromium caps it at 7200).
DEFAULT_MAX_AGE = 600
#: Header names one preflight may ask for; more is refused (403), so a hostile
#: ``Access-Control-Request-Headers`` cannot make the answer grow without bound.
MAX_REQUEST_HEADERS = 64


def _normalize_origin(origin: str) -> str:
    if origin == "*":
        return origin
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def _get(headers: Headers, name: bytes) -> bytes | None:
    for k, v in headers:
        if k == name:
            return v
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class CorsPolicy:
    """Which browser origins may call the endpoint, and what they may read."""

    #: Exact origins (``"https://app.example"``), or ``("*",)`` without credentials.
    allowed_origins: tuple[str, ...]
    #: Send ``Access-Control-Allow-Credentials: true`` (cookies, HTTP auth).
    allow_credentials: bool = False
    #: Request headers to allow beyond :data:`MCP_REQUEST_HEADERS`.
    extra_request_headers: tuple[str, ...] = ()
    #: Response headers to expose beyond :data:`MCP_EXPOSE_HEADERS`.
    extra_expose_headers: tuple[str, ...] = ()
    #: ``Access-Control-Max-Age`` of a preflight answer, in seconds.
    max_age: int = DEFAULT_MAX_AGE
    _origins: frozenset[bytes] = field(init=False, repr=False, compare=False)
    _allowed: frozenset[str] = field(init=False, repr=False, compare=False)
    _expose: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.allowed_origins, str) or not self.allowed_origins:
            raise ValueError("allowed_origins must be a non-empty tuple of origins")
        origins = tuple(_normalize_origin(o) for o in self.allowed_origins)
        if "*" in origins and self.allow_credentials:
            raise ValueError("a wildcard origin cannot be combined with allow_credentials (browsers refuse it)")
        if not isinstance(self.max_age, int) or self.max_age < 0:
            raise ValueError("max_age must be a non-negative int")
        for h in (*self.extra_request_headers, *self.extra_expose_headers):
            if not h or not h.isascii() or any(c in h for c in " \t\r\n,:"):
                raise ValueError(f"not a header name: {h!r}")
        object.__setattr__(self, "allowed_origins", origins)
        object.__setattr__(self, "_origins", frozenset(o.encode() for o in origins))
        object.__setattr__(self, "_allowed", frozenset(
            h.lower() for h in (*MCP_REQUEST_HEADERS, *self.extra_request_headers)))
        expose = dict.fromkeys(h.lower() for h in (*MCP_EXPOSE_HEADERS, *self.extra_expose_headers))
        object.__setattr__(self, "_expose", ", ".join(expose).encode())

    @property
    def origin_hosts(self) -> tuple[str, ...] | None:
        """The host names to give ``ServerConfig.allowed_origins`` (None for ``"*"``)."""
        if "*" in self.allowed_origins:
            return None
        return tuple(dict.fromkeys(urlsplit(o).hostname or "" for o in self.allowed_origins))

    def allows_origin(self, origin: bytes) -> bool:
        """Whether ``origin`` (the request's ``Origin`` value) is allowed."""
        if b"*" in self._origins:
            return origin != b"null"
        try:
            return _normalize_origin(origin.decode("ascii")).encode() in self._origins
        except (UnicodeDecodeError, ValueError):
            return False

    def refuses(self, headers: Headers, *, scheme: str = "http") -> bool:
        """True if the request carries an ``Origin`` that is neither allowed by
        this policy nor the server's own (``scheme://Host``): answer it 403
        (SEC-02, AMB-18: ``null`` is refused). No ``Origin`` (a non-browser
        client) is never refused here."""
        origin = _get(headers, b"origin")
        if origin is None or self.allows_origin(origin):
            return False
        host = _get(headers, b"host")
        if host is None or origin == b"null":
            return True
        try:
            return _normalize_origin(origin.decode("ascii")) != _normalize_origin(f"{scheme}://{host.decode('ascii')}")
        except (UnicodeDecodeError, ValueError):
            return True

    @staticmethod
    def is_preflight(method: bytes, headers: Headers) -> bool:
        """``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``."""
        return (method == b"OPTIONS" and _get(headers, b"origin") is not None
                and _get(headers, b"access-control-request-method") is not None)

    def preflight(self, headers: Headers) -> tuple[int, Headers]:
        """The answer to a preflight: ``(204, headers)`` when allowed, else ``(403, headers)``
        without any ``Access-Control-Allow-*`` (the browser then refuses the call)."""
        refused: tuple[int, Headers] = (403, [(b"vary", b"origin"), (b"content-length", b"0")])
        origin = _get(headers, b"origin")
        method = _get(headers, b"access-control-request-method")
        if origin is None or method is None or not self.allows_origin(origin):
            return refused
        if method.decode("latin-1") not in MCP_METHODS:
            return refused
        asked = _get(headers, b"access-control-request-headers") or b""
        names = [n.strip().lower() for n in asked.decode("latin-1").split(",") if n.strip()]
        if len(names) > MAX_REQUEST_HEADERS:
            return refused
        for n in names:
            if n not in self._allowed and not (n.startswith(MCP_PARAM_PREFIX) and len(n) > len(MCP_PARAM_PREFIX)):
                return refused
        out: Headers = [
            (b"access-control-allow-origin", origin if self.allow_credentials or b"*" not in self._origins else b"*"),
            (b"access-control-allow-methods", b"POST, GET, DELETE"),
            (b"access-control-max-age", str(self.max_age).encode()),
            (b"vary", b"origin"),
            (b"content-length", b"0"),
        ]
        if names:
            # Echo exactly what was asked (all checked above): this covers the
            # open-ended Mcp-Param-* family, which no static list can name.
            out.insert(2, (b"access-control-allow-headers", ", ".join(names).encode()))
        if self.allow_credentials:
            out.append((b"access-control-allow-credentials", b"true"))
        return 204, out

    def response_headers(self, headers: Headers) -> Headers:
        """Header fields to add to a (non-preflight) response to a request with ``headers``."""
        origin = _get(headers, b"origin")
        if origin is None or not self.allows_origin(origin):
            return [(b"vary", b"origin")]
        wildcard = b"*" in self._origins and not self.allow_credentials
        out: Headers = [
            (b"access-control-allow-origin", b"*" if wildcard else origin),
            (b"access-control-expose-headers", self._expose),
            (b"vary", b"origin"),
        ]
        if self.allow_credentials:
            out.append((b"access-control-allow-credentials", b"true"))
        return out

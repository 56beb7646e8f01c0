"""asyncio driver of the sans-IO OAuth client (:mod:`streamcore._oauth`).

:class:`OAuth` makes the HTTP requests the flow asks for (HTTP/1.1 through
h11, one connection per request, no redirects followed, bodies bounded), asks
a *consent* callable to take the user through the authorization endpoint, and
serialises flows with a lock so that concurrent 401s start one flow, not many.

Consent callables take the authorization URL and return the redirect URI the
user agent came back to:

* :func:`headless_consent`: GETs the URL and takes the ``Location`` of the
  redirect. For authorization servers that approve without a user (tests,
  services with a pre-approved client).
* :class:`BrowserConsent`: opens the system browser and listens on the
  loopback redirect URI (RFC 8252 section 7.3) for the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl as _ssl
import sys
import time
import webbrowser
from typing import Any, Awaitable, Callable, Sequence
from urllib.parse import urljoin, urlsplit

import h11

from .._oauth import (
    AuthorizationFailed,
    AuthorizationNeeded,
    Authorized,
    HttpCall,
    OAuthClient,
    OAuthConfig,
    OAuthError,
    TokenStorage,
)
from .._oauth_rs import IntrospectionVerifier, ProtectedResource, bearer_token

__all__ = ["OAuth", "Consent", "headless_consent", "BrowserConsent", "ResourceServer", "load_jwks", "fetch",
           "DEFAULT_AUTH_TIMEOUT"]

log = logging.getLogger("streamcore.auth")

#: seconds one HTTP request of the flow may take
DEFAULT_AUTH_TIMEOUT = 30.0
#: seconds the user has to consent in the browser
DEFAULT_CONSENT_TIMEOUT = 300.0

Consent = Callable[[str], Awaitable[str]]


async def fetch(method: str, url: str, headers: Sequence[tuple[bytes, bytes]] = (), body: bytes | None = None, *,
                timeout: float = DEFAULT_AUTH_TIMEOUT, max_size: int = 1024 * 1024
                ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One HTTP/1.1 request on its own connection: ``(status, headers, body)``.

    Redirects are returned, not followed. A body larger than ``max_size``
    raises :class:`OAuthError`; a slow server, :class:`asyncio.TimeoutError`.
    """
    return await asyncio.wait_for(_fetch(method, url, headers, body, max_size), timeout)


async def _fetch(method: str, url: str, headers: Sequence[tuple[bytes, bytes]], body: bytes | None,
                 max_size: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise OAuthError(f"not an http(s) URL: {url!r}")
    port = u.port or (443 if u.scheme == "https" else 80)
    ctx = _ssl.create_default_context() if u.scheme == "https" else None
    reader, writer = await asyncio.open_connection(u.hostname, port, ssl=ctx)
    try:
        conn = h11.Connection(h11.CLIENT)
        target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        hs = [(b"host", u.netloc.rsplit("@", 1)[-1].encode("idna")), (b"connection", b"close"),
              (b"user-agent", b"streamcore")]
        hs += [(k, v) for k, v in headers]
        if body is not None:
            hs.append((b"content-length", str(len(body)).encode()))
        writer.write(conn.send(h11.Request(method=method, target=target, headers=hs)))
        if body:
            writer.write(conn.send(h11.Data(data=body)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
        status = 0
        rheaders: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        size = 0
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(ev, h11.Response):
                status = ev.status_code
                rheaders = [(k.lower(), v) for k, v in ev.headers]
            elif isinstance(ev, h11.Data):
                size += len(ev.data)
                if size > max_size:
                    raise OAuthError(f"{method} {url}: response body larger than {max_size} bytes")
                chunks.append(bytes(ev.data))
            elif isinstance(ev, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        return status, rheaders, b"".join(chunks)
    except h11.ProtocolError as exc:
        raise OAuthError(f"{method} {url}: bad HTTP response: {exc}") from None
    finally:
        writer.close()


async def headless_consent(url: str) -> str:
    """Follow the authorization endpoint's redirect without a user: the ``Location`` it answers with."""
    status, headers, _ = await fetch("GET", url)
    for k, v in headers:
        if k == b"location":
            return urljoin(url, v.decode("latin-1"))
    raise OAuthError(f"the authorization endpoint answered HTTP {status} without a redirect")


def _open_browser(url: str) -> None:
    print(f"Authorize in your browser (opening it now):\n  {url}", file=sys.stderr, flush=True)
    webbrowser.open(url)


class BrowserConsent:
    """Open the browser at the authorization URL and wait on the loopback redirect URI for the answer.

    ``redirect_uri`` is ``http://127.0.0.1:<port><path>``; put the same value
    in :class:`~streamcore.auth.OAuthConfig` (``OAuth`` does it for you when
    you pass this object as ``consent``).
    """

    def __init__(self, port: int = 33418, path: str = "/callback", *,
                 open_browser: Callable[[str], object] | None = None,
                 timeout: float = DEFAULT_CONSENT_TIMEOUT) -> None:
        self.port = port
        self.path = path
        self.open_browser = open_browser if open_browser is not None else _open_browser
        self.timeout = timeout

    @property
    def redirect_uri(self) -> str:
        """``http://127.0.0.1:<port><path>``: register this with the authorization server."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def __call__(self, url: str) -> str:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[str] = loop.create_future()

        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                line = await asyncio.wait_for(reader.readline(), 10)
                parts = line.decode("latin-1").split(" ")
                if len(parts) >= 2 and parts[0] == "GET" and urlsplit(parts[1]).path == self.path:
                    page = b"<!doctype html><title>Authorized</title><p>You can close this window."
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nconnection: close\r\n"
                                 b"content-length: %d\r\n\r\n%s" % (len(page), page))
                    if not got.done():
                        got.set_result(urljoin(self.redirect_uri, parts[1]))
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                await writer.drain()
            except (OSError, asyncio.TimeoutError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_conn, "127.0.0.1", self.port)
        try:
            self.open_browser(url)
            return await asyncio.wait_for(got, self.timeout)
        finally:
            server.close()


def _as_bytes(headers: Sequence[tuple[str | bytes, str | bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower() if isinstance(k, bytes) else k.lower().encode("latin-1"),
             v if isinstance(v, bytes) else v.encode("latin-1")) for k, v in headers]


class OAuth:
    """OAuth 2.1 for :func:`streamcore.aio.client.connect` (``connect(url, auth=OAuth(...))``).

    ``clock`` gives the ``now`` of the sans-IO client (wall-clock seconds by
    default, so that stored tokens outlive the process meaningfully).
    """

    def __init__(self, config: OAuthConfig | None = None, *, storage: TokenStorage | None = None,
                 consent: Consent = headless_consent, timeout: float = DEFAULT_AUTH_TIMEOUT,
                 clock: Callable[[], float] = time.time) -> None:
        if config is None:
            config = OAuthConfig(redirect_uri=consent.redirect_uri) if isinstance(consent, BrowserConsent) \
                else OAuthConfig()
        self.client = OAuthClient(config, storage)
        self.consent = consent
        self.timeout = timeout
        self.clock = clock
        self.last_error: OAuthError | None = None
        self._lock: asyncio.Lock | None = None

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def headers(self, method: str, url: str) -> list[tuple[str, str]]:
        """``Authorization`` (and ``DPoP``) for a request to ``url``; refreshes a token about to expire first."""
        c = self.client
        if c.needs_refresh(url, now=self.clock()) and not c.busy:
            async with self._get_lock():
                if c.needs_refresh(url, now=self.clock()) and c.begin(url, now=self.clock()):
                    await self._pump()
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in c.request_headers(method, url, now=self.clock())]

    def succeeded(self, url: str, headers: Sequence[tuple[str | bytes, str | bytes]] = ()) -> None:
        """A request with a token went through (resets the retry limit; keeps a rotated DPoP nonce)."""
        self.client.succeeded(url)
        if headers:
            self.client.receive_resource_response(url, 200, [h for h in _as_bytes(headers) if h[0] == b"dpop-nonce"])

    async def challenge(self, url: str, status: int, headers: Sequence[tuple[str | bytes, str | bytes]],
                        sent: str | None) -> bool:
        """A 401/403 came back for a request that carried ``sent``: True if a retry now has a better token."""
        hb = _as_bytes(headers)
        if self.client.receive_resource_response(url, status, hb):
            return True  # RFC 9449 section 9: retry with the server's new DPoP nonce
        async with self._get_lock():
            c = self.client
            current = c.authorization(url, now=self.clock())
            if status == 401 and current is not None and current != sent:
                return True  # another request re-authorized while this one waited
            if not c.begin(url, status=status, headers=hb, now=self.clock()):
                return False
            return await self._pump()

    async def _pump(self) -> bool:
        c = self.client
        for _ in range(64):  # bounded: a flow is a dozen steps
            ev = c.next_event()
            if isinstance(ev, HttpCall):
                try:
                    status, headers, body = await fetch(ev.method, ev.url, ev.headers, ev.body, timeout=self.timeout,
                                                        max_size=c.config.max_document_size)
                except (OSError, asyncio.TimeoutError, OAuthError, ValueError, UnicodeError) as exc:
                    # a bad URL in a document, a refused connection, a slow server: the flow fails
                    c.receive_error(exc if not isinstance(exc, asyncio.TimeoutError) else OSError("timed out"),
                                    now=self.clock())
                else:
                    c.receive_response(status, headers, body, now=self.clock())
            elif isinstance(ev, AuthorizationNeeded):
                try:
                    callback = await self.consent(ev.url)
                except (OSError, asyncio.TimeoutError, OAuthError, ValueError, UnicodeError) as exc:
                    c.cancel(f"authorization step failed: {exc}")
                    continue
                c.receive_redirect(callback, now=self.clock())
            elif isinstance(ev, Authorized):
                self.last_error = None
                return True
            elif isinstance(ev, AuthorizationFailed):
                self.last_error = ev.error
                log.warning("authorization failed: %s", ev.error)
                return False
            else:  # pragma: no cover - the client always has an event while a flow runs
                break
        c.cancel("authorization flow did not finish")
        return False


# -- resource-server side ---------------------------------------------------------------


class ResourceServer:
    """The asyncio server's OAuth side: ``StreamableHttpServer(app, config, auth=ResourceServer(...))``.

    Serves the Protected Resource Metadata document at its well-known path
    (RFC 9728 section 3.1; GET only, answered without the core) and, with an
    :class:`~streamcore.auth.IntrospectionVerifier`, introspects a token the
    cache does not know before its request reaches the core (the request's
    head is held, the connection stops reading meanwhile). Put the matching
    :class:`~streamcore.auth.BearerAuth` in ``ServerConfig(authenticate=...)``.
    """

    def __init__(self, resource: ProtectedResource, *, introspection: IntrospectionVerifier | None = None,
                 timeout: float = DEFAULT_AUTH_TIMEOUT, clock: Callable[[], float] = time.time,
                 max_pending: int = 1024) -> None:
        self.resource = resource
        self.introspection = introspection
        self.timeout = timeout
        self.clock = clock
        self.max_pending = max_pending
        self._path = resource.metadata_path.encode("ascii")
        self._pending: dict[str, asyncio.Future[None]] = {}

    def document(self, method: bytes, target: bytes) -> bytes | None:
        """The PRM JSON when ``method target`` asks for it, else None."""
        if method == b"GET" and target.split(b"?", 1)[0] == self._path:
            return self.resource.document()
        return None

    def prepare(self, headers: Sequence[tuple[bytes, bytes]]) -> Awaitable[None] | None:
        """An awaitable when the request's token must be introspected first, else None."""
        iv = self.introspection
        if iv is None:
            return None
        try:
            token = bearer_token(headers)
        except ValueError:
            return None  # BearerAuth answers it
        if token is None or not iv.needs(token, now=self.clock()):
            return None
        fut = self._pending.get(token)
        if fut is None:
            if len(self._pending) >= self.max_pending:
                return None  # overloaded: the request is answered 401 and the client retries
            fut = self._pending[token] = asyncio.ensure_future(self._introspect(token))
        return asyncio.shield(fut)

    async def _introspect(self, token: str) -> None:
        iv = self.introspection
        assert iv is not None
        try:
            url, headers, body = iv.request(token)
            status, _h, rbody = await fetch("POST", url, headers, body, timeout=self.timeout, max_size=64 * 1024)
            iv.receive(token, status, rbody, now=self.clock())
        except (OSError, asyncio.TimeoutError, OAuthError) as exc:
            log.warning("token introspection failed: %s", exc)
        finally:
            self._pending.pop(token, None)


async def load_jwks(url: str, *, timeout: float = DEFAULT_AUTH_TIMEOUT) -> dict[str, Any]:
    """GET a JWKS document (for :class:`~streamcore.auth.JwtVerifier` and its ``update_jwks``)."""
    status, _h, body = await fetch("GET", url, [(b"accept", b"application/json")], timeout=timeout)
    if status != 200:
        raise OAuthError(f"GET {url}: HTTP {status}")
    try:
        doc = json.loads(body)
    except ValueError:
        raise OAuthError(f"{url}: not JSON") from None
    if not isinstance(doc, dict):
        raise OAuthError(f"{url}: not a JWKS")
    return doc

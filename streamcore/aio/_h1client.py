"""HTTP/1.1 for the asyncio client: one :class:`~streamcore.client.HttpRequest` per exchange.

Requests are written by hand (``Host``, ``Content-Length``); a response head is
found with one ``bytes.find``; bodies are framed by ``Transfer-Encoding: chunked``
(``streamcore.chunked``), a ``Content-Length`` of plain ASCII digits, or the end
of the connection (RFC 9112 section 6.3). Body bytes go straight to the core.
Connections that ended a response cleanly with keep-alive return to a small
per-origin pool; a pooled connection that turns out dead before any response
byte is retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .._client import HttpRequest
from .._errors import ChunkedDecodeError, RemoteProtocolError
from .._headers import DEFAULT_MAX_HEAD_SIZE
from ..chunked import ChunkedDecoder

if TYPE_CHECKING:
    from .client import ClientSession

__all__ = ["H1Transport", "DEFAULT_READ_SIZE", "DEFAULT_POOL_SIZE"]

#: bytes asked of the socket per read (h11 and httpx use 64 KiB too)
DEFAULT_READ_SIZE = 64 * 1024
#: idle keep-alive connections kept per origin
DEFAULT_POOL_SIZE = 8
#: digits of a Content-Length we accept (10**18 bytes is beyond any body we would read)
_MAX_CONTENT_LENGTH_DIGITS = 18

_Origin = tuple[str, str, int]
Headers = list[tuple[bytes, bytes]]


class _HeadError(RemoteProtocolError):
    """The response head is malformed (bad status line, header line or Content-Length)."""

    status_hint = 502


class _EOF(Exception):
    pass


def _content_length(values: list[str]) -> int:
    """RFC 9112 section 6.3: one value of plain ASCII digits (equal repeats allowed), bounded."""
    first = values[0]
    if any(v != first for v in values):
        raise _HeadError(f"conflicting Content-Length values {values[:4]!r}")
    # str.isdigit() accepts Unicode digits such as "\u00b2"; only 0-9 are HTTP digits
    if not first or len(first) > _MAX_CONTENT_LENGTH_DIGITS or first.strip("0123456789"):
        raise _HeadError(f"bad Content-Length {first[:40]!r}")
    return int(first)


def _parse_head(head: bytes) -> tuple[int, Headers]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise _HeadError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        k, sep, v = line.partition(b":")
        if not sep or not k or k != k.strip():
            raise _HeadError(f"malformed header line {line[:80]!r}")
        headers.append((k.lower(), v.strip()))
    return int(parts[1]), headers


def _framing(headers: Headers) -> tuple[bytes | None, int | None, bool]:
    """(transfer-coding, content-length, keep-alive) of a response head."""
    te = None
    cls: list[str] = []
    keep = True
    for k, v in headers:
        if k == b"transfer-encoding":
            te = v.lower()
        elif k == b"content-length":
            cls.append(v.decode("latin-1"))
        elif k == b"connection" and b"close" in v.lower():
            keep = False
    if te is not None and cls:
        keep = False  # RFC 9112 section 6.1: chunked wins; do not trust this connection again
    return te, (_content_length(cls) if cls and te is None else None), keep


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # pragma: no cover - already torn down
            pass

    async def read_head(self, buf: bytes = b"") -> tuple[bytes, bytes]:
        data = bytearray(buf)
        start = 0
        while True:
            i = data.find(b"\r\n\r\n", start)
            if i >= 0:
                return bytes(data[:i]), bytes(data[i + 4:])
            if len(data) > DEFAULT_MAX_HEAD_SIZE:
                raise _HeadError(f"response head exceeds {DEFAULT_MAX_HEAD_SIZE} bytes")
            start = max(0, len(data) - 3)
            chunk = await self.reader.read(DEFAULT_READ_SIZE)
            if not chunk:
                raise _EOF("connection closed before a response")
            data += chunk


class _Pool:
    """Idle keep-alive connections, keyed by origin (scheme, host, port)."""

    def __init__(self, size: int, connect_timeout: float) -> None:
        self.size = size
        self.connect_timeout = connect_timeout
        self.idle: dict[_Origin, list[_Conn]] = {}

    async def get(self, origin: _Origin) -> tuple[_Conn, bool]:
        idle = self.idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn, True
            conn.close()
        scheme, host, port = origin
        ctx = _ssl.create_default_context() if scheme == "https" else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, limit=DEFAULT_READ_SIZE), self.connect_timeout)
        return _Conn(reader, writer), False

    def put(self, origin: _Origin, conn: _Conn) -> None:
        idle = self.idle.setdefault(origin, [])
        if len(idle) >= self.size:
            conn.close()
        else:
            idle.append(conn)

    def close(self) -> None:
        for conns in self.idle.values():
            for c in conns:
                c.close()
        self.idle.clear()


def _wire(req: HttpRequest, creds: list[tuple[str, str]]) -> tuple[_Origin, bytes]:
    u = urlsplit(req.url)
    scheme = u.scheme or "http"
    port = u.port or (443 if scheme == "https" else 80)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    lines = [f"{req.method} {path} HTTP/1.1", f"Host: {u.netloc.rsplit('@', 1)[-1]}"]
    lines.extend(f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in req.headers)
    for k, v in creds:  # AUTH-01: Authorization (and a DPoP proof) on every request, never in the query
        lines.append(f"{k}: {v}")
    if req.body is not None:
        lines.append(f"Content-Length: {len(req.body)}")
    elif req.method == "DELETE":
        lines.append("Content-Length: 0")
    wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (req.body or b"")
    return (scheme, u.hostname or "127.0.0.1", port), wire


class H1Transport:
    """The HTTP/1.1 side of a :class:`~streamcore.aio.client.ClientSession`."""

    def __init__(self, pool_size: int, connect_timeout: float) -> None:
        self.pool = _Pool(pool_size, connect_timeout)

    def close(self) -> None:
        self.pool.close()

    async def exchange(self, s: "ClientSession", req: HttpRequest, retried: int = 0) -> None:
        """Perform ``req`` and report it to the session's core (through its ``_feed_*``)."""
        xid = req.xid
        auth = s._auth
        creds = await auth.headers(req.method, req.url) if auth is not None else []
        sent = creds[0][1] if creds else None
        origin, wire = _wire(req, creds)
        conn: _Conn | None = None
        reusable = False
        try:
            got = await self._send(s, xid, origin, wire)
            if got is None:
                return
            conn, head, rest = got
            status, headers = _parse_head(head)
            while 100 <= status < 200:  # interim responses
                head, rest = await conn.read_head(rest)
                status, headers = _parse_head(head)
            if auth is not None and status in (401, 403) and retried < 2:  # AUTH-07: authorize, retry (401, 403)
                if await auth.challenge(req.url, status, headers, sent):
                    conn.close()
                    conn = None
                    return await self.exchange(s, req, retried + 1)
            elif auth is not None and sent is not None and status < 400:
                auth.succeeded(req.url, headers)
            te, cl, keep = _framing(headers)
            s._feed_response(xid, status, headers)
            if req.method == "HEAD" or status in (204, 304):
                reusable = keep
            else:
                clean = await self._body(s, xid, conn, rest, te, cl)  # always read the body
                reusable = keep and clean
            s._feed_data(xid, b"")
        except asyncio.CancelledError:
            reusable = False
            return  # aborted by the core, or the session closed: nothing more to report
        except (OSError, _EOF, _HeadError, ChunkedDecodeError) as exc:
            reusable = False
            s._feed_error(xid, exc)
        finally:
            if s._tasks.get(xid) is asyncio.current_task():
                del s._tasks[xid]
            if conn is not None:
                if reusable:
                    self.pool.put(origin, conn)
                else:
                    conn.close()
            s._pump()  # also after the early returns above

    async def _send(self, s: "ClientSession", xid: int, origin: _Origin,
                    wire: bytes) -> tuple[_Conn, bytes, bytes] | None:
        """Write the request and read the response head; None when that failed (reported)."""
        for attempt in (0, 1):
            try:
                conn, reused = await self.pool.get(origin)
            except (OSError, asyncio.TimeoutError) as exc:
                s._feed_error(xid, exc or "connect timeout")
                return None
            conn.writer.write(wire)
            try:
                head, rest = await conn.read_head()
                return conn, head, rest
            except (ConnectionError, _EOF) as exc:
                conn.close()
                if reused and attempt == 0:
                    continue  # a pooled connection the server had closed: retry once on a new one
                s._feed_error(xid, exc or "connection closed")
                return None
        return None  # pragma: no cover - the loop always returns

    async def _body(self, s: "ClientSession", xid: int, conn: _Conn, data: bytes, te: bytes | None,
                    cl: int | None) -> bool:
        """Read the body to the core; True when the connection may be reused."""
        reader = conn.reader
        if te is not None and te.endswith(b"chunked"):
            dec = ChunkedDecoder()
            while True:  # until the last chunk or EOF
                if data:
                    out = dec.feed(data)
                    if out:
                        s._feed_data(xid, out)
                        await s._room()
                    if dec.done:
                        return not dec.unused_data
                data = await reader.read(DEFAULT_READ_SIZE)
                if not data:
                    raise _EOF("connection closed in the middle of a chunked body")
        if cl is not None:
            left, keep = cl, True
            while True:
                if data:
                    if len(data) > left:
                        data = data[:left]  # excess bytes: the connection is not reused
                        keep = False
                    left -= len(data)
                    s._feed_data(xid, data)
                    await s._room()
                if left <= 0:
                    return keep
                data = await reader.read(min(left, DEFAULT_READ_SIZE))
                if not data:
                    raise _EOF("connection closed before the whole body arrived")
        while True:  # read until EOF (RFC 9112 section 6.3 item 8)
            if data:
                s._feed_data(xid, data)
                await s._room()
            data = await reader.read(DEFAULT_READ_SIZE)
            if not data:
                return False

"""HTTP/2 for the asyncio client: one connection per origin carries every exchange.

``connect(url, http2=True)`` routes each :class:`streamcore._client.HttpRequest`
of the sans-IO client core through :class:`H2Transport`: POSTs, the GET
listening stream and DELETE become streams of one h2 connection (h2c with
prior knowledge for ``http``, ALPN ``h2`` for ``https``). The core sees the
same ``receive_response`` / ``receive_data`` / ``receive_error`` calls as over
HTTP/1.1, so its recovery rules (resumption, re-initialization, listen
re-issue) are unchanged.

Fallback: an ``https`` server that does not pick ``h2`` by ALPN, or an
``http`` server that answers the connection preface with anything but an
HTTP/2 SETTINGS frame, is remembered as HTTP/1.1-only; ``exchange`` then
returns False and the session's HTTP/1.1 path carries the request.

Flow control both ways: request bodies are sent within the server's window
(waiting for WINDOW_UPDATE), and response data is acknowledged only after the
core has taken it. Streams beyond the server's SETTINGS_MAX_CONCURRENT_STREAMS
wait for a free slot. A GOAWAY retries, on a new connection, the streams the
server says it never processed (id above its last stream id, RFC 9113 6.8).
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from .._client import HttpRequest

if TYPE_CHECKING:
    from .client import ClientSession

__all__ = ["H2Transport", "DEFAULT_H2_WINDOW"]

#: Receive window per stream and for the connection: bytes the server may send unread.
DEFAULT_H2_WINDOW = 1024 * 1024
_READ_SIZE = 64 * 1024

Origin = tuple[str, str, int]


class _NotH2(Exception):
    """The server does not speak HTTP/2: use HTTP/1.1."""


class _Retry(Exception):
    """The server refused the stream before processing it (GOAWAY, REFUSED_STREAM)."""


#: Body bytes of a 401/403 kept while OAuth decides whether to retry (the rest is dropped).
_MAX_CHALLENGE_BODY = 64 * 1024


class _Stream:
    __slots__ = ("handle", "session", "done", "window", "hold", "held", "url", "sent")

    def __init__(self, handle: int, session: "ClientSession", loop: asyncio.AbstractEventLoop,
                 url: str = "", sent: str | None = None, hold: bool = False) -> None:
        self.handle = handle
        self.session = session
        self.done: asyncio.Future[None] = loop.create_future()
        self.window = asyncio.Event()  # set when the send window may have opened
        # OAuth (docs/auth.md): a 401/403 is kept from the core until the
        # authorization flow says whether a retry has a better token.
        self.hold = hold
        self.held: tuple[int, list[tuple[bytes, bytes]], bytearray] | None = None
        self.url = url
        self.sent = sent  # the Authorization value this request carried


class _H2Conn(asyncio.Protocol):
    """One client HTTP/2 connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, window: int) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.h2.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window,
        })
        self.window = window
        self.streams: dict[int, _Stream] = {}
        self.ready: asyncio.Future[None] = loop.create_future()  # the server's SETTINGS arrived
        self.slot = asyncio.Event()  # a stream closed: a waiting request may open one
        self.usable = True
        self.last_stream_id: int | None = None  # from GOAWAY
        self.write_paused = False
        self.writable = asyncio.Event()
        self.writable.set()

    # -- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.h2.initiate_connection()
        if self.window > 65535:
            self.h2.increment_flow_control_window(self.window - 65535)
        self.flush()

    def data_received(self, data: bytes) -> None:
        if not self.ready.done() and data[:5] == b"HTTP/":
            self.ready.set_exception(_NotH2("the server answered the HTTP/2 preface with HTTP/1.x"))
            self.usable = False
            self._abort()
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            if not self.ready.done():
                self.ready.set_exception(_NotH2(f"not an HTTP/2 server: {exc}"))
            self._fail_all(ConnectionError(f"HTTP/2 protocol error: {exc}"))
            self._abort()
            return
        for ev in events:
            self._event(ev)
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        if not self.ready.done():
            self.ready.set_exception(_NotH2("the connection closed before the server's SETTINGS"))
        self._fail_all(ConnectionError(f"connection lost: {exc}" if exc else "connection closed"))
        self.writable.set()
        self.slot.set()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.writable.clear()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.writable.set()

    # -- h2 events --------------------------------------------------------------------

    def _event(self, ev: h2.events.Event) -> None:
        if isinstance(ev, h2.events.DataReceived):
            st = self.streams.get(ev.stream_id)
            if st is not None and ev.data:
                if st.held is not None:
                    if len(st.held[2]) < _MAX_CHALLENGE_BODY:
                        st.held[2].extend(ev.data[:_MAX_CHALLENGE_BODY - len(st.held[2])])
                else:
                    st.session._feed_data(st.handle, ev.data)
            if ev.flow_controlled_length:  # acknowledged once the core has it
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.ResponseReceived):
            st = self.streams.get(ev.stream_id)
            if st is None:
                return
            status = 0
            headers: list[tuple[bytes, bytes]] = []
            for name, value in ev.headers:
                n = bytes(name)
                if n == b":status":
                    status = int(value)
                elif n[:1] != b":":
                    headers.append((n.lower(), bytes(value)))
            if st.hold and status in (401, 403):
                st.held = (status, headers, bytearray())  # the exchange decides, at the end of the stream
                return
            auth = st.session._auth
            if auth is not None and st.sent is not None and status < 400:
                auth.succeeded(st.url, headers)
            st.session._feed_response(st.handle, status, headers)
        elif isinstance(ev, h2.events.StreamEnded):
            st = self.streams.pop(ev.stream_id, None)
            if st is not None:
                if st.held is None:
                    st.session._feed_data(st.handle, b"")
                self._close_stream(st, None)
        elif isinstance(ev, h2.events.StreamReset):
            st = self.streams.pop(ev.stream_id, None)
            if st is not None:
                if ev.error_code == h2.errors.ErrorCodes.REFUSED_STREAM:
                    self._close_stream(st, _Retry("stream refused"))
                else:
                    self._close_stream(st, ConnectionError(f"stream reset by the server ({ev.error_code!r})"))
        elif isinstance(ev, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            if isinstance(ev, h2.events.RemoteSettingsChanged) and not self.ready.done():
                self.ready.set_result(None)
            for st in self.streams.values():
                st.window.set()
            self.slot.set()
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.usable = False
            last = ev.last_stream_id if ev.last_stream_id is not None else 0
            self.last_stream_id = last
            for sid in [s for s in self.streams if s > last]:
                self._close_stream(self.streams.pop(sid), _Retry("not processed before GOAWAY"))
            if ev.error_code != h2.errors.ErrorCodes.NO_ERROR:
                self._fail_all(ConnectionError(f"GOAWAY {ev.error_code!r}"))
                self._abort()
            elif not self.streams:
                self._abort()

    def _close_stream(self, st: _Stream, exc: BaseException | None) -> None:
        if not st.done.done():
            if exc is None:
                st.done.set_result(None)
            else:
                st.done.set_exception(exc)
        st.window.set()
        self.slot.set()
        if not self.usable and not self.streams:
            self._abort()

    def _fail_all(self, exc: BaseException) -> None:
        streams, self.streams = self.streams, {}
        for st in streams.values():
            self._close_stream(st, exc)

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _abort(self) -> None:
        self.flush()
        if self.transport is not None:
            self.transport.close()

    # -- requests -----------------------------------------------------------------------

    def can_open(self) -> bool:
        return self.h2.open_outbound_streams < self.h2.remote_settings.max_concurrent_streams

    async def request(self, st: _Stream, req: HttpRequest, authority: str, scheme: str, path: str,
                      creds: list[tuple[str, str]] | None = None) -> None:
        conn = self.h2
        headers = [(b":method", req.method.encode()), (b":scheme", scheme.encode()),
                   (b":authority", authority.encode("idna" if not authority.isascii() else "ascii")),
                   (b":path", path.encode("latin-1"))]
        headers.extend(req.headers)  # already lower-case bytes
        for k, v in creds or ():
            headers.append((k.lower().encode("latin-1"), v.encode("latin-1")))
        body = req.body
        if body is not None:
            headers.append((b"content-length", b"%d" % len(body)))
        sid = conn.get_next_available_stream_id()
        self.streams[sid] = st
        conn.send_headers(sid, headers, end_stream=not body)
        self.flush()
        try:
            if body:
                view = memoryview(body)
                off = 0
                while off < len(body):
                    if sid not in self.streams:
                        break  # answered (or reset) before the whole body went out
                    window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                    if window <= 0 or self.write_paused:
                        st.window.clear()
                        await (st.window.wait() if not self.write_paused else self.writable.wait())
                        continue
                    n = min(window, len(body) - off)
                    conn.send_data(sid, view[off:off + n], end_stream=off + n == len(body))
                    off += n
                    self.flush()
            await st.done
        except asyncio.CancelledError:
            if self.streams.pop(sid, None) is not None:
                try:
                    conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
                except h2.exceptions.ProtocolError:
                    pass
                self.flush()
                self.slot.set()
            raise


class H2Transport:
    """The HTTP/2 side of a :class:`~streamcore.aio.client.ClientSession`."""

    def __init__(self, connect_timeout: float, window: int = DEFAULT_H2_WINDOW) -> None:
        self.connect_timeout = connect_timeout
        self.window = window
        self.conns: dict[Origin, _H2Conn] = {}
        self.http1_only: set[Origin] = set()
        self._opening: dict[Origin, asyncio.Future[_H2Conn]] = {}

    async def _conn(self, origin: Origin) -> _H2Conn:
        conn = self.conns.get(origin)
        if conn is not None and conn.usable and conn.transport is not None and not conn.transport.is_closing():
            return conn
        fut = self._opening.get(origin)
        if fut is not None:  # another request is opening it: share the connection
            return await asyncio.shield(fut)
        loop = asyncio.get_running_loop()
        fut = self._opening[origin] = loop.create_future()
        try:
            conn = await asyncio.wait_for(self._open(origin), self.connect_timeout)
        except BaseException as exc:
            fut.set_exception(exc if isinstance(exc, Exception) else ConnectionError("cancelled"))
            fut.exception()  # retrieved: no "never retrieved" warning when nobody shares it
            raise
        else:
            fut.set_result(conn)
            self.conns[origin] = conn
            return conn
        finally:
            self._opening.pop(origin, None)

    async def _open(self, origin: Origin) -> _H2Conn:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        ctx = None
        if scheme == "https":
            ctx = _ssl.create_default_context()
            ctx.set_alpn_protocols(["h2", "http/1.1"])
        transport, conn = await loop.create_connection(lambda: _H2Conn(loop, self.window), host, port, ssl=ctx)
        if ctx is not None:
            sslobj = transport.get_extra_info("ssl_object")
            if sslobj is None or sslobj.selected_alpn_protocol() != "h2":
                conn.ready.cancel()  # nobody will wait for the SETTINGS of this one
                transport.close()
                raise _NotH2("the server did not choose h2 by ALPN")
        await conn.ready
        return conn

    async def exchange(self, session: "ClientSession", req: HttpRequest) -> bool:
        """Carry ``req`` on HTTP/2; False when the origin speaks only HTTP/1.1 (the
        caller then sends it over HTTP/1.1)."""
        u = urlsplit(req.url)
        scheme = u.scheme or "http"
        port = u.port or (443 if scheme == "https" else 80)
        origin = (scheme, u.hostname or "127.0.0.1", port)
        if origin in self.http1_only:
            return False
        h = req.xid
        loop = asyncio.get_running_loop()
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        authority = u.netloc.rsplit("@", 1)[-1]
        try:
            conn = await self._conn(origin)
        except _NotH2:
            self.http1_only.add(origin)
            return False
        except asyncio.CancelledError:
            conn = None
        except (OSError, asyncio.TimeoutError) as exc:
            conn = None
            session._feed_error(h, exc or "connect timeout")
        challenges = 0  # OAuth retries so far (at most 2, as over HTTP/1.1)
        refused = 0  # streams refused (REFUSED_STREAM, or not processed before a GOAWAY)
        try:
            for attempt in range(5):
                if conn is None:
                    break
                if attempt:
                    try:
                        conn = await self._conn(origin)
                    except _NotH2:
                        session._feed_error(h, "the server stopped speaking HTTP/2")
                        break
                while not conn.can_open() and conn.usable:
                    conn.slot.clear()
                    await conn.slot.wait()
                if not conn.usable:
                    continue
                auth = session._auth
                creds = await auth.headers(req.method, req.url) if auth is not None else []
                sent = creds[0][1] if creds else None
                st = _Stream(h, session, loop, req.url, sent, hold=auth is not None and challenges < 2)
                try:
                    await conn.request(st, req, authority, scheme, path, creds)
                except _Retry:
                    refused += 1
                    if refused == 3:
                        session._feed_error(h, "HTTP/2: the server refused the stream three times")
                        break
                    continue
                if st.held is not None:
                    status, rheaders, body = st.held
                    assert auth is not None
                    if await auth.challenge(req.url, status, rheaders, sent):  # AUTH-07: authorize, retry
                        challenges += 1
                        continue
                    session._feed_response(h, status, rheaders)
                    if body:
                        session._feed_data(h, bytes(body))
                    session._feed_data(h, b"")
                break
            else:  # five rounds: connections lost, refusals and re-authorizations together
                session._feed_error(h, "HTTP/2: the request could not be carried in five attempts")
        except asyncio.CancelledError:
            return True  # aborted by the core: nothing more to report
        except (OSError, asyncio.TimeoutError, h2.exceptions.ProtocolError) as exc:
            session._feed_error(h, exc or "connect timeout")
        finally:
            if session._tasks.get(h) is asyncio.current_task():
                del session._tasks[h]
            session._pump()
        return True

    def close(self) -> None:
        for conn in self.conns.values():
            try:
                conn.h2.close_connection()
            except h2.exceptions.ProtocolError:
                pass
            conn._abort()
        self.conns.clear()

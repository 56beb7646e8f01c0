"""HTTP/2 for the asyncio server: each HTTP/2 stream is one exchange of the core.

Theory of operation
===================

:class:`H2Listener` is the protocol factory of a listening socket. Every
connection starts as a :class:`_Sniffer`: with TLS, ALPN decides (``h2`` or
``http/1.1``); in clear text the first bytes decide (the HTTP/2 connection
preface, RFC 9113 section 3.4, means h2c with prior knowledge; anything else is
HTTP/1.1, handed to the HTTP/1.1 engine with the bytes already read). The
sniffer then swaps itself out of the transport (``set_protocol``), so it costs
one comparison per connection, not per request.

:class:`H2Connection` drives one :class:`streamcore._h2conn.ServerConnection`
(our sans-IO HTTP/2; the h2 package is its reference in the tests). Each
request stream becomes an exchange (``core.receive_request`` with
``:authority`` as ``Host``, so the Host/Origin checks of HTTP/1.1 apply
unchanged); the core's ``ResponseHead``/``ResponseData``/``ResponseEnd`` for
that exchange become HEADERS and DATA frames on the stream.

Flow control is backpressure (RFC 9113 section 5.2):

* outbound, DATA is sent only within the peer's window, one frame of at most
  ``max_outbound_frame_size`` at a time (never ``len(data)`` blindly: that
  raises or deadlocks). What does not fit waits in a per-stream queue; past
  ``max_stream_buffer / 4`` the core is told to pause that exchange (listen
  streams queue, bounded, in the core), and past ``max_stream_buffer`` the
  stream is reset: in the session era the stream detaches and the client
  resumes with ``Last-Event-ID``, exactly as an aborted HTTP/1.1 connection.
  While the socket's own write buffer is over its high-water mark nothing new
  is moved into it.
* inbound, DATA is acknowledged (WINDOW_UPDATE) only once the core has taken
  it, so a peer can never have more than ``initial_window_size`` bytes per
  stream (and the connection window in all) sitting unread in the adapter;
  the connection rejects a peer that overruns the window (FLOW_CONTROL_ERROR).

Limits (each with a default below, a setting in :class:`H2Config`, and a
test at its boundary): concurrent streams (SETTINGS_MAX_CONCURRENT_STREAMS;
one more is refused with RST_STREAM REFUSED_STREAM and counts as a reset), header list size
(SETTINGS_MAX_HEADER_LIST_SIZE, and the compressed size of a header block),
CONTINUATION frames per header block (the 2024 CONTINUATION flood), stream
resets by the peer per time window (Rapid Reset, CVE-2023-44487), PING
keep-alive, idle timeout, and GOAWAY with the last stream id on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, cast

from .. import _h2conn as h2c
from .. import hpack as _hpack
from .._events import ResponseData, ResponseEnd, ResponseHead
from ..web._front import ORIGIN_REFUSED_ANSWER, REFUSE, Answer

from .server import _Connection, _document_answer

if TYPE_CHECKING:
    from .server import StreamableHttpServer

__all__ = [
    "H2Config",
    "H2Connection",
    "H2Listener",
    "PREFACE",
    "DEFAULT_MAX_CONCURRENT_STREAMS",
    "DEFAULT_MAX_HEADER_LIST_SIZE",
    "DEFAULT_INITIAL_WINDOW_SIZE",
    "DEFAULT_MAX_STREAM_BUFFER",
    "DEFAULT_MAX_RESETS",
    "DEFAULT_RESET_WINDOW",
    "DEFAULT_MAX_CONTINUATION_FRAMES",
    "DEFAULT_KEEPALIVE_INTERVAL",
    "DEFAULT_KEEPALIVE_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_SHUTDOWN_GRACE",
]

log = logging.getLogger("streamcore.server.h2")

#: RFC 9113 section 3.4: what an h2c client with prior knowledge sends first.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

#: Streams a peer may have open at once; RFC 9113 section 6.5.2 advises no fewer than 100 (nginx: 128).
DEFAULT_MAX_CONCURRENT_STREAMS = 100
#: Decoded header list bytes per request, the same 64 KiB as our HTTP/1.1 head limit.
DEFAULT_MAX_HEADER_LIST_SIZE = 64 * 1024
#: Unacknowledged request-body bytes a peer may send per stream (RFC default 65535; 256 KiB like Go).
DEFAULT_INITIAL_WINDOW_SIZE = 256 * 1024
#: Response bytes queued per stream while the peer's window is shut; past it the stream is reset.
DEFAULT_MAX_STREAM_BUFFER = 1024 * 1024
#: RST_STREAM frames a peer may send per window before GOAWAY ENHANCE_YOUR_CALM (nginx, Go: a few hundred).
DEFAULT_MAX_RESETS = 200
DEFAULT_RESET_WINDOW = 10.0
#: CONTINUATION frames per header block (nghttp2 1.61 allows 8 after the 2024 flood advisory).
DEFAULT_MAX_CONTINUATION_FRAMES = 8
#: Seconds of silence from the peer before we PING it; a missing PING ACK after the timeout closes.
DEFAULT_KEEPALIVE_INTERVAL = 30.0
DEFAULT_KEEPALIVE_TIMEOUT = 20.0
#: Seconds a connection with no open stream stays open (GOAWAY NO_ERROR then close).
DEFAULT_IDLE_TIMEOUT = 120.0
#: Seconds open streams get to finish after a graceful GOAWAY.
DEFAULT_SHUTDOWN_GRACE = 10.0

# Connection-specific fields RFC 9113 section 8.2.2 forbids in HTTP/2.
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"})
# The xid of a stream with no exchange of the core (answered or held by the adapter).
# Only -1: other negative xids are the core's own (streamcore.redis holds requests
# under negative xids while it finds their session's home).
_NO_XID = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class H2Config:
    """Every HTTP/2 knob of the server, with its default (see the module docstring)."""

    max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS
    max_header_list_size: int = DEFAULT_MAX_HEADER_LIST_SIZE
    initial_window_size: int = DEFAULT_INITIAL_WINDOW_SIZE
    max_stream_buffer: int = DEFAULT_MAX_STREAM_BUFFER
    max_resets: int = DEFAULT_MAX_RESETS
    reset_window: float = DEFAULT_RESET_WINDOW
    max_continuation_frames: int = DEFAULT_MAX_CONTINUATION_FRAMES
    keepalive_interval: float | None = DEFAULT_KEEPALIVE_INTERVAL
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE

    def __post_init__(self) -> None:
        for name in ("max_concurrent_streams", "max_header_list_size", "max_stream_buffer", "max_resets"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not isinstance(self.max_continuation_frames, int) or self.max_continuation_frames < 0:
            raise ValueError("max_continuation_frames must be an int >= 0")
        if not 65535 <= self.initial_window_size <= 2**31 - 1:
            raise ValueError("initial_window_size must be in [65535, 2**31 - 1]")
        for name in ("reset_window", "keepalive_timeout", "shutdown_grace"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        for name in ("keepalive_interval", "idle_timeout"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ValueError(f"{name} must be > 0 or None")


class _Stream:
    """One request stream: its exchange and what waits for the peer's window."""

    __slots__ = ("sid", "xid", "head", "pending", "pending_len", "off", "end", "paused", "request_done", "closed",
                 "staged", "held", "cors")

    def __init__(self, sid: int, xid: int) -> None:
        self.sid = sid
        self.xid = xid
        self.head: list[tuple[bytes, bytes]] | None = None  # a non-streaming head not yet sent
        # Made on first use and dropped when empty: an idle listening stream
        # should not carry an empty deque (about 600 bytes) around.
        self.pending: deque[bytes] | None = None
        self.pending_len = 0
        self.off = 0  # bytes of pending[0] already sent
        self.end = False  # the core ended the response
        self.paused = False  # the core was told to pause this exchange
        self.request_done = False
        self.closed = False
        self.staged = False  # on the connection's list of streams with output to frame
        # xid -1: no exchange of the core (yet): the adapter answers the stream
        # itself (the OAuth PRM document), or holds it while its token is
        # introspected, with its body (bytes, flow-controlled length) unacknowledged.
        self.held: list[tuple[bytes, int]] | None = None
        self.cors: list[tuple[bytes, bytes]] | None = None  # CORS fields for the core's head (cors=)


class H2Listener:
    """The protocol factory for one listening socket: HTTP/1.1, h2c and h2 over TLS."""

    def __init__(self, hub: "StreamableHttpServer", http1: Callable[[], asyncio.Protocol],
                 config: H2Config | None = None) -> None:
        self.hub = hub
        self.http1 = http1
        self.config = config or H2Config()
        self.connections: set[H2Connection] = set()

    def __call__(self) -> asyncio.Protocol:
        return _Sniffer(self)

    def h2_connection(self) -> "H2Connection":
        return H2Connection(self)

    def goaway(self, grace: float | None = None) -> None:
        """Graceful shutdown of every HTTP/2 connection: GOAWAY with the last
        stream id now, close when the open streams end or after ``grace``."""
        for conn in list(self.connections):
            conn.shutdown(self.config.shutdown_grace if grace is None else grace)

    @staticmethod
    def alpn(context: ssl.SSLContext) -> ssl.SSLContext:
        """Offer ``h2`` then ``http/1.1`` by ALPN on ``context`` (RFC 7301)."""
        context.set_alpn_protocols(["h2", "http/1.1"])
        return context


class _Sniffer(asyncio.Protocol):
    """The first protocol of every connection: picks HTTP/2 or HTTP/1.1, then steps aside.

    The HTTP/1.1 connection is made at once and told of the transport, so the
    adapter's connection cap (503) and head timeout apply to every connection
    from its first moment, whatever it turns out to speak. If it speaks HTTP/2,
    the HTTP/1.1 connection is retired (``connection_lost``, which frees its
    slot and its timer) and an :class:`H2Connection` takes the slot.
    """

    __slots__ = ("listener", "transport", "buf", "h1")

    def __init__(self, listener: H2Listener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.h1: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        h1 = self.h1 = self.listener.http1()
        h1.connection_made(transport)
        if getattr(h1, "closed", False):
            return  # refused (over the connection cap, or shutting down): it has answered
        sslobj = transport.get_extra_info("ssl_object")
        if sslobj is not None:
            # TLS: ALPN has decided already (RFC 9113 section 3.3); no ALPN means HTTP/1.1.
            self._become(sslobj.selected_alpn_protocol() == "h2", b"")

    def data_received(self, data: bytes) -> None:
        if self.h1 is None or getattr(self.h1, "closed", False):
            return  # refused: the bytes are dropped while it closes
        buf = self.buf + data if self.buf else data
        n = min(len(buf), len(PREFACE))
        if buf[:n] != PREFACE[:n]:
            self._become(False, buf)
        elif n == len(PREFACE):
            self._become(True, buf)
        else:
            self.buf = buf  # a prefix of the preface: wait for the rest

    def eof_received(self) -> bool | None:
        if self.h1 is None or getattr(self.h1, "closed", False):
            return None
        self._become(False, self.buf)
        return self.h1.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.h1 is not None:
            self.h1.connection_lost(exc)  # closed before it spoke (or refused)

    def _become(self, http2: bool, data: bytes) -> None:
        t = self.transport
        h1 = self.h1
        assert t is not None and h1 is not None
        proto: asyncio.Protocol
        if http2:
            h1.connection_lost(None)  # frees its slot and timer; it never saw a byte
            proto = cast(asyncio.Protocol, self.listener.h2_connection())  # a Protocol by its methods
            proto.connection_made(t)
        else:
            proto = h1
        t.set_protocol(proto)
        if data:
            proto.data_received(data)


class H2Connection(_Connection):
    """One HTTP/2 connection: many exchanges, one per stream (routed and flushed by the hub
    like the HTTP/1.1 connections)."""

    def __init__(self, listener: H2Listener) -> None:
        super().__init__(listener.hub)
        self.listener = listener
        cfg = self.cfg = listener.config
        # Our own sans-IO HTTP/2 connection (streamcore._h2conn), with our
        # HPACK codec (compiled twin when built): request header lists are
        # checked (RFC 9113 sections 8.2, 8.3) by _hpack.check_request in
        # _request, cached per connection.
        self.h2 = h2c.ServerConnection(
            max_concurrent_streams=cfg.max_concurrent_streams,
            max_header_list_size=cfg.max_header_list_size,
            initial_window_size=cfg.initial_window_size,
            max_continuation_frames=cfg.max_continuation_frames,
        )
        self._req_key: list[Any] | None = None  # the last request header list checked, and the result
        self._req_val: tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]]] = (b"", b"", b"", [])
        self.streams: dict[int, _Stream] = {}  # by stream id
        self.by_xid: dict[int, _Stream] = {}
        self.marked = False  # on the hub's dirty list
        self.write_paused = False
        self.blocked: set[_Stream] = set()  # streams with queued data
        self.staged: list[_Stream] = []  # streams with output not yet framed
        # rapid reset
        self._resets: deque[float] = deque()
        # timers
        self._last_rx = 0.0
        self._ping_sent: float | None = None
        self._idle_since: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._shutdown_at: float | None = None
        self.goaway_sent = False

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._peer(transport)
        self.listener.connections.add(self)
        self.hub._conns.add(self)  # counted against max_connections, closed by aclose()
        now = self.hub._now()
        self._last_rx = now
        self._idle_since = now
        self.h2.initiate_connection()  # SETTINGS, and the connection window (not a SETTING, section 6.9.2)
        self._write_now()  # our SETTINGS at once (over TLS the client may be waiting for them)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        now = self.hub._now()
        self._last_rx = now
        self._ping_sent = None
        try:
            events = self.h2.receive_data(data)
        except h2c.ConnectionError as exc:
            self._fatal(exc.error_code, str(exc))
            return
        if self.h2.refused:
            # A refused stream cost us a decode and a reset, as a Rapid Reset does.
            n, self.h2.refused = self.h2.refused, 0
            for _ in range(n):
                self._count_reset(now)
            if self.closed:
                return
        self._handle(events, now)
        self._out()
        self.hub._drain()

    def eof_received(self) -> bool | None:
        return None  # close our side too (the peer sent FIN)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.listener.connections.discard(self)
        self.hub._conns.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        hub = self.hub
        if self.by_xid:
            now = hub._now()
            for xid in list(self.by_xid):
                hub._route.pop(xid, None)
                hub.core.connection_lost(xid, now=now)
            self.by_xid.clear()
            self.streams.clear()
            hub._drain()

    # -- what the hub asks of every connection (aclose, buffered_input) ----------------

    def _close_now(self) -> None:
        """Close if no stream is open; otherwise the graceful GOAWAY that
        ``aclose`` sent first closes the connection when the streams end."""
        if not self.streams:
            self._close()

    def _abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

    def shutdown_stream(self, retry_ms: int) -> bool:
        return False  # HTTP/2 streams end under the GOAWAY grace instead

    def _inbound(self) -> int:
        return 0  # the connection keeps at most a partial frame; bodies go to the core as they arrive

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        for st in list(self.blocked):
            self._send_pending(st)
        self.flush()  # not inside a drain: nothing else would schedule the write

    # -- frames in -------------------------------------------------------------------

    def _handle(self, events: list[h2c.Event], now: float) -> None:
        hub = self.hub
        core = hub.core
        # Bytes of DATA that ended its stream, consumed but not yet acknowledged:
        # such a stream's own window no longer matters (the peer may send no
        # more on it), so only the connection window is reopened, once for the
        # whole read (one WINDOW_UPDATE decision instead of one per request).
        ack = ack_sid = 0
        for ev in events:
            if isinstance(ev, h2c.DataReceived):
                st = self.streams.get(ev.stream_id)
                if st is not None and ev.data:
                    if st.xid != _NO_XID:
                        core.receive_body(st.xid, ev.data)
                    elif st.held is not None:  # acknowledged once the core takes it
                        st.held.append((ev.data, ev.flow_controlled_length))
                        continue
                # Acknowledged now that the core has it (or discarded it for a
                # stream already gone): the window reopens only as we consume.
                if ev.flow_controlled_length:
                    if ev.stream_ended:
                        ack += ev.flow_controlled_length
                        ack_sid = ev.stream_id
                    else:
                        self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2c.RequestReceived):
                self._request(ev, now)
            elif isinstance(ev, h2c.StreamEnded):
                st = self.streams.get(ev.stream_id)
                if st is not None:
                    st.request_done = True
                    if st.xid != _NO_XID:
                        core.receive_end(st.xid, now=now)
                    self._maybe_forget(st)
            elif isinstance(ev, h2c.StreamReset):
                self._peer_reset(ev.stream_id, now, counted=not ev.local)
                if self.closed:
                    return
            elif isinstance(ev, h2c.WindowUpdated):
                if ev.stream_id == 0:
                    for st in list(self.blocked):
                        self._send_pending(st)
                else:
                    st = self.streams.get(ev.stream_id)
                    if st is not None and st.pending:
                        self._send_pending(st)
            elif isinstance(ev, h2c.RemoteSettingsChanged):
                for st in list(self.blocked):  # a new initial window or frame size
                    self._send_pending(st)
            elif isinstance(ev, h2c.PingAckReceived):
                self._ping_sent = None
            elif isinstance(ev, h2c.ConnectionTerminated):
                self._write_now()
                if self.transport is not None:
                    self.transport.close()
                self.closed = True
                return
            # PingReceived (h2 answers), SettingsAcknowledged, PriorityUpdated,
            # TrailersReceived (ignored, as HTTP/1.1 trailers): nothing to do.
        if ack:
            self.h2.acknowledge_received_data(ack, ack_sid)

    def _request(self, ev: h2c.RequestReceived, now: float) -> None:
        hdrs = ev.headers
        if hdrs == self._req_key:  # the same list as the last request: same verdict
            method, path, authority, fields = self._req_val
        else:
            try:
                method, path, authority, fields = self._req_val = _hpack.check_request(hdrs)
            except _hpack.MalformedHeaders as exc:
                # RFC 9113 section 8.1.1: a malformed request is a stream error.
                log.info("refusing a malformed HTTP/2 request: %s", exc)
                self._reset(ev.stream_id, h2c.PROTOCOL_ERROR)
                return
            self._req_key = hdrs
        headers = list(fields)
        sid = ev.stream_id
        if self.goaway_sent:
            self._reset(sid, h2c.REFUSED_STREAM)
            return
        self._idle_since = None
        front = self.hub.front
        cors = None
        if front is not None:  # pages and CORS, as on HTTP/1.1 (docs/browser.md)
            answer = front.check(method, path, headers, scheme=self.scheme)
            if answer is not None:
                self._answer(sid, method, answer)
                return
            cors = front.response_headers(headers)
        auth = self.hub.auth
        if auth is not None and self._h2_auth_hold(sid, method, path, headers, cors):
            return
        st = _Stream(sid, _NO_XID)
        st.cors = cors
        self._exchange(st, method, path, headers, now)

    def _answer(self, sid: int, method: bytes, answer: Answer | str,
                extra: list[tuple[bytes, bytes]] | None = None) -> None:
        """A response of the adapter's own (a page, a preflight, a refused Origin): no exchange of the core."""
        if isinstance(answer, str):
            assert answer == REFUSE
            answer = ORIGIN_REFUSED_ANSWER
        status, fields, body = answer
        st = _Stream(sid, _NO_XID)
        self.streams[sid] = st
        st.head = [(b":status", b"%d" % status), *((n, v) for n, v in fields if n not in _HOP_BY_HOP), *(extra or ())]
        if body and method != b"HEAD":
            st.pending = deque([body])
            st.pending_len = len(body)
        st.end = True
        self._stage(st)

    def _exchange(self, st: _Stream, method: bytes, path: bytes, headers: list[tuple[bytes, bytes]],
                  now: float) -> None:
        hub = self.hub
        xid = hub.core.receive_request(method, path, headers, now=now, client=self.client)
        st.xid = xid
        self.streams[st.sid] = st
        self.by_xid[xid] = st
        hub._route[xid] = self

    def _h2_auth_hold(self, sid: int, method: bytes, path: bytes, headers: list[tuple[bytes, bytes]],
                      cors: list[tuple[bytes, bytes]] | None) -> bool:
        """OAuth (docs/auth.md), as on HTTP/1.1: True if the adapter takes this request:
        the Protected Resource Metadata document (RFC 9728), answered here, or a
        request held while its token is introspected (its body waits, unacknowledged)."""
        auth = self.hub.auth
        assert auth is not None
        doc = auth.document(method, path)
        if doc is not None:
            self._answer(sid, method, _document_answer(doc), cors)
            return True
        st = _Stream(sid, _NO_XID)
        st.cors = cors
        pending = auth.prepare(headers)
        if pending is None:
            return False
        st.held = []
        self.streams[sid] = st

        def done(_: Any) -> None:
            if st.closed or self.closed:
                return
            hub = self.hub
            now = hub._now()
            self._exchange(st, method, path, headers, now)
            held, st.held = st.held or [], None
            for data, flow in held:
                hub.core.receive_body(st.xid, data)
                self.h2.acknowledge_received_data(flow, sid)
            if st.request_done:
                hub.core.receive_end(st.xid, now=now)
            self._out()
            hub._drain()
        asyncio.ensure_future(pending).add_done_callback(done)
        return True

    def _count_reset(self, now: float) -> None:
        # Rapid Reset (CVE-2023-44487): RST_STREAM is free for the peer and a
        # new stream is not, so count resets (theirs, and our refusals), not
        # just open streams.
        resets = self._resets
        resets.append(now)
        while resets and resets[0] <= now - self.cfg.reset_window:
            resets.popleft()
        if len(resets) > self.cfg.max_resets and not self.closed:
            self._fatal(h2c.ENHANCE_YOUR_CALM, "too many stream resets")

    def _peer_reset(self, sid: int, now: float, *, counted: bool = True) -> None:
        if counted:
            self._count_reset(now)
            if self.closed:
                return
        st = self.streams.pop(sid, None)
        if st is not None:
            st.closed = True
            self.blocked.discard(st)
            if st.xid != _NO_XID:
                self.by_xid.pop(st.xid, None)
                self.hub._route.pop(st.xid, None)
                self.hub.core.connection_lost(st.xid, now=now)
        self._check_idle(now)

    # -- the core's output -------------------------------------------------------------

    # Output is staged per stream while the hub drains the core and turned into
    # frames once per loop iteration (flush): a typical SSE reply (head, priming
    # event, response, end) becomes one HEADERS and one DATA frame with
    # END_STREAM instead of a HEADERS and three DATA frames (fewer frames, fewer
    # writes, and fewer frames for the peer to parse).

    def head(self, ev: ResponseHead) -> None:
        st = self.by_xid.get(ev.xid)
        if st is None or st.closed:
            return
        hdrs = [(b":status", b"%d" % ev.status)]
        hdrs += [h for h in ev.headers if h[0] not in _HOP_BY_HOP]
        if st.cors is not None:
            hdrs += st.cors
        st.head = hdrs
        self._stage(st)

    def data(self, ev: ResponseData) -> None:
        st = self.by_xid.get(ev.xid)
        if st is None or st.closed or not ev.data:
            return
        if st.pending is None:
            st.pending = deque()
        st.pending.append(ev.data)
        st.pending_len += len(ev.data)
        self._stage(st)
        cap = self.cfg.max_stream_buffer
        if st.pending_len > cap // 4:
            self._emit(st)  # a burst: move what the window allows into frames now
            if st.closed:
                return
            if st.pending_len > cap and len(st.pending) > 1:
                # The peer has not opened its window for this stream's backlog:
                # give up on the stream, not the connection (other streams are fine).
                # One message larger than the bound alone is let through: it is in
                # memory already, and a reader that keeps up must get it.
                log.warning("resetting an HTTP/2 stream whose peer reads too slowly")
                self._abandon(st)
            elif not st.paused and st.pending_len > cap // 4:
                st.paused = True
                self.hub.core.pause_writing(st.xid)

    def end(self, ev: ResponseEnd) -> None:
        self.hub._route.pop(ev.xid, None)
        st = self.by_xid.get(ev.xid)
        if st is None or st.closed:
            return
        st.end = True
        if ev.close and not st.request_done:
            # Answered before the whole request arrived (e.g. 413): RFC 9113
            # section 8.1 lets us ask the client to stop with NO_ERROR.
            self._emit(st)
            if not st.closed:
                st.pending = None
                st.pending_len = 0
                self._reset(st.sid, h2c.NO_ERROR)
                self._drop(st)
            return
        self._stage(st)

    def flush(self) -> None:
        self.marked = True  # frames made below need no second flush
        staged, self.staged = self.staged, []
        for st in staged:
            st.staged = False
            self._emit(st)
        self.marked = False
        self._write_now()

    def _stage(self, st: _Stream) -> None:
        if not st.staged:
            st.staged = True
            self.staged.append(st)
            self._out()

    def _emit(self, st: _Stream) -> None:
        if st.closed:
            return
        if st.head is not None:
            end = st.end and not st.pending
            hdrs, st.head = st.head, None
            self._send_headers(st, hdrs, end=end)
            if end:
                self._finished(st)
                return
        self._send_pending(st)

    # -- frames out ------------------------------------------------------------------

    def _send_headers(self, st: _Stream, hdrs: list[tuple[bytes, bytes]], *, end: bool) -> None:
        try:
            self.h2.send_headers(st.sid, hdrs, end_stream=end)
        except (h2c.StreamClosedError, h2c.FlowControlError):
            self._drop(st)
            return
        self._out()

    def _send_pending(self, st: _Stream) -> None:
        """Move queued data into frames, never past the peer's window."""
        if st.closed:
            self.blocked.discard(st)
            return
        if st.head is not None:
            # Its head is staged and not yet framed (a WINDOW_UPDATE read before
            # this loop iteration's flush): the flush sends head and data in order.
            return
        conn = self.h2
        pending = st.pending
        if (pending is not None and st.end and not st.off and not self.write_paused
                and st.pending_len <= conn.max_outbound_frame_size):
            # The common reply: all of it is queued and fits one frame.
            try:
                fits = st.pending_len <= conn.local_flow_control_window(st.sid)
                if fits:
                    conn.send_data(st.sid, pending[0] if len(pending) == 1 else b"".join(pending), end_stream=True)
            except (h2c.StreamClosedError, h2c.FlowControlError):
                self._drop(st)
                return
            if fits:
                st.pending = None
                st.pending_len = 0
                self.blocked.discard(st)
                self._out()
                if st.paused:
                    st.paused = False
                    self.hub.core.resume_writing(st.xid, now=self.hub._now())
                self._finished(st)
                return
        if pending is None:
            pending = st.pending = deque()
        sent = last = False
        try:
            while pending and not self.write_paused:
                window = min(conn.local_flow_control_window(st.sid), conn.max_outbound_frame_size)
                if window <= 0:
                    break
                chunk = pending[0]
                if st.off == 0 and len(pending) > 1 and len(chunk) < window:
                    # Whole chunks that fit go out as one DATA frame (joined once).
                    parts = []
                    room = window
                    while pending and len(pending[0]) <= room:
                        c = pending.popleft()
                        parts.append(c)
                        room -= len(c)
                    chunk = b"".join(parts)
                    pending.appendleft(chunk)
                left = len(chunk) - st.off
                size = min(window, left)
                last = size == left and len(pending) == 1 and st.end
                if st.off == 0 and size == left:
                    conn.send_data(st.sid, chunk, end_stream=last)
                else:
                    # A slice of a view: no copy of the rest of a large body per frame.
                    conn.send_data(st.sid, memoryview(chunk)[st.off:st.off + size], end_stream=last)
                sent = True
                st.pending_len -= size
                if size == left:
                    pending.popleft()
                    st.off = 0
                else:
                    st.off += size
            if not pending and st.end and not st.closed and not (sent and last):
                conn.end_stream(st.sid)
                sent = True
        except (h2c.StreamClosedError, h2c.FlowControlError):
            self._drop(st)
            return
        if sent:
            self._out()
        if pending:
            self.blocked.add(st)
        else:
            st.pending = None
            self.blocked.discard(st)
            if st.paused:
                st.paused = False
                self.hub.core.resume_writing(st.xid, now=self.hub._now())
            if st.end:
                self._finished(st)

    def _finished(self, st: _Stream) -> None:
        """Our side of the stream is done; forget it once the request side is too."""
        if st.request_done:
            self._drop(st)

    def _maybe_forget(self, st: _Stream) -> None:
        if st.end and not st.pending and st.head is None:
            self._drop(st)

    def _drop(self, st: _Stream, *, lost: bool = False) -> None:
        """Forget a stream; tell the core its exchange is gone unless the core ended it."""
        st.closed = True
        st.pending = None
        st.pending_len = 0
        self.blocked.discard(st)
        self.streams.pop(st.sid, None)
        if st.xid != _NO_XID and self.by_xid.pop(st.xid, None) is not None and (lost or not st.end):
            self.hub._route.pop(st.xid, None)
            self.hub.core.connection_lost(st.xid, now=self.hub._now())
        self._check_idle(self.hub._now())

    def _abandon(self, st: _Stream) -> None:
        self._reset(st.sid, h2c.CANCEL)
        self._drop(st, lost=True)

    def _reset(self, sid: int, code: int) -> None:
        try:
            self.h2.reset_stream(sid, code)
        except (h2c.StreamClosedError, h2c.FlowControlError):
            pass
        self._out()

    def _out(self) -> None:
        if not self.marked and not self.closed:
            self.marked = True
            self.hub._dirty.append(self)

    def _write_now(self) -> None:
        data = self.h2.data_to_send()
        t = self.transport
        if data and t is not None and not self.closed:
            t.write(data)
            if t.get_write_buffer_size() > self.hub.max_write_buffer:
                # A peer that grants a huge window and then does not read: the
                # same hard bound as HTTP/1.1 (the streams detach; session-era
                # clients resume with Last-Event-ID).
                log.warning("aborting an HTTP/2 connection whose peer reads too slowly")
                t.abort()
                self.closed = True
                return
        if self._shutdown_at is not None and not self.streams:
            self._close()

    def _fatal(self, code: int, why: str) -> None:
        log.warning("closing an HTTP/2 connection: %s", why)
        if not self.h2.closed:
            self.h2.close_connection(error_code=code)
        self.goaway_sent = True
        self._write_now()
        self._close()

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self.closed = True

    # -- time -------------------------------------------------------------------------

    def shutdown(self, grace: float) -> None:
        """GOAWAY(NO_ERROR, last stream id) now; new streams are refused; close once
        the open streams are done or ``grace`` seconds have passed (RFC 9113 section 6.8)."""
        if self.closed:
            return
        if not self.goaway_sent:
            self.goaway_sent = True
            # Framed by hand: close_connection() is the end of the connection
            # (nothing more is read), but here the open streams go on.
            last = self.h2.highest_inbound_stream_id
            self._write_now()
            if self.transport is not None:
                self.transport.write(b"\x00\x00\x08\x07\x00\x00\x00\x00\x00"
                                     + last.to_bytes(4, "big") + b"\x00\x00\x00\x00")
        self._shutdown_at = self.hub._now() + grace
        self._write_now()
        self._arm()

    def _check_idle(self, now: float) -> None:
        if not self.streams and self._idle_since is None:
            self._idle_since = now

    def _arm(self) -> None:
        if self.closed:
            return
        cfg = self.cfg
        steps = [x for x in (cfg.keepalive_interval, cfg.idle_timeout) if x is not None]
        if cfg.keepalive_interval is not None:
            steps.append(cfg.keepalive_timeout)
        if self._shutdown_at is not None:
            steps.append(max(0.0, self._shutdown_at - self.hub._now()))
        if not steps:
            return
        # One coarse tick per connection (at most half a period late); the
        # checks in _tick compare exact times.
        if self._timer is not None:
            self._timer.cancel()
        loop = self.hub._loop or asyncio.get_running_loop()
        self._timer = loop.call_later(max(min(steps) / 2, 0.01), self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.closed:
            return
        now = self.hub._now()
        cfg = self.cfg
        if self._shutdown_at is not None and (now >= self._shutdown_at or not self.streams):
            self._close()
            return
        if self._ping_sent is not None and now - self._ping_sent >= cfg.keepalive_timeout:
            self._fatal(h2c.NO_ERROR, "no PING ACK within the keep-alive timeout")
            return
        if self._idle_since is None and not self.streams:
            self._idle_since = now
        if cfg.idle_timeout is not None and self._idle_since is not None and now - self._idle_since >= cfg.idle_timeout:
            self._fatal(h2c.NO_ERROR, "idle timeout")
            return
        if (cfg.keepalive_interval is not None and self._ping_sent is None
                and now - self._last_rx >= cfg.keepalive_interval):
            self._ping_sent = now
            self.h2.ping(b"streamco")
            self._write_now()
        self._arm()


def listen_h2(hub: "StreamableHttpServer", http1: Callable[[], asyncio.Protocol], kw: dict[str, Any], *,
              config: H2Config | None) -> Callable[[], asyncio.Protocol]:
    """The hook ``StreamableHttpServer.start`` calls: wrap its HTTP/1.1 factory in an
    :class:`H2Listener` and offer ``h2`` by ALPN on its SSL context, if any."""
    ctx = kw.get("ssl")
    if isinstance(ctx, ssl.SSLContext):
        H2Listener.alpn(ctx)
    listener = H2Listener(hub, http1, config)
    hub.h2_listener = listener
    return listener

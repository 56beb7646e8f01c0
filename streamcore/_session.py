"""The session era of the server core (protocol 2025-03-26, 2025-06-18, 2025-11-25).

Theory of operation
===================

The endpoint (:mod:`streamcore._endpoint`) checks each request's head, reads
its body and hands the session-era exchanges to :class:`SessionCore`:
``post``, ``get`` and ``delete``. The core owns every session and every SSE
stream; it writes through the :class:`~streamcore._toolkit.Kit` the
endpoint lends it, so replies, SSE heads and keep-alives are the same as in
the per-request era.

Streams
-------
Every SSE response belongs to a *stream* (spec 2.0): a POST stream owes the
responses to the requests of its POST; the standalone GET stream of a session
carries server-initiated traffic. A stream outlives its connection: when the
client disconnects, work goes on (CANCEL-01) and, with an event store, output
is kept for a GET with ``Last-Event-ID`` to replay (SRV-RESUME-05), but only
on the same stream of the same session (SRV-RESUME-06, SEC-12). Event ids are
``<stream>.<seq>``, which names the stream (SRV-RESUME-03) and is unique in
the session (SRV-RESUME-02). Streams and sessions move through the tables of
:mod:`streamcore._states`.
"""

from __future__ import annotations

import secrets
from collections import deque
from typing import Any

from . import jsonrpc as _jr
from . import sse as _sse
from ._config import ServerConfig
from ._errors import JsonRpcDecodeError, LocalProtocolError
from ._events import NotificationReceived, RequestCancelled, RequestReceived, ResponseReceived, SessionClosed
from ._policy import parse_event_id
from ._protocol import SESSION_NOT_FOUND, UNSUPPORTED_PROTOCOL_VERSION
from ._states import SESSION, STREAM, SessionInput, SessionState, StreamInput, StreamState, XInput, XState, step
from ._toolkit import Exchange, Kit
from ._versions import DEFAULT_NEGOTIATED_VERSION

__all__ = ["SessionCore", "QueueFull"]


class QueueFull(LocalProtocolError):
    """A session's queue of undeliverable messages is full (backpressure)."""

    status_hint = 503


class _Stream:
    __slots__ = ("key", "session", "is_get", "x", "seq", "owed", "priming", "state")

    def __init__(self, key: str, session: _Session, is_get: bool) -> None:
        self.key = key
        self.session = session
        self.is_get = is_get
        self.x: Exchange | None = None  # the attached exchange
        self.seq = 0
        self.owed: set[int] = set()  # rids whose responses still go here
        self.priming = False
        self.state = StreamState.DETACHED

    def move(self, event: StreamInput) -> None:
        self.state = step(STREAM, self.state, event, "stream", self.key)

    @property
    def finished(self) -> bool:
        return self.state is StreamState.FINISHED


class _Session:
    __slots__ = (
        "id", "identity", "version", "streams", "get_stream", "next_stream", "inflight",
        "outbound", "queue", "queued_bytes", "last_active", "state", "quota_key",
    )

    def __init__(self, sid: str, identity: Any, version: str, now: float) -> None:
        self.id = sid
        self.identity = identity
        self.version = version
        self.streams: dict[str, _Stream] = {}
        self.get_stream: _Stream | None = None
        self.next_stream = 1
        self.inflight: dict[Any, int] = {}  # client request id -> rid, for notifications/cancelled
        self.outbound: set[Any] = set()  # server request ids awaiting the client's answer
        self.queue: deque[bytes] = deque()  # encoded messages waiting for a GET stream (AMB-14)
        self.queued_bytes = 0
        self.last_active = now
        self.state = SessionState.LIVE
        self.quota_key: Any = None

    @property
    def closed(self) -> bool:
        return self.state is SessionState.CLOSED


class _Pending:
    """A client request the application has not answered yet."""

    __slots__ = ("rid", "request_id", "method", "session", "stream", "x")

    def __init__(self, rid: int, request_id: Any, method: str, session: _Session,
                 stream: _Stream | None, x: Exchange) -> None:
        self.rid = rid
        self.request_id = request_id
        self.method = method
        self.session = session
        self.stream = stream
        self.x = x


def sid_header(session: _Session | None) -> list[tuple[bytes, bytes]]:
    """SRV-SESS-01, AMB-15: every response of a session names it."""
    return [(b"mcp-session-id", session.id.encode())] if session is not None else []


class _Streams:
    """The session era's SSE streams: creation, attaching a connection, sending
    (stored first when there is an event store), polling closes, detaching."""

    def __init__(self, config: ServerConfig, kit: Kit) -> None:
        self.config = config
        self.kit = kit

    def new(self, session: _Session, *, is_get: bool) -> _Stream:
        key = str(session.next_stream) if not is_get else "0"
        if not is_get:
            session.next_stream += 1
        stream = _Stream(key, session, is_get)
        streams = session.streams
        streams[key] = stream
        if len(streams) > self.config.max_streams_per_session:
            # Forget the oldest finished, detached stream. Dicts keep insertion
            # order, so in the steady state the first entry qualifies and this
            # loop stops at once (no copy of the table).
            for k, st in streams.items():
                if st.finished and st.x is None:
                    del streams[k]
                    break
        return stream

    def attach(self, x: Exchange, stream: _Stream, now: float, *, prime: bool = True) -> None:
        """``x`` carries ``stream`` from now on: the SSE head, and the priming event if due."""
        session = stream.session
        x.stream = stream
        stream.x = x
        stream.move(StreamInput.ATTACH)
        self.kit.stream(x, sid_header(session), now)
        # SRV-SSE-08: a priming event, only with resumability and only to
        # clients at 2025-11-25 or later (older SDK clients crashed on empty
        # data; spec 2.17).
        store = self.config.event_store
        if prime and store is not None and session.version >= "2025-11-25":
            stream.seq += 1
            store.append(session.id, stream.key, stream.seq, b"", now)
            self.kit.write(x, _sse.encode_priming(f"{stream.key}.{stream.seq}", retry=self.config.retry_ms), now)
            stream.priming = True

    def send(self, stream: _Stream, data: bytes, now: float) -> None:
        """One JSON-RPC message on ``stream``: stored, then written if attached."""
        store = self.config.event_store
        if store is not None:
            stream.seq += 1
            store.append(stream.session.id, stream.key, stream.seq, data, now)
            if stream.x is not None:
                self.kit.write(stream.x, _sse.encode_event(data, id=f"{stream.key}.{stream.seq}"), now)
        elif stream.x is not None:
            self.kit.write(stream.x, _sse.encode_event(data), now)
        # else: detached with no store; the message is lost, as the spec allows
        # for a non-resumable stream (SRV-MULTI-02 is a MAY).

    def poll_close(self, stream: _Stream | None, now: float) -> bool:
        """SRV-SSE-09/10: end the connection, not the stream. False if none was attached."""
        x = stream.x if stream is not None else None
        if stream is None or x is None:
            return False
        if self.config.retry_ms is not None and not stream.priming:
            self.kit.write(x, b"retry: %d\n\n" % self.config.retry_ms, now)
        stream.priming = False
        self.detach(stream)
        return True

    def detach(self, stream: _Stream) -> None:
        """End the attached connection's response; the stream lives on."""
        x = stream.x
        if x is None:
            return
        stream.x = None
        stream.move(StreamInput.DETACH)
        self.kit.end(x)

    def forget_if_done(self, stream: _Stream) -> None:
        if stream.finished and stream.x is None and self.config.event_store is None:
            stream.session.streams.pop(stream.key, None)


class SessionCore:
    """Sessions, their streams and their requests (module docstring)."""

    def __init__(self, config: ServerConfig, kit: Kit) -> None:
        self.config = config
        self.kit = kit
        self.sessions: dict[str, _Session] = {}
        self.pending: dict[int, _Pending] = {}
        self._next_server_request = 1
        self._supported = frozenset(config.supported_versions)
        self._per_client: dict[Any, int] = {}  # quota key -> live sessions
        self.wake: float | None = None  # session expiry; early, never late
        self.streams = _Streams(config, kit)

    # -- exchanges ---------------------------------------------------------------

    def post(self, x: Exchange, body: bytes, header_version: str | None, *, now: float) -> None:
        """Serve a session-era POST whose body has arrived (``x`` in PROCESSING)."""
        cfg, kit = self.config, self.kit
        sid = x.fields.get(b"mcp-session-id")
        session = self._lookup(x, sid) if sid is not None else None
        version = session.version if session is not None else header_version or DEFAULT_NEGOTIATED_VERSION
        try:
            parsed = _jr.parse(body, allow_batch=_jr.batch_allowed(version), max_body_size=cfg.max_body_size)
        except JsonRpcDecodeError as exc:  # SRV-POST-02/03, SRV-POST-06, JR-05, JR-08
            return kit.reject(x, exc.status_hint, exc.code_hint, str(exc) or "Parse error")
        messages = parsed.messages
        x.is_batch = parsed.is_batch
        # Errors from here on echo the request id when the body is one request
        # (sep-2575-http-server-error-jsonrpc-id).
        rid = messages[0].id if not parsed.is_batch and type(messages[0]) is _jr.Request else None
        if header_version is not None and header_version not in self._supported:
            return self.unsupported_version(x, header_version, rid)  # AMB-11: initialize too
        if sid is not None and session is None:
            return kit.reject(x, 404, SESSION_NOT_FOUND, "Session not found", rid=rid)  # SRV-SESS-05, SESS-09
        init = [m for m in messages if type(m) is _jr.Request and m.method == "initialize"]
        if init:
            session = self._initialize(x, init[0], parsed.is_batch, session, rid, now)
            if session is None:
                return
            version = session.version
        elif session is None:  # SRV-SESS-04
            return kit.reject(x, 400, -32000, "Bad Request: Mcp-Session-Id header is required", rid=rid)
        self._use(session, now)
        x.session = session
        self._dispatch(x, session, messages, version, now)

    def _initialize(self, x: Exchange, init: Any, batch: bool, session: _Session | None, rid: Any,
                    now: float) -> _Session | None:
        cfg, kit = self.config, self.kit
        if batch:  # lc: initialize MUST NOT be batched (CLI-POST-08)
            kit.reject(x, 400, -32600, "Invalid Request: initialize must not be batched")
            return None
        if session is not None:
            kit.reject(x, 400, -32600, "Invalid Request: session already initialized", rid=rid)
            return None
        admitted, qkey = self._admit(x, rid)
        if not admitted:
            return None
        params = init.params if isinstance(init.params, dict) else {}
        requested = params.get("protocolVersion")
        # LIFE-05: the requested version if supported, else our latest. The
        # application may still answer another; respond() records what it says.
        version = requested if requested in self._supported else cfg.supported_versions[-1]
        return self._mint(x, version, qkey, now)

    def _admit(self, x: Exchange, rid: Any = None) -> tuple[bool, Any]:
        """The session limits (``max_sessions``, ``max_sessions_per_client``): whether a
        new session may be opened for ``x`` (if not, ``x`` is answered) and its quota key.
        Shared with the HTTP+SSE transport (``_legacy_sse``)."""
        cfg, kit = self.config, self.kit
        if len(self.sessions) >= cfg.max_sessions:
            kit.reject(x, 503, -32000, "Too many sessions", extra=[(b"retry-after", b"1")], rid=rid)
            return False, None
        qkey = self._quota_key(x)
        if qkey is not None and self._per_client.get(qkey, 0) >= (cfg.max_sessions_per_client or 0):
            kit.reject(x, 429, -32000, "Too many sessions for this client", extra=[(b"retry-after", b"1")],
                       rid=rid)
            return False, None
        return True, qkey

    def _mint(self, x: Exchange, version: str, qkey: Any, now: float) -> _Session:
        """A new session bound to ``x``'s identity, counted against its quota key."""
        sid = secrets.token_urlsafe(24)  # SEC-09: CSPRNG, 0x21-0x7E only (SRV-SESS-03)
        s = _Session(sid, x.identity, version, now)
        self.sessions[sid] = s
        if qkey is not None:
            s.quota_key = qkey
            self._per_client[qkey] = self._per_client.get(qkey, 0) + 1
        self._schedule(now + self.config.session_idle_timeout)
        return s

    def _dispatch(self, x: Exchange, session: _Session, messages: list[Any], version: str, now: float) -> None:
        cfg, kit = self.config, self.kit
        requests = []
        errors: list[bytes] = []
        for m in messages:
            t = type(m)
            if t is _jr.Request:
                requests.append(m)
            elif t is _jr.Notification:
                self._notification(session, m, version, x.identity, now)
            elif t is _jr.Response or t is _jr.ErrorResponse:
                known = m.id in session.outbound
                session.outbound.discard(m.id)
                kit.outbox.emit(ResponseReceived(message=m, session_id=session.id, known=known, _parsed=True))
            elif m.reply:  # Invalid, answerable
                errors.append(_jr.encode(m, omit_null_id=cfg.omit_null_id))
        if not requests:
            if errors:
                # Nothing was accepted that needs an answer, but something was
                # wrong: the input is refused (SRV-POST-02), errors in the body.
                body = errors[0] if not x.is_batch else b"[" + b",".join(errors) + b"]"
                return kit.json(x, 400, body, sid_header(session))
            return kit.accepted(x)  # SRV-POST-01, T-01
        stream: _Stream | None = None
        if cfg.json_response:
            x.move(XInput.WAIT)
            x.replies = errors
        else:
            stream = self.streams.new(session, is_get=False)
            self.streams.attach(x, stream, now)
            for e in errors:
                self.streams.send(stream, e, now)
        for m in requests:
            rid = kit.new_rid()
            self.pending[rid] = _Pending(rid, m.id, m.method, session, stream, x)
            session.inflight[m.id] = rid
            (stream.owed if stream is not None else x.owed).add(rid)
            kit.outbox.emit(RequestReceived(rid=rid, message=m, session_id=session.id, protocol_version=version,
                                            identity=x.identity, _parsed=True))
        if stream is not None and cfg.close_after_priming and stream.priming:
            self.streams.poll_close(stream, now)

    def _notification(self, session: _Session, m: Any, version: str, identity: Any, now: float) -> None:
        if m.method == "notifications/cancelled":  # CANCEL-02, CANCEL-05
            params = m.params if isinstance(m.params, dict) else {}
            request_id = params.get("requestId")
            rid = session.inflight.get(request_id) if type(request_id) in (int, str) else None
            p = self.pending.get(rid) if rid is not None else None
            if p is not None and p.method != "initialize":  # CANCEL-04
                reason = params.get("reason")
                self._finish(p, None, now)
                self.kit.cancel(p.rid)
                self.kit.outbox.emit(RequestCancelled(rid=p.rid, reason=reason if isinstance(reason, str) else None,
                                                      _parsed=True))
        self.kit.outbox.emit(NotificationReceived(message=m, session_id=session.id, protocol_version=version,
                                                  identity=identity, _parsed=True))

    def get(self, x: Exchange, *, now: float) -> None:
        """A GET: the session's standalone stream, or a resumption (Last-Event-ID)."""
        session = self._require(x)
        if session is None:
            return
        self._use(session, now)
        x.session = session
        last = x.fields.get(b"last-event-id")
        if last is not None and self.config.event_store is not None:
            return self._resume(x, session, last, now)
        stream = session.get_stream
        if stream is not None and stream.x is not None and not self.config.allow_concurrent_get:
            return self.kit.reject(x, 409, -32000, "Conflict: a GET stream is already open for this session")
        if stream is None:
            stream = session.get_stream = self.streams.new(session, is_get=True)
        elif stream.x is not None:  # allow_concurrent_get: the newer connection takes over
            self.streams.detach(stream)
        self.streams.attach(x, stream, now)
        while session.queue:  # AMB-14: hand over what waited for a stream
            data = session.queue.popleft()
            session.queued_bytes -= len(data)
            self.streams.send(stream, data, now)
        if self.config.close_after_priming and stream.priming:
            self.streams.poll_close(stream, now)

    def _resume(self, x: Exchange, session: _Session, last: bytes, now: float) -> None:
        # SRV-RESUME-05/06, SEC-12: only the named stream, only of this session.
        parsed = parse_event_id(last)  # ASCII digits only, bounded (issue 10)
        stream = session.streams.get(parsed[0]) if parsed is not None else None
        if parsed is None or stream is None:
            return self.kit.reject(x, 400, -32000, "Bad Request: Last-Event-ID names no stream of this session")
        key, seq = parsed
        store = self.config.event_store
        assert store is not None
        events = store.replay_after(session.id, key, seq, now)
        if events is None:
            return self.kit.reject(x, 410, -32000, "Gone: events after Last-Event-ID are no longer kept")
        if stream.x is not None:
            self.streams.detach(stream)
        self.streams.attach(x, stream, now, prime=False)
        out = [_sse.encode_event(data, id=f"{key}.{n}") for n, data in events]
        if out:
            self.kit.write(x, b"".join(out), now)
        if stream.finished:
            self.streams.detach(stream)
        elif self.config.close_after_priming and self.config.retry_ms is not None:
            self.streams.poll_close(stream, now)  # keep polling: close again, with retry, once caught up

    def delete(self, x: Exchange, *, now: float) -> None:
        session = self._require(x)
        if session is None:
            return
        self.close(session, "deleted")
        self.kit.outbox.head(x.xid, 200, [(b"content-length", b"0")])  # AMB-08
        self.kit.end(x)

    def lost(self, x: Exchange, *, now: float) -> None:
        """The client went away from ``x``: not a cancellation here (CANCEL-01); the stream detaches."""
        stream = x.stream
        if stream is not None and stream.x is x:
            stream.x = None
            stream.move(StreamInput.DETACH)
            stream.session.last_active = now
            self.streams.forget_if_done(stream)
        # JSON-mode replies for a lost exchange are dropped with it; their
        # pending entries stay until the application answers (then discarded).

    def unsupported_version(self, x: Exchange, version: str, rid: Any) -> None:
        """SRV-VER-02, SRV-VER-06: 400, -32022, every version the endpoint serves and the one asked for."""
        self.kit.reject(x, 400, UNSUPPORTED_PROTOCOL_VERSION, f"Unsupported protocol version: {version}", rid=rid,
                        data={"supported": self.config.served_versions, "requested": version})

    # -- the application's calls ---------------------------------------------------

    def respond(self, rid: int, result: Any, error: tuple[Any, ...] | None, *, now: float) -> None:
        p = self.pending[rid]  # the endpoint checked it is ours
        if error is not None:
            data = _jr.encode_error(p.request_id, error[0], error[1], error[2] if len(error) > 2 else None)
        else:
            data = _jr.encode_result(p.request_id, result)
            if p.method == "initialize" and isinstance(result, dict):
                v = result.get("protocolVersion")
                if v in self._supported:
                    p.session.version = v
        self._finish(p, data, now)
        if error is not None and p.method == "initialize":
            self.close(p.session, "closed")

    def notify(self, session_id: str | None, method: str, params: Any, related: int | None, *, now: float) -> None:
        self._send_message(session_id, _jr.encode_notification(method, params), related, now)

    def send_request(self, session_id: str | None, method: str, params: Any, related: int | None,
                     *, now: float) -> int:
        request_id = self._next_server_request
        self._next_server_request += 1
        self._send_message(session_id, _jr.encode_request(request_id, method, params), related, now)
        session = self.sessions.get(session_id) if session_id is not None else None
        if session is not None:
            session.outbound.add(request_id)
        return request_id

    def close_session(self, session_id: str) -> bool:
        s = self.sessions.get(session_id)
        if s is None:
            return False
        self.close(s, "closed")
        return True

    def disconnect_request(self, rid: int, *, now: float) -> bool:
        p = self.pending.get(rid)
        return self.streams.poll_close(p.stream if p is not None else None, now)

    def disconnect_session(self, session_id: str, *, now: float) -> bool:
        s = self.sessions.get(session_id)
        return self.streams.poll_close(s.get_stream if s is not None else None, now)

    def _cancel_all(self, session: _Session) -> None:
        """Forget every request of ``session`` in flight: a late answer is ignored (CANCEL-05)."""
        for r in list(session.inflight.values()):
            if self.pending.pop(r, None) is not None:
                self.kit.cancel(r)
        session.inflight.clear()

    # -- timers --------------------------------------------------------------------

    def _schedule(self, t: float) -> None:
        if self.wake is None or t < self.wake:
            self.wake = t

    def handle_timer(self, now: float) -> None:
        """Expire idle sessions (an attached stream is activity)."""
        idle = self.config.session_idle_timeout
        wake: float | None = None
        for s in list(self.sessions.values()):
            if s.last_active + idle <= now:
                if any(st.x is not None for st in s.streams.values()):
                    s.last_active = now
                else:
                    self.close(s, "expired")
                    continue
            t = s.last_active + idle
            if wake is None or t < wake:
                wake = t
        self.wake = wake

    # -- internals -----------------------------------------------------------------

    def _use(self, session: _Session, now: float) -> None:
        session.state = step(SESSION, session.state, SessionInput.USE, "session", session.id)
        session.last_active = now

    def close(self, session: _Session, reason: str) -> None:
        """End a session (SRV-SESS-05); its requests in flight are forgotten."""
        if session.closed:
            return
        session.state = step(SESSION, session.state, SessionInput.CLOSE, "session", session.id)
        self.sessions.pop(session.id, None)
        if session.quota_key is not None:
            left = self._per_client.get(session.quota_key, 1) - 1
            if left > 0:
                self._per_client[session.quota_key] = left
            else:
                self._per_client.pop(session.quota_key, None)
        for st in list(session.streams.values()):
            if st.x is not None:
                self.streams.detach(st)
        self._cancel_all(session)
        if self.config.event_store is not None:
            self.config.event_store.drop_session(session.id)
        self.kit.outbox.emit(SessionClosed(session_id=session.id, reason=reason, _parsed=True))

    def _quota_key(self, x: Exchange) -> Any:
        """Who a new session counts against (max_sessions_per_client), or None for no quota."""
        if self.config.max_sessions_per_client is None:
            return None
        key = x.identity if self.config.authenticate is not None else x.client
        try:
            hash(key)
        except TypeError:
            key = repr(key)  # an unhashable identity still gets a stable key
        return key

    def _require(self, x: Exchange) -> _Session | None:
        """The session a GET or DELETE names; None after answering 400 or 404."""
        sid = x.fields.get(b"mcp-session-id")
        if sid is None:  # SRV-SESS-04
            self.kit.reject(x, 400, -32000, "Bad Request: Mcp-Session-Id header is required")
            return None
        s = self._lookup(x, sid)
        if s is None:  # SRV-SESS-05, SESS-09
            self.kit.reject(x, 404, SESSION_NOT_FOUND, "Session not found")
        return s

    def _lookup(self, x: Exchange, sid: bytes) -> _Session | None:
        s = self.sessions.get(sid.decode("latin-1"))
        # SEC-10: a session belongs to the identity that created it; to anyone
        # else it does not exist (404, not 403: existence is not revealed).
        if s is None or s.closed or (self.config.authenticate is not None and s.identity != x.identity):
            return None
        return s

    def _send_message(self, session_id: str | None, data: bytes, related: int | None, now: float) -> None:
        p = self.pending.get(related) if related is not None else None
        if p is not None and p.stream is not None:
            self.streams.send(p.stream, data, now)  # SRV-SSE-02: on the originating request's stream
            return
        session = self.sessions.get(session_id) if session_id is not None else None
        if session is None:
            raise LocalProtocolError(f"no live session {session_id!r}")
        gs = session.get_stream
        if gs is not None and (gs.x is not None or self.config.event_store is not None):
            self.streams.send(gs, data, now)
            return
        if session.queued_bytes + len(data) > self.config.max_queued_bytes:  # AMB-14: queue, bounded
            raise QueueFull(f"session {session_id} has {session.queued_bytes} bytes queued")
        session.queue.append(data)
        session.queued_bytes += len(data)

    def _finish(self, p: _Pending, data: bytes | None, now: float) -> None:
        """Deliver (or, cancelled, drop) the answer to ``p`` and close what it completes."""
        self.pending.pop(p.rid, None)
        session = p.session
        if session.inflight.get(p.request_id) == p.rid:
            del session.inflight[p.request_id]
        stream = p.stream
        if stream is not None:
            if data is not None:
                self.streams.send(stream, data, now)
            stream.owed.discard(p.rid)
            if not stream.is_get and not stream.owed and not stream.finished:
                stream.move(StreamInput.SETTLE)
                if stream.x is not None:  # SRV-SSE-07: the last response ends the stream
                    self.streams.detach(stream)
                self.streams.forget_if_done(stream)
            return
        x = p.x
        if x.state is not XState.WAITING:
            return  # the client left; a JSON reply cannot be resumed
        x.owed.discard(p.rid)
        if data is not None:
            x.replies.append(data)
        if not x.owed:
            extra = sid_header(session)
            if not x.replies:
                self.kit.accepted(x)  # every request was cancelled: nothing to say
            elif x.is_batch:
                self.kit.json(x, 200, b"[" + b",".join(x.replies) + b"]", extra)  # AMB-04
            else:
                self.kit.json(x, 200, x.replies[0], extra)


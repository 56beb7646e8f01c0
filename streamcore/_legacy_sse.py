"""The deprecated HTTP+SSE transport (protocol 2024-11-05, "L0") beside Streamable HTTP.

Theory of operation
===================

Older clients speak only the transport of 2024-11-05 (spec 2.15, L0-01..05):
two endpoints instead of one.

* ``GET`` on the SSE path (``ServerConfig.sse_path``, e.g. ``/sse``) opens a
  stream and, with it, a session. The stream's first event is ``endpoint``
  (L0-02), whose data is the URL to POST to: the messages path with the
  session in the query, ``/messages/?session_id=<id>``, as the official SDKs
  send it.
* Every client message is a ``POST`` to that URL (L0-03). It is answered
  ``202 Accepted`` at once; the responses, and everything else the server
  sends, arrive on the stream as ``message`` events (L0-04).
* The stream *is* the session: when the client goes away, the session ends,
  its requests in flight are cancelled (``RequestCancelled``, reason
  ``disconnected``) and a later POST naming it gets 404. There is no
  resumption (no event ids, no ``Last-Event-ID``) and no DELETE.

This module is a layer over the session-era core
(:class:`streamcore._session.SessionCore`): an L0 session is a session-era
session whose standalone stream is the L0 stream, so the application seam
(``respond``, ``notify`` with ``related``, ``send_request`` and the client's
answers, ``notifications/cancelled``), the session limits (``max_sessions``,
``max_sessions_per_client``), session binding to the authenticated identity
(SEC-10) and keep-alives are the session era's, unchanged. The endpoint
(:mod:`streamcore._endpoint`) checks Host, Origin, header values and
authentication first, as for every request, then hands the two L0 paths here.

Wire decisions (learned from the official SDKs' behaviour, not their code):
a POST without ``session_id`` gets 400, an unknown session (or another
identity's) 404, a body that is not JSON-RPC 400 (-32700 / -32600), a
non-JSON ``Content-Type`` 415; a wrong method on either path gets 405 with
``Allow``, so a client probing the SSE URL with a Streamable HTTP POST falls
back to ``GET`` (CLI-COMPAT-02).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

from . import jsonrpc as _jr
from . import sse as _sse
from ._config import ServerConfig
from ._errors import JsonRpcDecodeError
from ._events import RequestCancelled, RequestReceived, ResponseReceived
from ._headers import SSE, accepts, is_json_content_type
from ._policy import MAX_DIGITS
from ._protocol import SESSION_NOT_FOUND
from ._session import SessionCore, _Pending, _Session, _Stream, _Streams
from ._states import StreamInput
from ._toolkit import Exchange, Kit

__all__ = ["LegacySse", "L0SessionCore", "L0_VERSION"]

#: The protocol revision of the HTTP+SSE transport; an L0 session starts at it
#: and takes whatever version its ``initialize`` answer names.
L0_VERSION = "2024-11-05"

_SSE, _MESSAGES = 1, 2
# query parameter names for the session: the Python SDK's, then the TypeScript SDK's
_SID_PARAMS = ("session_id", "sessionId")


class _L0Stream(_Stream):
    """The one stream of an L0 session (a session-era GET stream that carries everything)."""

    __slots__ = ()


class _L0Streams(_Streams):
    """The session core's streams, with L0 streams written as plain ``message`` events:
    never stored in the event store, never given ids (L0 has no resumption)."""

    def __init__(self, config: ServerConfig, kit: Kit, owner: LegacySse) -> None:
        super().__init__(config, kit)
        self.owner = owner

    def send(self, stream: _Stream, data: bytes, now: float) -> None:
        if type(stream) is not _L0Stream:
            return _Streams.send(self, stream, data, now)
        x = stream.x
        if x is not None:  # L0-04
            self.kit.write(x, _sse.encode_event(data, event="message"), now)  # multi-line data stays framed
        # detached: the session is ending with it; the message has nowhere to go

    def poll_close(self, stream: _Stream | None, now: float) -> bool:
        # disconnect_request/disconnect_session on an L0 stream: it cannot be
        # resumed, so ending its connection ends the session. (close() detaches
        # an L0 stream too, but then the session is closing already.)
        done = _Streams.poll_close(self, stream, now)
        if done and type(stream) is _L0Stream:
            self.owner.end(stream.session, reason=None)
        return done


class L0SessionCore(SessionCore):
    """The session-era core of an endpoint that serves HTTP+SSE too: an L0 session
    does not exist for Streamable HTTP requests (its id on ``/mcp`` gets 404), nor a
    Streamable HTTP session for the L0 message endpoint."""

    def _lookup(self, x: Exchange, sid: bytes) -> _Session | None:
        s = SessionCore._lookup(self, x, sid)
        return None if s is not None and type(s.get_stream) is _L0Stream else s

    def l0_lookup(self, x: Exchange, sid: bytes) -> _Session | None:
        s = SessionCore._lookup(self, x, sid)
        return s if s is not None and type(s.get_stream) is _L0Stream else None


class LegacySse:
    """HTTP+SSE (2024-11-05) on the session-era core (module docstring)."""

    def __init__(self, config: ServerConfig, core: L0SessionCore, kit: Kit) -> None:
        assert config.sse_path is not None
        self.config = config
        self.core = core
        self.kit = kit
        self.sse_path = config.sse_path.encode("latin-1")
        self.messages_path = config.sse_messages_path.encode("latin-1")
        #: request path -> which L0 endpoint it is (the endpoint looks paths up here)
        self.kinds: dict[bytes, int] = {self.sse_path: _SSE, self.messages_path: _MESSAGES}
        self._endpoint_prefix = quote(config.sse_messages_path) + "?session_id="
        core.streams = _L0Streams(config, kit, self)


    # -- the head (after the endpoint's Host, Origin, header-value and auth checks) --

    def check_head(self, x: Exchange, f: dict[bytes, bytes], kind: int) -> None:
        kit = self.kit
        if kind == _SSE:
            if x.method != b"GET":  # a Streamable HTTP probe falls back on this (CLI-COMPAT-02)
                return kit.reject(x, 405, -32000, "Method not allowed: this is the HTTP+SSE stream (GET)",
                                  extra=[(b"allow", b"GET")])
            accept = f.get(b"accept")
            if accept is not None and not accepts(accept, SSE):
                return kit.reject(x, 406, -32000, "Not Acceptable: Accept must allow text/event-stream")
            return None
        if x.method != b"POST":
            return kit.reject(x, 405, -32000, "Method not allowed: this is the HTTP+SSE message endpoint (POST)",
                              extra=[(b"allow", b"POST")])
        if not is_json_content_type(f.get(b"content-type")):  # AMB-02
            return kit.reject(x, 415, -32000, "Unsupported Media Type: Content-Type must be application/json")
        length = f.get(b"content-length")
        if length is not None and length.isdigit() and (len(length) > MAX_DIGITS
                                                        or int(length) > self.config.max_body_size):
            return kit.reject(x, 413, -32600, "Request body too large", close=True)
        return None

    # -- the whole request --------------------------------------------------------

    def receive_end(self, x: Exchange, body: bytes, *, now: float) -> None:
        if x.method == b"GET":
            self._open(x, now)
        else:
            self._post(x, body, now)

    def _open(self, x: Exchange, now: float) -> None:
        """L0-01/02: a new session, its stream, and the ``endpoint`` event first."""
        core, kit = self.core, self.kit
        admitted, qkey = core._admit(x)
        if not admitted:
            return None
        session = core._mint(x, L0_VERSION, qkey, now)  # as the session era mints them (SEC-09)
        stream = _L0Stream("0", session, True)
        session.streams["0"] = session.get_stream = stream
        x.session = session
        x.stream = stream
        stream.x = x
        stream.move(StreamInput.ATTACH)
        kit.stream(x, (), now)
        kit.write(x, _sse.encode_event(self._endpoint_prefix + session.id, event="endpoint"), now)

    def _post(self, x: Exchange, body: bytes, now: float) -> None:
        """L0-03: one POST of client messages; 202 now, the answers on the stream."""
        core, kit, cfg = self.core, self.kit, self.config
        _, _, query = x.target.partition(b"?")
        params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
        sid = next((params[k] for k in _SID_PARAMS if k in params), None)
        if sid is None:
            return kit.reject(x, 400, -32000, "Bad Request: session_id is required")
        session = core.l0_lookup(x, sid.encode("latin-1"))
        if session is None:  # SEC-10: another identity's session is unknown too
            return kit.reject(x, 404, SESSION_NOT_FOUND, "Session not found")
        stream = session.get_stream
        assert stream is not None
        try:
            parsed = _jr.parse(body, allow_batch=True, max_body_size=cfg.max_body_size)
        except JsonRpcDecodeError as exc:
            return kit.reject(x, exc.status_hint, exc.code_hint, str(exc) or "Parse error")
        core._use(session, now)
        errors: list[bytes] = []
        accepted = False
        version = session.version
        for m in parsed.messages:
            t = type(m)
            if t is _jr.Request:
                accepted = True
                rid = kit.new_rid()
                core.pending[rid] = _Pending(rid, m.id, m.method, session, stream, x)
                session.inflight[m.id] = rid
                stream.owed.add(rid)
                kit.outbox.emit(RequestReceived(rid=rid, message=m, session_id=session.id, protocol_version=version,
                                                identity=x.identity, _parsed=True))
            elif t is _jr.Notification:
                accepted = True
                core._notification(session, m, version, x.identity, now)
            elif t is _jr.Response or t is _jr.ErrorResponse:
                accepted = True
                known = m.id in session.outbound
                session.outbound.discard(m.id)
                kit.outbox.emit(ResponseReceived(message=m, session_id=session.id, known=known, _parsed=True))
            elif m.reply:  # invalid, answerable
                errors.append(_jr.encode(m, omit_null_id=cfg.omit_null_id))
        if errors and not accepted:
            # Nothing usable: refused outright, errors in the body (as SRV-POST-02).
            body_out = errors[0] if not parsed.is_batch else b"[" + b",".join(errors) + b"]"
            return kit.json(x, 400, body_out)
        for e in errors:  # a batch with some invalid members: their errors go where answers go
            core.streams.send(stream, e, now)
        kit.accepted(x)

    # -- the end of a stream ---------------------------------------------------------

    def lost(self, x: Exchange, *, now: float) -> None:
        """The client went away from ``x``: for the L0 stream, the session ends with it."""
        stream = x.stream
        if type(stream) is _L0Stream and stream.x is x:
            stream.x = None
            stream.move(StreamInput.DETACH)
            self.end(stream.session, reason="disconnected")

    def end(self, session: _Session, *, reason: str | None) -> None:
        """End an L0 session: its requests in flight are cancelled, then it closes."""
        if session.closed:
            return
        core, kit = self.core, self.kit
        for rid in list(session.inflight.values()):
            p = core.pending.pop(rid, None)
            if p is not None:
                kit.cancel(rid)
                kit.outbox.emit(RequestCancelled(rid=rid, reason=reason or "disconnected", _parsed=True))
        session.inflight.clear()
        core.close(session, "closed")

"""Sans-IO MCP client core for both protocol eras; the public face is :mod:`streamcore.client`.

Theory of operation
-------------------
The core never touches a socket or a clock. It drives *exchanges* (``xid``):
:meth:`Client.data_to_send` hands the adapter :class:`HttpRequest` (method,
URL, headers, body) and :class:`HttpAbort` items; the adapter performs them and
reports back per ``xid`` with :meth:`Client.receive_response` (status, headers),
:meth:`Client.receive_data` (de-chunked body bytes; ``b""`` = the body ended)
and :meth:`Client.receive_error` (the connection broke). What the application
must see comes out of :meth:`Client.next_event` as nouns. JSON-RPC requests in
flight are named by ``rid``. Time is an argument: every call that can depend
on it takes ``now=`` (required, keyword-only), and :meth:`Client.get_timer`
says when to call :meth:`Client.handle_timer`.

Calls that may queue HTTP output: every ``send_*``/``respond*``/``answer_input``/
``cancel``/``close``/``initialize`` call, every ``receive_*`` call and
``handle_timer``. Drain :meth:`data_to_send` and :meth:`events` after each.
The core is not thread-safe: call it from one thread (or under one lock).

States: ``IDLE`` -> ``INITIALIZING`` -> ``READY`` -> ``CLOSING`` -> ``CLOSED``
(session era), ``PROBING_LEGACY``/``LEGACY`` (HTTP+SSE), ``DISCOVERING`` ->
``MODERN`` (2026-07-28), ``FAILED`` when connecting failed for good. The era
parts and the machinery they share live in ``_client_session``,
``_client_modern`` and ``_client_base``; this module is the public verbs.
"""

from __future__ import annotations

import heapq
from typing import Any

from . import jsonrpc
from ._client_base import DELETE, GET_LISTEN, LEGACY_GET, MPOST, NOTIFY, POST, _Exchange, _Pending
from ._client_modern import _ModernEra
from ._client_session import _SessionEra
from ._client_types import (
    DEFAULT_ERA_CACHE,
    LATEST_VERSION,
    MODERN_ERROR_CODES,
    MODERN_VERSION,
    SUPPORTED_VERSIONS,
    ClientClosed,
    ClientConfig,
    ClientError,
    ClientState,
    Closed,
    ConnectionLost,
    EraCache,
    Event,
    Headers,
    HttpAbort,
    HttpRequest,
    HttpStatusError,
    Initialized,
    InputRequired,
    RequestFailed,
    RequestResult,
    RequestTimeout,
    ServerNotification,
    ServerRequest,
    SessionExpired,
    StreamProtocolError,
    _build,
    modern_error,
)
from ._errors import LocalProtocolError, McpError, RemoteProtocolError, SseDecodeError
from ._protocol import SUBSCRIPTION_ID
from .sse import SseDecoder

__all__ = [
    "Client", "ClientConfig", "ClientState", "HttpRequest", "HttpAbort", "Event", "Initialized",
    "SessionExpired", "RequestResult", "RequestFailed", "ServerRequest", "ServerNotification", "InputRequired",
    "Closed", "ClientError", "McpError", "HttpStatusError", "StreamProtocolError", "ConnectionLost",
    "RequestTimeout", "ClientClosed", "SUPPORTED_VERSIONS", "LATEST_VERSION", "MODERN_VERSION", "EraCache",
    "DEFAULT_ERA_CACHE", "MODERN_ERROR_CODES", "SUBSCRIPTION_ID", "modern_error", "USE_CONFIG_TIMEOUT",
]

#: ``send_request(timeout=...)`` default: the config's ``request_timeout``
USE_CONFIG_TIMEOUT = -1.0
_SENDING = (ClientState.READY, ClientState.LEGACY, ClientState.MODERN)


class Client(_ModernEra, _SessionEra):
    """The sans-IO client; see the module docstring and ``docs/client.md``."""

    def __init__(self, config: ClientConfig) -> None:
        if not isinstance(config, ClientConfig):
            raise LocalProtocolError(f"Client needs a ClientConfig, not {type(config).__name__}")
        super().__init__(config)
        self.tool_headers = {}
        self.excluded_tools = {}
        self._legacy_version = config.protocol_version

    # -- application side ----------------------------------------------------------

    def initialize(self, *, now: float) -> int:
        """Connect: ``initialize`` or ``server/discover`` as the era says; returns its rid."""
        if self.state not in (ClientState.IDLE, ClientState.FAILED):
            raise LocalProtocolError(f"initialize in state {self.state.name}")
        self._init_error = None
        return self._begin(now)

    def _begin(self, now: float) -> int:
        era = self.config.era
        if era == "legacy":
            return self._start_initialize(now)
        if era == "auto" and self._era_cache.get(self.config.url) == "legacy":
            self._probe_skipped = True  # CLI-COMPAT-05: re-probed if initialize meets a modern error
            return self._start_initialize(now)
        return self._start_discover(now)

    def send_request(self, method: str, params: Any = None, *, now: float,
                     timeout: float | None = USE_CONFIG_TIMEOUT) -> int:
        """Queue a request; its outcome arrives as RequestResult/RequestFailed under the returned rid.

        ``timeout`` (seconds) overrides ``config.request_timeout``; None means none.
        """
        if not isinstance(method, str) or not method:
            raise LocalProtocolError("method must be a non-empty str")
        if method == "initialize":
            raise LocalProtocolError("use initialize(); the client owns the handshake")
        rid = next(self._ids)
        t = self.config.request_timeout if timeout == USE_CONFIG_TIMEOUT else timeout
        p = _Pending(rid, method, params, None if t is None else now + t, False)
        self._pending[rid] = p
        self._deadline(p)
        if self.state in _SENDING:
            self._post(p)
        elif self.state in (ClientState.CLOSING, ClientState.CLOSED):
            self._fail(rid, ClientClosed("the client is closed"), now)
        elif self.state is ClientState.FAILED:
            self._fail(rid, self._init_error or ConnectionLost("initialization failed"), now)
        else:
            if self.state is ClientState.IDLE:
                self._begin(now)
            self._queued.append(("request", rid))
        return rid

    def send_notification(self, method: str, params: Any = None, *, now: float) -> None:
        """POST a notification (expects 202)."""
        if self.state is ClientState.MODERN:
            self._post_modern_notification(method, params)
        elif self.state is ClientState.DISCOVERING:
            self._queued.append(("notify", (method, params)))
        else:
            self._send_message(jsonrpc.encode_notification(method, params))

    def respond(self, id: int | str, result: Any, *, now: float) -> int | None:
        """Answer the :class:`ServerRequest` ``id`` with a result; returns the exchange that
        carries it (None while it waits for a re-initialization)."""
        self._answering(id)
        return self._send_message(jsonrpc.encode_result(id, result))

    def respond_error(self, id: int | str, code: int, message: str, data: Any = None, *, now: float) -> int | None:
        """Answer the :class:`ServerRequest` ``id`` with a JSON-RPC error (returns as :meth:`respond`)."""
        self._answering(id)
        return self._send_message(jsonrpc.encode_error(id, code, message, data))

    def _answering(self, id: Any) -> None:
        if id not in self._server_requests:
            raise LocalProtocolError(f"no server request {id!r} waits for an answer (unknown or answered)")
        if self.state not in (ClientState.READY, ClientState.LEGACY, ClientState.INITIALIZING,
                              ClientState.PROBING_LEGACY):
            raise LocalProtocolError(f"cannot answer in state {self.state.name}")
        self._server_requests.discard(id)

    def cancel(self, rid: int, reason: str = "cancelled", *, now: float) -> None:
        """Give up on request ``rid``: no event will come for it; the server gets
        ``notifications/cancelled`` (session era) or its stream is closed (CANCEL-06).
        A request that already ended is left alone; an rid never issued is misuse."""
        if type(rid) is not int or not 0 < rid <= self._ids.last:
            raise LocalProtocolError(f"unknown request {rid!r}")
        p = self._pending.pop(rid, None)
        if p is None:
            return
        if p.wire != rid:
            self._alias.pop(p.wire, None)
        self._queued = [q for q in self._queued if q != ("request", rid)]
        if self.state in (ClientState.READY, ClientState.LEGACY):
            self._notify_cancelled(rid, reason)
        self._drop_rid(rid)

    def close(self, *, now: float) -> None:
        """Fail what waits, drop the streams, DELETE the session (CLI-SESS-03)."""
        if self.state in (ClientState.CLOSING, ClientState.CLOSED):
            return
        self._fail_all(ClientClosed("the client was closed"))
        self._queued.clear()
        self._timers.clear()
        for xid in list(self._exchanges):
            self._forget(xid)
        self._server_requests.clear()
        if self.session_id is not None and self.state is ClientState.READY:
            self.state = ClientState.CLOSING
            ex = self._new(DELETE)
            self._issue(ex, "DELETE", self.config.url, self._headers(post=False))
        else:
            self.state = ClientState.CLOSED
            self._events.append(_build(Closed))

    # -- sans-IO verbs -------------------------------------------------------------

    def data_to_send(self) -> list[HttpRequest | HttpAbort]:
        """The HTTP exchanges to start (and abandon) now, in order. After an
        :class:`HttpAbort` is taken here, reports for its exchange are misuse."""
        out, self._out = self._out, []
        self._aborting.clear()
        return out

    def next_event(self) -> Event | None:
        """The next event for the application, or None."""
        return self._events.pop(0) if self._events else None

    def events(self) -> list[Event]:
        """All pending events at once (cheaper than next_event in a loop)."""
        ev, self._events = self._events, []
        return ev

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` should next be called (absolute, same clock as ``now``)."""
        t = self._timers
        while t and t[0][3] is not None and t[0][3] not in self._pending:
            heapq.heappop(t)  # a deadline of a request that ended: dropped lazily
        return t[0][0] if t else None

    def handle_timer(self, *, now: float) -> None:
        """Fire due timers: request deadlines, scheduled reconnections and retries."""
        t = self._timers
        for _ in range(len(t)):
            if not t or t[0][0] > now:
                break
            _, _, fn, rid = heapq.heappop(t)
            if rid is None:
                if fn is not None:
                    fn(now)
            elif rid in self._pending:
                self._expire(rid, now)

    def receive_response(self, xid: int, status: int, headers: Headers, *, now: float) -> None:
        """The status line and headers of exchange ``xid`` arrived (lower-case bytes names)."""
        ex = self._exchange(xid)
        if type(status) is not int or not 100 <= status <= 999:
            raise LocalProtocolError(f"status must be an int 100..999, not {status!r}")
        if ex is None:
            return
        ex.status = status
        ctype = b""
        sid = None
        for k, v in headers:
            if k == b"content-type":
                ctype = v.split(b";", 1)[0].strip().lower()
            elif k == b"mcp-session-id":
                sid = v.strip().decode("latin-1")
        if 200 <= status < 300 and ex.kind == POST and self._init_id in ex.rids and sid:
            self.session_id = sid  # CLI-SESS-01
        # a 404 to the listening GET alone is not trusted as session expiry: a server
        # without a GET route would otherwise make us re-initialize forever
        if status == 404 and ex.had_session and self.config.reinitialize and self._ever_ready \
                and ex.kind != GET_LISTEN and self.state in (ClientState.READY, ClientState.INITIALIZING):
            self._session_lost(ex, now)
            return
        if ex.kind == LEGACY_GET and (status != 200 or ctype != b"text/event-stream"):
            self._legacy_failed(ex, HttpStatusError(status, b"", "no HTTP+SSE stream at the URL either"))
            return
        if status == 200 and ctype == b"text/event-stream":
            ex.sse = True
            ex.decoder = SseDecoder(max_event_size=self.config.max_event_size)
        elif 200 <= status < 300:
            ex.body = bytearray()
            ex.json = ctype == b"application/json" or ctype.endswith(b"+json")
        else:
            ex.body = bytearray()  # collect the error body for the message

    def receive_data(self, xid: int, data: bytes, *, now: float) -> None:
        """Body bytes of exchange ``xid`` (de-chunked); ``b""`` means the body ended."""
        ex = self._exchange(xid)
        if ex is None:
            return
        if type(data) is not bytes:
            raise LocalProtocolError(f"data must be bytes, not {type(data).__name__}")
        if not data:
            self._open.discard(xid)
            self._end(ex, now)
            return
        if ex.decoder is not None:
            self._sse(ex, data, now)
            return
        body = ex.body
        if body is None:
            return
        if len(body) + len(data) > self.config.max_body_size:
            if 200 <= ex.status < 300:
                self._stream_broken(ex, StreamProtocolError(
                    f"response body exceeds max_body_size={self.config.max_body_size}", status_hint=502), now, fatal=True)
            return  # error bodies: keep the head only
        body += data

    def _sse(self, ex: _Exchange, data: bytes, now: float) -> None:
        dec = ex.decoder
        assert dec is not None
        try:
            events = dec.feed(data)
        except SseDecodeError as exc:
            self._stream_broken(ex, StreamProtocolError(f"bad SSE stream: {exc}", status_hint=502), now, fatal=True)
            return
        for ev in events:
            # CLI-SSE-04 (empty data: priming) and CLI-SSE-06 (other types)
            if ev.data and ev.event == "message":
                self._route_json(ex, ev.data.encode(), now)
            elif ev.event == "endpoint" and ex.kind == LEGACY_GET:
                self._legacy_endpoint(ev.data)
            if ex.kind == LEGACY_GET and not self._legacy_endpoint_seen:
                self._legacy_failed(ex, StreamProtocolError("the first SSE event was not `endpoint`"))
                return
            if ev.id and ev.id != ex.last_event_id:
                ex.last_event_id = ev.id
                ex.progress = True
            if ex.xid not in self._exchanges:
                return
        if dec.retry is not None:
            ex.retry_ms = dec.retry

    def receive_error(self, xid: int, error: BaseException | str, *, now: float) -> None:
        """Exchange ``xid`` failed (connect error, reset, EOF mid-body, a malformed response:
        pass a :class:`streamcore.RemoteProtocolError` for the latter, it is not retried)."""
        ex = self._exchange(xid)
        if ex is None:
            return
        self._open.discard(xid)
        if isinstance(error, RemoteProtocolError):  # a malformed response: no retry can fix it
            self._stream_broken(ex, StreamProtocolError(f"bad response: {error}", status_hint=502), now, fatal=True)
            return
        self._stream_broken(ex, ConnectionLost(f"connection failed: {error}"), now)

    # -- the end of a body -------------------------------------------------------------

    def _end(self, ex: _Exchange, now: float) -> None:
        """The body of ``ex`` ended normally."""
        if ex.decoder is not None:
            ex.decoder.close()
        status = ex.status
        if ex.kind == DELETE:
            self._exchanges.pop(ex.xid, None)
            self.state = ClientState.CLOSED
            self.session_id = None
            self._events.append(_build(Closed))  # any status: 2xx, 404, 405 (CLI-SESS-03)
            return
        if not 200 <= status < 300:
            self._http_error(ex, status, bytes(ex.body or b""), now)
            return
        if ex.kind == NOTIFY:
            self._exchanges.pop(ex.xid, None)
            if ex.body and ex.json:  # a JSON reply to a notification/response is tolerated, routed
                self._route_json(ex, bytes(ex.body), now)
            return
        if ex.sse:
            self._stream_broken(ex, ConnectionLost("the stream ended"), now)
            return
        self._exchanges.pop(ex.xid, None)  # a JSON (or empty) reply
        if ex.body and (ex.kind == MPOST or ex.kind == POST and (ex.json or self._legacy_stream is None)):
            self._route_json(ex, bytes(ex.body), now)
        if ex.kind == POST and self._legacy_stream is not None:
            return  # L0: the reply travels on the GET stream
        for rid in list(ex.rids):
            if status == 202:
                err: Exception = StreamProtocolError("202 Accepted to a request: no response will come")
            else:
                err = StreamProtocolError("the reply did not contain the response")
            self._fail(rid, err, now)

    # -- era dispatch of the shared mechanisms -------------------------------------------

    def _status_hook(self, ex: _Exchange, status: int, body: bytes, err: tuple[int, str, Any] | None,
                     now: float) -> bool:
        return ex.kind != MPOST and self._session_status_hook(ex, status, body, now)

    def _recover_status(self, ex: _Exchange, p: _Pending, status: int, err: tuple[int, str, Any] | None,
                        now: float) -> bool:
        return ex.kind == MPOST and self._modern_recover(ex, p, status, err, now)

    def _broken_hook(self, ex: _Exchange, err: Exception, now: float, fatal: bool) -> bool:
        return ex.kind != MPOST and self._session_broken_hook(ex, err, now, fatal)

    def _internal_done(self, p: _Pending, result: Any, error: Exception | None, now: float) -> None:
        if p.method == "initialize":
            self._initialized(p, result, error, now)
        elif p.method == "server/discover":
            self._discovered(p, result, error, now)
        else:
            self._refreshed(p, error, now)

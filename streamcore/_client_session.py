"""The session era of the client (2025-03-26 .. 2025-11-25) and the HTTP+SSE fallback (2024-11-05).

Recovery rules (IDs from the requirements checklist, docs/client.md):

* CLI-SSE-04 / AMB-13: SSE events with empty data (priming) are skipped;
  CLI-SSE-06: only ``message`` events are parsed.
* CLI-SSE-01/02, CLI-RESUME-01/02, CLI-SSE-05, AMB-12: a stream that breaks or
  ends while requests still wait on it is resumed with GET + ``Last-Event-ID``
  after the server's ``retry`` (else backoff with jitter, bounded attempts);
  a POST stream that never showed an event id fails its requests. The GET
  listening stream is reconnected the same way until 404, 405 or session end.
* CLI-SESS-02: a 404 to a request carrying ``Mcp-Session-Id`` starts a new
  session and retries the request once.
* CLI-SESS-01, CLI-VER-01, AUTH-01: session id, version and the caller's
  headers ride on every request (POST, GET, DELETE); CLI-SESS-03: DELETE on close.
* CLI-COMPAT-02: HTTP+SSE fallback when the first ``initialize`` POST fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from . import jsonrpc
from ._client_base import (
    DELETE,
    GET_LISTEN,
    GET_RESUME,
    LEGACY_GET,
    MPOST,
    NOTIFY,
    POST,
    _Exchange,
    _Machinery,
    _Pending,
)
from ._client_types import (
    SUPPORTED_VERSIONS,
    ClientState,
    Closed,
    ConnectionLost,
    Headers,
    HttpStatusError,
    Initialized,
    RequestFailed,
    SessionExpired,
    StreamProtocolError,
    _build,
    modern_error,
)
from ._errors import LocalProtocolError

__all__ = ["_SessionEra"]

ACCEPT_POST = b"application/json, text/event-stream"  # CLI-POST-02
ACCEPT_SSE = b"text/event-stream"  # CLI-GET-02
CONTENT_JSON = b"application/json"  # CLI-POST-09


class _SessionEra(_Machinery):
    """initialize, sessions, resumption by GET, the listening stream, DELETE, HTTP+SSE."""

    _probe_skipped = False  # era="auto" went straight to initialize on a cached "legacy"
    _legacy_endpoint_seen = False
    _listen_xid: int | None = None

    # -- requests built -------------------------------------------------------

    def _headers(self, *, post: bool, last_event_id: str = "") -> Headers:
        h: Headers = [(b"accept", ACCEPT_POST if post else ACCEPT_SSE)]
        if post:
            h.append((b"content-type", CONTENT_JSON))
        if self.state is not ClientState.LEGACY and self.state is not ClientState.PROBING_LEGACY:
            if self.session_id is not None:
                h.append((b"mcp-session-id", self.session_id.encode("latin-1")))  # CLI-SESS-01
            if self.protocol_version is not None:
                h.append((b"mcp-protocol-version", self.protocol_version.encode("ascii")))  # CLI-VER-01
        if last_event_id:
            h.append((b"last-event-id", last_event_id.encode("latin-1")))  # CLI-RESUME-01/02
        h.extend(self._extra)  # AUTH-01
        return h

    def _session_parts(self, p: _Pending) -> tuple[str, Headers, bytes]:
        return self._endpoint, self._headers(post=True), p.body

    def _send_message(self, body: bytes) -> int | None:
        """POST a notification or a response; its xid (None while queued for the session)."""
        if self.state in (ClientState.READY, ClientState.LEGACY):
            ex = self._new(NOTIFY)
            ex.message = body
            self._issue(ex, "POST", self._endpoint, self._headers(post=True), body)
            return ex.xid
        if self.state in (ClientState.INITIALIZING, ClientState.PROBING_LEGACY, ClientState.IDLE):
            self._queued.append(("message", body))
            return None
        raise LocalProtocolError(f"cannot send in state {self.state.name}")

    def _notify_cancelled(self, rid: int, reason: str) -> None:
        self._send_message(jsonrpc.encode_notification("notifications/cancelled",
                                                       {"requestId": rid, "reason": reason}))

    def _open_listen(self, last_event_id: str = "", attempts: int = 0, retry_ms: int | None = None) -> None:
        ex = self._new(GET_LISTEN)
        ex.attempts = attempts
        ex.retry_ms = retry_ms
        ex.last_event_id = last_event_id
        self._listen_xid = ex.xid
        self._issue(ex, "GET", self.config.url, self._headers(post=False, last_event_id=last_event_id), None, True)

    # -- the handshake ------------------------------------------------------------

    def _start_initialize(self, now: float, prev: _Pending | None = None) -> int:
        self.state = ClientState.INITIALIZING
        self.session_id = None
        self.protocol_version = None
        # a fallback from server/discover keeps its request id and deadline
        rid = next(self._ids) if prev is None else prev.id
        params = {"protocolVersion": self._legacy_version, "capabilities": self.config.capabilities,
                  "clientInfo": self.config.client_info}
        t = self.config.request_timeout
        deadline = (None if t is None else now + t) if prev is None else prev.deadline
        p = _Pending(rid, "initialize", params, deadline, True)
        self._pending[rid] = p
        self._init_id = rid
        if prev is None:
            self._deadline(p)
        self._post(p)
        return rid

    _legacy_version: str = ""

    def _initialized(self, p: _Pending, result: Any, error: Exception | None, now: float) -> None:
        version = result.get("protocolVersion") if isinstance(result, dict) else None
        if error is None and version not in SUPPORTED_VERSIONS:
            error = StreamProtocolError(f"server chose unsupported protocol version {version!r}")
        if error is not None:
            self._init_failed(error)
            self._events.append(_build(RequestFailed, rid=p.id, error=error))
            return
        assert isinstance(version, str) and isinstance(result, dict)
        self.protocol_version = version
        self.server_result = result
        self.state = ClientState.LEGACY if self._legacy_stream is not None else ClientState.READY
        self._ever_ready = True
        self._init_id = None
        self._send_message(jsonrpc.encode_notification("notifications/initialized"))
        self._events.append(_build(Initialized, session_id=self.session_id, protocol_version=version, result=result,
                                   legacy=self.state is ClientState.LEGACY, era="legacy"))
        queued, self._queued = self._queued, []
        for kind, item in queued:
            if kind == "request":
                q = self._pending.get(item)
                if q is not None:
                    self._post(q)
            elif kind == "notify":
                self._send_message(jsonrpc.encode_notification(*item))
            else:
                self._send_message(item)
        if self.era != "legacy" and self.config.era == "auto":
            self._era_cache.set(self.config.url, "legacy")
        self.era = "legacy"
        if self.config.listen and self.state is ClientState.READY and self.listening_supported:
            self._open_listen()

    def _init_failed(self, error: Exception) -> None:
        self.state = ClientState.FAILED
        self._init_error = error
        self._init_id = None
        for kind, item in self._queued:
            if kind == "request":
                q = self._pending.pop(item, None)
                if q is not None:
                    self._events.append(_build(RequestFailed, rid=item, error=error))
        self._queued.clear()

    # -- error statuses ----------------------------------------------------------------

    def _session_status_hook(self, ex: _Exchange, status: int, body: bytes, now: float) -> bool:
        """Statuses that change the session rather than fail a request; True when handled."""
        init = self._init_id in ex.rids
        if ex.kind == POST and init and self._probe_skipped and modern_error(body):
            # CLI-COMPAT-05: the cached "legacy" was wrong; probe the modern era again
            self._probe_skipped = False
            self._era_cache.forget(self.config.url)
            p = self._pending.get(self._init_id) if self._init_id is not None else None
            if p is not None:
                self._start_discover(now, p)
                return True
        if ex.kind == POST and init and self.config.legacy_fallback and not self._ever_ready \
                and self._legacy_stream is None and self._fallback_status(status):
            self._probe_legacy(ex, HttpStatusError(status, body))
            return True
        if ex.kind == GET_LISTEN:
            self._listen_xid = None
            if status == 405:
                self.listening_supported = False  # CLI-GET: no listening stream
            return True  # 404 and the rest: no listening stream for this session
        return ex.kind == NOTIFY  # nothing waits on a notification

    if TYPE_CHECKING:  # the modern part (_client_modern) defines it
        def _start_discover(self, now: float, prev: _Pending | None = None, version: str | None = None) -> int: ...

    def _fallback_status(self, status: int) -> bool:
        # CLI-COMPAT-02: any 4xx up to 2025-06-18; only 400/404/405 from 2025-11-25
        if self.config.protocol_version >= "2025-11-25":
            return status in (400, 404, 405)
        return 400 <= status < 500

    def _session_lost(self, ex: _Exchange, now: float) -> None:
        """CLI-SESS-02: a 404 to a request that carried our session id."""
        self._forget(ex.xid)
        old = self.session_id
        again = self.state is ClientState.INITIALIZING  # a re-initialization is already under way
        retry = []
        for rid in ex.rids:
            p = self._pending.get(rid)
            if p is None:
                continue
            if p.reinit_done:
                self._fail(rid, HttpStatusError(404, b"", "session expired again after re-initialization"), now)
            else:
                p.reinit_done = True
                retry.append(rid)
        if not again:
            for xid in list(self._exchanges):
                e = self._exchanges[xid]
                if e.kind in (GET_LISTEN, GET_RESUME):
                    retry.extend(r for r in e.rids if r in self._pending)
                    self._forget(xid)
            self._listen_xid = None
            self._events.append(_build(SessionExpired, session_id=old))
            self.stats["reinitializations"] += 1
            self._start_initialize(now)
        self._queued.extend(("request", rid) for rid in retry)
        if ex.message is not None and ex.kind == NOTIFY:
            self._queued.append(("message", ex.message))

    # -- broken streams ------------------------------------------------------------------

    def _session_broken_hook(self, ex: _Exchange, err: Exception, now: float, fatal: bool) -> bool:
        """Streams with a session-level meaning; True when handled."""
        if ex.kind == DELETE:
            self.state = ClientState.CLOSED
            self._events.append(_build(Closed))
            return True
        if ex.kind == LEGACY_GET:
            self._legacy_failed(ex, err)
            return True
        if ex.kind == GET_LISTEN:
            self._listen_xid = None
            if not fatal and self.state is ClientState.READY:
                self._reopen_listen(ex, now)
            return True
        return False

    def _reopen_listen(self, ex: _Exchange, now: float) -> None:
        attempts = 1 if ex.progress else ex.attempts + 1
        if attempts > self.config.max_reconnect_attempts:
            return
        lid, rms = ex.last_event_id, ex.retry_ms

        def reopen(n: float) -> None:
            if self.state is ClientState.READY and self._listen_xid is None:
                self.stats["listen_reconnects"] += 1
                self._open_listen(lid, attempts, rms)

        self._at(now + self._delay(ex.retry_ms, attempts), reopen)

    def _resume(self, ex: _Exchange, rids: list[int], err: Exception, now: float, fatal: bool) -> None:
        """CLI-SSE-01/02, CLI-SSE-05: GET + Last-Event-ID after a delay, or fail."""
        resumable_state = self.state is ClientState.READY or (
            self.state is ClientState.INITIALIZING and self.session_id is not None)
        if fatal or not ex.sse or not ex.last_event_id or not resumable_state:
            if ex.sse and not ex.last_event_id and not fatal:
                err = ConnectionLost("the response stream ended before the response, and no event id "
                                     "was seen to resume from (CLI-SSE-05)")
            for rid in rids:
                self._fail(rid, err, now)
            return
        # attempts: consecutive reconnections without progress, this one included
        attempts = 1 if ex.progress else ex.attempts + 1
        if attempts > self.config.max_reconnect_attempts:
            for rid in rids:
                self._fail(rid, ConnectionLost(f"gave up resuming the stream after {attempts - 1} attempts"), now)
            return
        nex = _Exchange(next(self._xids), GET_RESUME, set(rids))
        nex.last_event_id = ex.last_event_id
        nex.retry_ms = ex.retry_ms
        nex.attempts = attempts
        nex.sse = True  # a resumption: whatever breaks it is resumable again
        self._exchanges[nex.xid] = nex  # registered now, so the requests stay attached

        def resume(n: float) -> None:
            if self._exchanges.get(nex.xid) is not nex or not nex.rids:
                self._exchanges.pop(nex.xid, None)
                return
            nex.had_session = self.session_id is not None
            self.stats["resumptions"] += 1
            self._issue(nex, "GET", self.config.url, self._headers(post=False, last_event_id=nex.last_event_id),
                        None, True)

        self._at(now + self._delay(ex.retry_ms, attempts), resume)

    # -- legacy HTTP+SSE (2024-11-05) ---------------------------------------------------

    def _probe_legacy(self, ex: _Exchange, err: HttpStatusError) -> None:
        self.state = ClientState.PROBING_LEGACY
        self._init_error = err
        g = self._new(LEGACY_GET, set(ex.rids))
        self._legacy_stream = g.xid
        self._issue(g, "GET", self.config.url, self._headers(post=False), None, True)

    def _legacy_endpoint(self, data: str) -> None:
        if self.state is not ClientState.PROBING_LEGACY:
            return
        self._endpoint = urljoin(self.config.url, data.strip())  # L0-02
        p = self._pending.get(self._init_id) if self._init_id is not None else None
        self._legacy_endpoint_seen = True
        if p is not None:
            self._post(p)  # the result comes back on this GET stream (L0-04)

    def _legacy_failed(self, ex: _Exchange, err: Exception) -> None:
        self._forget(ex.xid)
        if self.state is ClientState.PROBING_LEGACY:
            first = self._init_error or err
            if self._init_id is not None:
                self._fail(self._init_id, first)
            return
        self._legacy_stream = None
        for rid in list(self._pending):
            self._fail(rid, ConnectionLost(f"the HTTP+SSE stream ended: {err}"))
        if self.state is ClientState.LEGACY:
            self.state = ClientState.FAILED
            self._init_error = ConnectionLost("the HTTP+SSE stream ended")


# the kinds a session-era status or break can concern (for readers of _client)
SESSION_KINDS = frozenset({POST, NOTIFY, GET_RESUME, GET_LISTEN, DELETE, LEGACY_GET})
assert MPOST not in SESSION_KINDS

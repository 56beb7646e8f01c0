"""The machinery both eras of the client share: exchanges, requests, timers, routing.

Theory of operation
-------------------
The client core never touches a socket or a clock. It drives *exchanges*
(``xid``): :meth:`data_to_send` hands the adapter :class:`HttpRequest` and
:class:`HttpAbort` items, the adapter performs them and reports back with
``receive_response`` / ``receive_data`` / ``receive_error`` (see ``_client``).
Each JSON-RPC request in flight (``rid``) is a :class:`_Pending`; each
exchange a :class:`_Exchange` that knows which requests wait on it.

The era parts (``_client_session``: session era and HTTP+SSE; ``_client_modern``:
2026-07-28) plug into three shared mechanisms here:

* :meth:`_post` builds and queues the POST of a request; the era supplies its
  URL, headers and body (:meth:`_session_parts` / :meth:`_modern_parts`);
* :meth:`_http_error` reads an error status once, lets the era recover each
  request (:meth:`_recover_status`) and fails the rest with the era's error;
* :meth:`_stream_broken` pops a broken stream and lets the era recover the
  requests that waited on it: resumption by GET + ``Last-Event-ID`` (session
  era) or re-issue under a new id (2026-07-28); both wait :meth:`_delay`.

An exchange the core gives up while the adapter still runs it is aborted
(:class:`HttpAbort`), so "report nothing more for it" always holds; reports
for an exchange that is not open are misuse (:class:`LocalProtocolError`).
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable

from . import jsonrpc
from ._client_types import (
    DEFAULT_ERA_CACHE,
    ClientConfig,
    ClientError,
    ClientState,
    Event,
    Headers,
    HttpAbort,
    HttpRequest,
    HttpStatusError,
    RequestFailed,
    RequestResult,
    RequestTimeout,
    ServerNotification,
    ServerRequest,
    StreamProtocolError,
    _build,
    error_of,
)
from ._errors import JsonRpcDecodeError, LocalProtocolError, McpError
from .sse import SseDecoder

__all__ = ["_Machinery", "_Pending", "_Exchange", "POST", "NOTIFY", "GET_RESUME", "GET_LISTEN", "DELETE",
           "LEGACY_GET", "MPOST"]

# exchange kinds
POST, NOTIFY, GET_RESUME, GET_LISTEN, DELETE, LEGACY_GET, MPOST = range(7)
#: how a request that waits for its session is queued: ("request", rid), ("message", body),
#: ("notify", (method, params))
Queued = tuple[str, Any]


class _Counter:
    """1, 2, 3, ... remembering the last value handed out (to tell issued ids from others)."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = 0

    def __iter__(self) -> "_Counter":
        return self

    def __next__(self) -> int:
        self.last += 1
        return self.last


class _Pending:
    """One JSON-RPC request in flight (``rid``), across its retries and rounds."""

    __slots__ = ("id", "method", "params", "deadline", "internal", "reinit_done", "body",
                 "modern", "wire", "reissues", "hdr_retry", "then", "version", "version_retry",
                 "base_params", "rounds", "awaiting", "request_state")

    def __init__(self, rid: int, method: str, params: Any, deadline: float | None, internal: bool) -> None:
        self.id = rid
        self.method = method
        self.params = params
        self.deadline = deadline
        self.internal = internal  # initialize, server/discover, a tools/list refresh
        self.reinit_done = False  # retried once in a new session (CLI-SESS-02)
        self.body = jsonrpc.encode_request(rid, method, params)  # the session-era body
        self.modern = False  # posted in the per-request era
        self.wire = rid  # the JSON-RPC id of its latest POST (changes on re-issue)
        self.reissues = 0  # consecutive re-issues (CLI-RESUME-09)
        self.hdr_retry = False  # retried once after a -32020 about Mcp-Param (CLI-HDR-05)
        self.then: int | None = None  # an internal tools/list: the call to retry afterwards
        self.version: str | None = None  # an internal server/discover: the version it offers
        self.version_retry = False  # retried once with a version from data.supported (CLI-VER-09)
        self.base_params = params  # MRTR: the caller's params, before inputResponses/requestState
        self.rounds = 0  # MRTR rounds so far (SEP-2322)
        self.awaiting: frozenset[str] | None = None  # MRTR: the input keys the caller must answer
        self.request_state: str | None = None  # MRTR: the server's opaque state, echoed byte-exact


class _Exchange:
    """One HTTP exchange (``xid``) and the requests that wait on it."""

    __slots__ = (
        "xid", "kind", "rids", "status", "sse", "body", "decoder", "last_event_id",
        "retry_ms", "attempts", "had_session", "message", "progress", "json",
    )

    def __init__(self, xid: int, kind: int, rids: set[int] | None = None) -> None:
        self.xid = xid
        self.kind = kind
        self.rids: set[int] = rids if rids is not None else set()
        self.status = 0
        self.sse = False
        self.body: bytearray | None = None
        self.decoder: SseDecoder | None = None
        self.last_event_id = ""
        self.retry_ms: int | None = None
        self.attempts = 0
        self.had_session = False
        self.message: bytes | None = None  # a notification/response body, for replay after 404
        self.progress = False  # this connection delivered a new event id
        self.json = False  # the reply is application/json


class _Machinery:
    """State and mechanisms shared by both eras; the era parts subclass it."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.state = ClientState.IDLE
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.server_result: dict[str, Any] | None = None
        self.listening_supported = True
        #: counters for observability and tests
        self.stats = {"resumptions": 0, "reinitializations": 0, "listen_reconnects": 0,
                      "reissues": 0, "tool_refreshes": 0, "fallbacks": 0}
        #: "legacy" or "modern" once known
        self.era: str | None = None
        self._extra: Headers = config.extra_headers()
        self._era_cache = config.era_cache if config.era_cache is not None else DEFAULT_ERA_CACHE
        self._endpoint = config.url  # where POSTs go (the L0 endpoint after fallback)
        self._ids = _Counter()  # rids and wire ids
        self._xids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._exchanges: dict[int, _Exchange] = {}
        self._open: set[int] = set()  # xids handed to the adapter and not yet ended or aborted
        self._aborting: set[int] = set()  # aborted, the HttpAbort not yet taken by data_to_send
        self._alias: dict[int, int] = {}  # wire id of a re-issued request -> its rid
        self._out: list[HttpRequest | HttpAbort] = []
        self._events: list[Event] = []
        self._queued: list[Queued] = []  # held until initialized
        self._server_requests: set[int | str] = set()  # ids of server requests not yet answered
        # a heap of (when, seq, fn, rid): rid set for request deadlines, which go stale
        # once the request completes and are dropped lazily (O(log n) each)
        self._timers: list[tuple[float, int, Callable[[float], None] | None, int | None]] = []
        self._timer_seq = itertools.count()
        self._init_id: int | None = None
        self._init_error: Exception | None = None
        self._ever_ready = False
        self._legacy_stream: int | None = None

    # -- era hooks (defined by the era parts) ---------------------------------

    def _session_parts(self, p: _Pending) -> tuple[str, Headers, bytes]:
        raise NotImplementedError

    def _modern_parts(self, p: _Pending) -> tuple[str, Headers, bytes]:
        raise NotImplementedError

    def _status_hook(self, ex: _Exchange, status: int, body: bytes, err: tuple[int, str, Any] | None,
                     now: float) -> bool:
        raise NotImplementedError

    def _recover_status(self, ex: _Exchange, p: _Pending, status: int, err: tuple[int, str, Any] | None,
                        now: float) -> bool:
        raise NotImplementedError

    def _broken_hook(self, ex: _Exchange, err: Exception, now: float, fatal: bool) -> bool:
        raise NotImplementedError

    def _resume(self, ex: _Exchange, rids: list[int], err: Exception, now: float, fatal: bool) -> None:
        raise NotImplementedError

    def _reissue(self, ex: _Exchange, rids: list[int], err: Exception, now: float, fatal: bool) -> None:
        raise NotImplementedError

    def _internal_done(self, p: _Pending, result: Any, error: Exception | None, now: float) -> None:
        raise NotImplementedError

    def _check_result(self, p: _Pending, result: Any) -> tuple[Any, Exception | None]:
        raise NotImplementedError

    def _input_required(self, p: _Pending, result: dict[str, Any], now: float) -> None:
        raise NotImplementedError

    def _init_failed(self, error: Exception) -> None:
        raise NotImplementedError

    # -- exchanges -------------------------------------------------------------

    def _new(self, kind: int, rids: set[int] | None = None) -> _Exchange:
        ex = _Exchange(next(self._xids), kind, rids)
        ex.had_session = self.session_id is not None and self.state is ClientState.READY
        self._exchanges[ex.xid] = ex
        return ex

    def _issue(self, ex: _Exchange, method: str, url: str, headers: Headers, body: bytes | None = None,
               streaming: bool = False) -> None:
        """Hand exchange ``ex`` to the adapter."""
        self._open.add(ex.xid)
        self._out.append(_build(HttpRequest, xid=ex.xid, method=method, url=url, headers=headers, body=body,
                                streaming=streaming))

    def _forget(self, xid: int) -> _Exchange | None:
        """Drop an exchange; abort it if the adapter still runs it."""
        ex = self._exchanges.pop(xid, None)
        if xid in self._open:
            self._open.discard(xid)
            self._aborting.add(xid)
            self._out.append(_build(HttpAbort, xid=xid))
        return ex

    def _exchange(self, xid: int) -> _Exchange | None:
        """The open exchange ``xid`` for a report from the adapter; None if the core already
        gave it up (an abort the adapter has not seen yet); misuse if never issued."""
        if type(xid) is not int:
            raise LocalProtocolError(f"exchange id must be an int, not {type(xid).__name__}")
        if xid in self._open:
            return self._exchanges.get(xid)
        if xid in self._aborting:
            return None  # the adapter has not seen the HttpAbort yet: its report is moot
        raise LocalProtocolError(f"unknown exchange {xid} (never issued, already ended, or aborted)")

    # -- posting (one mechanism, era-specific parts) ---------------------------

    def _post(self, p: _Pending, modern: bool = False) -> None:
        """POST request ``p`` in the current era (``modern``: in the per-request era regardless)."""
        if modern or self.state is ClientState.MODERN or p.modern:
            url, headers, body = self._modern_parts(p)
            kind = MPOST
        else:
            url, headers, body = self._session_parts(p)
            kind = POST
        ex = self._new(kind, {p.id})
        self._issue(ex, "POST", url, headers, body)

    # -- inbound JSON-RPC --------------------------------------------------------

    def _route_json(self, ex: _Exchange, body: bytes, now: float) -> None:
        try:
            parsed = jsonrpc.parse(body, allow_batch=True, max_body_size=max(len(body), 1))
        except JsonRpcDecodeError as exc:
            self._stream_broken(ex, StreamProtocolError(f"unreadable JSON-RPC from server: {exc}", status_hint=502),
                                now, fatal=True)
            return
        alias = self._alias
        modern = ex.kind == MPOST
        for m in parsed.messages:
            t = type(m)
            if t is jsonrpc.Response or t is jsonrpc.ErrorResponse:
                rid = alias.pop(m.id, m.id) if alias else m.id
                if modern:
                    ex.rids.discard(rid)  # answered here (it may live on as an MRTR round)
                if t is jsonrpc.Response:
                    self._complete(rid, m.result, None, now)
                else:
                    self._complete(rid, None, McpError(m.code, m.message, m.data), now)
            elif t is jsonrpc.Notification:
                self._notification(ex, m.method, m.params, modern)
            elif t is jsonrpc.Request:
                if modern:
                    continue  # R4 servers MUST NOT send requests on a response stream; nobody could answer
                self._server_requests.add(m.id)
                self._events.append(_build(ServerRequest, id=m.id, method=m.method, params=m.params))
            else:  # Invalid: a reply to one of ours fails that request; the rest is ignored
                if m.id is not None and m.id in self._pending:
                    self._complete(m.id, None, StreamProtocolError(f"invalid response: {m.message}"), now)

    def _notification(self, ex: _Exchange, method: str, params: Any, modern: bool) -> None:
        if not modern:
            self._events.append(_build(ServerNotification, method=method, params=params, rid=None))
            return
        rid = next(iter(ex.rids), None)
        ex.progress = True
        if method == "notifications/subscriptions/acknowledged" and rid is not None:
            p = self._pending.get(rid)
            if p is not None:
                p.reissues = 0  # CLI-SUB-06: an acknowledged listen starts its count again
        self._events.append(_build(ServerNotification, method=method, params=params, rid=rid))

    def _complete(self, rid: Any, result: Any, error: Exception | None, now: float) -> None:
        p = self._pending.pop(rid, None) if type(rid) is int else None
        if p is None:
            return  # late, cancelled or foreign: ignore
        if p.wire != rid:
            self._alias.pop(p.wire, None)
        self._drop_rid(rid, abort=False)
        if p.modern and error is None:
            result, error = self._check_result(p, result)
            if error is None and not p.internal and result.get("resultType") == "input_required":
                self._input_required(p, result, now)
                return
        if p.internal:
            self._internal_done(p, result, error, now)
        elif error is None:
            self._events.append(_build(RequestResult, rid=rid, result=result))
        else:
            self._events.append(_build(RequestFailed, rid=rid, error=error))

    def _fail(self, rid: int, error: Exception, now: float = 0.0) -> None:
        p = self._pending.pop(rid, None)
        if p is None:
            return
        if p.wire != rid:
            self._alias.pop(p.wire, None)
        self._drop_rid(rid, abort=False)
        if p.internal:
            self._internal_done(p, None, error, now)
            return
        self._events.append(_build(RequestFailed, rid=rid, error=error))

    def _drop_rid(self, rid: int, abort: bool = True) -> None:
        for ex in list(self._exchanges.values()):
            if rid in ex.rids:
                ex.rids.discard(rid)
                # a resumed stream has no other use; a POST stream is dropped only on request
                # (closing a modern request's stream is its cancellation: CANCEL-06)
                if not ex.rids and (ex.kind == GET_RESUME or abort and ex.kind in (POST, MPOST)):
                    self._forget(ex.xid)

    # -- failures (one mechanism each, era-specific recovery) --------------------

    def _http_error(self, ex: _Exchange, status: int, body: bytes, now: float) -> None:
        """An error status ended exchange ``ex``: recover what the era can, fail the rest."""
        self._forget(ex.xid)
        err = error_of(body)
        if self._status_hook(ex, status, body, err, now):
            return
        for rid in list(ex.rids):
            p = self._pending.get(rid)
            if p is None or self._recover_status(ex, p, status, err, now):
                continue
            if ex.kind == MPOST and err is not None:
                e: Exception = McpError(*err)
                e.http_status = status  # type: ignore[attr-defined]
            else:
                e = HttpStatusError(status, body)
            self._fail(rid, e, now)

    def _stream_broken(self, ex: _Exchange, err: Exception, now: float, fatal: bool = False) -> None:
        """A stream ended or broke: the era resumes or re-issues what waits on it."""
        self._forget(ex.xid)
        if self._broken_hook(ex, err, now, fatal):
            return
        rids = [r for r in ex.rids if r in self._pending]
        if not rids:
            return
        if ex.kind == MPOST:
            self._reissue(ex, rids, err, now, fatal)
        else:
            self._resume(ex, rids, err, now, fatal)

    def _delay(self, retry_ms: int | None, attempts: int) -> float:
        """The wait before reconnection ``attempts``: the server's ``retry`` (CLI-SSE-02), else
        exponential backoff with jitter."""
        if retry_ms is not None:
            return retry_ms / 1000.0
        c = self.config
        base = min(c.backoff_max, c.backoff_initial * c.backoff_factor ** max(0, attempts - 1))
        return float(base * (0.5 + 0.5 * c.jitter()))

    # -- time ----------------------------------------------------------------------

    def _at(self, when: float, fn: Callable[[float], None] | None, rid: int | None = None) -> None:
        heapq.heappush(self._timers, (when, next(self._timer_seq), fn, rid))

    def _deadline(self, p: _Pending) -> None:
        if p.deadline is not None:
            self._at(p.deadline, None, p.id)

    def _expire(self, rid: int, now: float) -> None:
        p = self._pending.get(rid)
        if p is None:
            return
        self._drop_rid(rid)  # abandon its stream first (the request is still known)
        self._fail(rid, RequestTimeout(f"{p.method}: no response within the timeout"), now)
        if self.state in (ClientState.READY, ClientState.LEGACY) and not p.internal:
            self._notify_cancelled(rid, "timeout")

    def _notify_cancelled(self, rid: int, reason: str) -> None:
        raise NotImplementedError

    def _fail_all(self, error: ClientError) -> None:
        for rid in list(self._pending):
            self._fail(rid, error)


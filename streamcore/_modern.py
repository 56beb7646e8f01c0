"""The per-request era (protocol 2026-07-28, "R4") of the Streamable HTTP server, sans-IO.

Theory of operation
===================

R4 has no session, no handshake, no GET stream and no resumption (spec 1.1,
1.2 "R3 -> R4"). Every POST stands alone: its headers and body were already
checked by :func:`streamcore._era.classify`, and :class:`ModernEndpoint`
serves the message it carries. State lives only as long as one exchange
(EP-07): the request's id, how it is being answered, and a cancel-on-close
hook.

It speaks the same events as the session-era core (``streamcore._events``):
:class:`ResponseHead`, :class:`ResponseData`, :class:`ResponseEnd` for an
exchange ``xid``, and :class:`RequestReceived`, :class:`NotificationReceived`,
:class:`RequestCancelled` for the application, plus two of its own,
:class:`SubscriptionOpened` and :class:`SubscriptionClosed`. Events go to the
``emit`` callback (the dual-era ``Server`` passes its own queue's
``append``), or, without one, to an internal queue read by ``next_event()``.

A request, step by step
-----------------------
* ``post(xid, message, ...)``: a notification gets 202 (SRV-POST-01); a
  response 400 (SRV-POST-07); ``subscriptions/listen`` opens a listen stream
  (below); any other request becomes :class:`RequestReceived` with a fresh
  ``handle``.
* The reply format is chosen lazily. Nothing is written until the
  application produces output: if the answer comes first, it goes out as one
  ``application/json`` body; if a related notification comes first
  (``notify(handle, ...)``, e.g. progress), an SSE stream starts and the
  answer ends it (SRV-SSE-03, SRV-SSE-07). ``reply_mode="sse"`` starts the
  stream at once (keep-alives flow during long work); ``"json"`` never streams
  and drops related notifications.
* Errors map to HTTP statuses while no SSE stream has started: ``-32601``
  gives **404** (SRV-VER-08: the application decides a method is unknown by
  answering ``-32601``), ``-32020``/``-32021``/``-32022`` give 400
  (SRV-VER-11, spec 5.2), anything else 200. On a started stream the error is
  just the last event.
* Every result carries ``resultType`` (spec 5.2, schema ``Result``): the
  endpoint adds ``"resultType": "complete"`` to a ``dict`` result that lacks
  it (a copy; the caller's dict is not touched), turns ``None`` into
  ``{"resultType": "complete"}``, and splices the member into a ``RawJson``
  object whose text does not contain ``"resultType"`` anywhere. A RawJson
  that mentions ``"resultType"`` somewhere is trusted as is.
* ``connection_lost(xid)`` before the answer **is** cancellation (CANCEL-06,
  AMB-09, for JSON replies too): the application gets
  :class:`RequestCancelled` (reason ``"disconnected"``) and nothing more is
  written for that request; a late ``respond`` or ``notify`` is ignored
  (CANCEL-05).

Listen streams (``subscriptions/listen``, spec 2.13)
-----------------------------------------------------
The endpoint answers a listen itself: an SSE head, then
``notifications/subscriptions/acknowledged`` as the first message with
``_meta["io.modelcontextprotocol/subscriptionId"]`` = the request id and the
subset of the filter the server honours (``ModernConfig.listen_support``)
(SRV-SUB-02). The application hears :class:`SubscriptionOpened`.
``publish(method, params)`` fans a change notification out to every listen
whose filter asked for it (SRV-SUB-01), with the subscription id in ``_meta``
(SRV-SUB-03). ``close_listen(handle)`` (or ``close_all_listens``) ends a
stream gracefully with the completion result ``{"resultType": "complete",
"_meta": {subscriptionId}}`` (SRV-SUB-04, AMB-10). The client closing the
stream ends the subscription: :class:`SubscriptionClosed` (reason
``"disconnected"``).

Each listen stream has a bounded queue used while its connection cannot take
more (``pause_writing(xid)`` / ``resume_writing(xid)``, called by the
adapter from its transport's flow control). A notification identical to one
already queued is not queued twice (list-changed notifications are
idempotent). When the queue would exceed ``max_listen_queue_bytes`` the
stream is closed without a result: the client sees an unexpected disconnect
and MAY listen again (CLI-SUB-06); the application hears
``SubscriptionClosed(reason="overflow")``.

Timers: ``get_timer()`` / ``handle_timer(now)`` send SSE comment keep-alives
on quiet streams (SRV-SSE-12).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from . import jsonrpc as _jr
from . import sse as _sse
from ._era import Verdict, error_response
from ._protocol import (
    HEADER_MISMATCH,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    REMOVED_METHODS,
    SUBSCRIPTION_ID,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from ._results import complete_result_for_era, discover_result
from ._versions import MODERN_VERSIONS
from ._errors import LocalProtocolError
from ._events import (
    AppEvent,
    Event,
    NotificationReceived,
    RequestCancelled,
    RequestReceived,
    ResponseData,
    ResponseEnd,
    ResponseHead,
)

__all__ = [
    "ModernEndpoint",
    "ModernConfig",
    "ListenSupport",
    "SubscriptionOpened",
    "SubscriptionClosed",
    "discover_result",
    "http_status_for_error",
    "SUBSCRIPTION_ID",
    "LISTEN_FILTERS",
    "DEFAULT_MAX_LISTEN_QUEUE_BYTES",
    "DEFAULT_MAX_LISTENS",
]

#: Notification method -> the filter field that opts in to it (schema ``SubscriptionFilter``).
LISTEN_FILTERS: Mapping[str, str] = {
    "notifications/tools/list_changed": "toolsListChanged",
    "notifications/prompts/list_changed": "promptsListChanged",
    "notifications/resources/list_changed": "resourcesListChanged",
    "notifications/resources/updated": "resourceSubscriptions",
}
# Methods that only ever travel on a listen stream, never on a request's.
_LISTEN_ONLY = frozenset(LISTEN_FILTERS) | {"notifications/subscriptions/acknowledged"}

#: Bytes a listen stream may hold while its connection is paused. 1 MiB,
#: the session-era core's bound for undeliverable messages (AMB-14).
DEFAULT_MAX_LISTEN_QUEUE_BYTES = 1024 * 1024
#: Concurrent listen streams; the next listen gets an error (-32000, HTTP 503).
DEFAULT_MAX_LISTENS = 10_000
#: Seconds of silence before an SSE comment keep-alive (WHATWG 9.2.7: ~15 s).
DEFAULT_HEARTBEAT_INTERVAL = 15.0

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),  # HTTP-07
    (b"x-accel-buffering", b"no"),  # SRV-SSE-11
]


@dataclass(frozen=True, slots=True)
class SubscriptionOpened(AppEvent):
    """A ``subscriptions/listen`` stream is open and acknowledged.

    ``handle`` names it in ``close_listen``; ``subscription_id`` is the listen
    request's JSON-RPC id; ``filter`` is the acknowledged subset.
    """

    handle: int
    subscription_id: Any
    filter: dict
    protocol_version: str
    identity: Any = None


@dataclass(frozen=True, slots=True)
class SubscriptionClosed(AppEvent):
    """A listen stream ended: ``reason`` is ``"disconnected"`` (the client
    closed it), ``"closed"`` (``close_listen``) or ``"overflow"`` (its queue
    overflowed while paused)."""

    handle: int
    subscription_id: Any
    reason: str


@dataclass(frozen=True, slots=True)
class ListenSupport:
    """Which listen filter fields this server honours (the acknowledgment's subset)."""

    tools_list_changed: bool = True
    prompts_list_changed: bool = True
    resources_list_changed: bool = True
    resource_subscriptions: bool = True

    def grant(self, requested: Mapping[str, Any]) -> dict:
        """The acknowledged filter: what was requested and is supported, in valid form."""
        out: dict = {}
        for key, on in (("toolsListChanged", self.tools_list_changed),
                        ("promptsListChanged", self.prompts_list_changed),
                        ("resourcesListChanged", self.resources_list_changed)):
            if on and requested.get(key) is True:
                out[key] = True
        uris = requested.get("resourceSubscriptions")
        if self.resource_subscriptions and isinstance(uris, list):
            kept = [u for u in uris if isinstance(u, str)]
            if kept:
                out["resourceSubscriptions"] = kept
        return out


@dataclass(slots=True)
class ModernConfig:
    """Knobs of :class:`ModernEndpoint`.

    ``reply_mode``: ``"auto"`` (JSON unless a related notification comes
    first), ``"sse"`` (always stream) or ``"json"`` (never stream).
    ``add_result_type``: add ``resultType: "complete"`` when missing (see the
    module docstring). ``omit_null_id``: AMB-03.
    """

    supported_versions: tuple[str, ...] = MODERN_VERSIONS
    reply_mode: str = "auto"
    heartbeat_interval: float | None = DEFAULT_HEARTBEAT_INTERVAL
    listen_support: ListenSupport = field(default_factory=ListenSupport)
    max_listen_queue_bytes: int = DEFAULT_MAX_LISTEN_QUEUE_BYTES
    max_listens: int = DEFAULT_MAX_LISTENS
    add_result_type: bool = True
    omit_null_id: bool = False
    #: Extra notification method -> filter field, for extensions' listen types.
    extra_listen_filters: Mapping[str, str] = field(default_factory=dict)
    #: A prepared ``server/discover`` result: when set, the endpoint answers
    #: ``server/discover`` itself (SRV-VER-10) and the application never sees it.
    discover: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.reply_mode not in ("auto", "sse", "json"):
            raise LocalProtocolError("reply_mode is 'auto', 'sse' or 'json'")
        if self.max_listen_queue_bytes < 0 or self.max_listens < 0:
            raise LocalProtocolError("limits must be >= 0")


class _S(enum.Enum):
    WAITING = "WAITING"  # no byte written yet (JSON still possible)
    STREAMING = "STREAMING"  # SSE head written
    DONE = "DONE"


class _Call:
    """One request the application is working on."""

    __slots__ = ("handle", "xid", "request_id", "method", "version", "state", "last_write")

    def __init__(self, handle: int, xid: int, request_id: Any, method: str, version: str) -> None:
        self.handle = handle
        self.xid = xid
        self.request_id = request_id
        self.method = method
        self.version = version
        self.state = _S.WAITING
        self.last_write = 0.0


class _Listen:
    """One ``subscriptions/listen`` stream."""

    __slots__ = (
        "handle", "xid", "sub_id", "sub_id_json", "filter", "uris", "identity",
        "paused", "queue", "queued", "last_write",
    )

    def __init__(self, handle: int, xid: int, sub_id: Any, granted: dict, identity: Any) -> None:
        self.handle = handle
        self.xid = xid
        self.sub_id = sub_id
        # The id as JSON, spliced into every notification's _meta.
        self.sub_id_json = _jr.encode_result(sub_id, None)[len(b'{"jsonrpc":"2.0","id":'):-len(b',"result":null}')]
        self.filter = granted
        self.uris = frozenset(granted.get("resourceSubscriptions", ()))
        self.identity = identity
        self.paused = False
        self.queue: deque[bytes] = deque()
        self.queued = 0
        self.last_write = 0.0

    def wants(self, method: str, field_name: str, params: Any) -> bool:
        if field_name == "resourceSubscriptions":
            uri = params.get("uri") if isinstance(params, dict) else None
            return uri in self.uris
        return self.filter.get(field_name) is True


def http_status_for_error(code: int) -> int:
    """The HTTP status of a JSON-RPC error sent as a JSON reply in R4.

    ``-32601`` -> 404 (SRV-VER-08); ``-32020``, ``-32021``, ``-32022`` -> 400
    (spec 5.2, SRV-VER-11); anything else 200 (a JSON-RPC error is a normal
    reply).
    """
    if code == _jr.METHOD_NOT_FOUND:
        return 404
    if code in (HEADER_MISMATCH, MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION):
        return 400
    return 200


class ModernEndpoint:
    """Serves classified 2026-07-28 POSTs (see the module docstring)."""

    def __init__(
        self,
        config: ModernConfig | None = None,
        *,
        emit: Callable[[Event], None] | None = None,
        new_handle: Callable[[], int] | None = None,
    ) -> None:
        self.config = config or ModernConfig()
        self._queue: deque[Event] = deque()
        self._emit = emit if emit is not None else self._queue.append
        self._next = 1
        self._new_handle = new_handle if new_handle is not None else self._own_handle
        self._calls: dict[int, _Call] = {}  # handle -> call
        self._listens: dict[int, _Listen] = {}  # handle -> listen
        self._by_xid: dict[int, _Call | _Listen] = {}
        self._filters = dict(LISTEN_FILTERS)
        self._filters.update(self.config.extra_listen_filters)
        self._wake: float | None = None  # see get_timer

    def _own_handle(self) -> int:
        h = self._next
        self._next += 1
        return h

    # -- queries -------------------------------------------------------------

    def next_event(self) -> Event | None:
        """The next event when no ``emit`` callback was given, else always None."""
        return self._queue.popleft() if self._queue else None

    def owns(self, handle: int) -> bool:
        """Whether ``handle`` is a request or listen of this endpoint."""
        return handle in self._calls or handle in self._listens

    def owns_xid(self, xid: int) -> bool:
        """Whether exchange ``xid`` is being answered by this endpoint."""
        return xid in self._by_xid

    @property
    def listens(self) -> int:
        """Open listen streams."""
        return len(self._listens)

    @property
    def in_flight(self) -> int:
        """Requests awaiting an answer."""
        return len(self._calls)

    # -- input -----------------------------------------------------------------

    def reject(self, xid: int, verdict: Verdict) -> None:
        """Answer exchange ``xid`` with a rejected verdict's status and error (never a session id)."""
        status, headers, body = error_response(verdict, omit_null_id=self.config.omit_null_id)
        self._emit(ResponseHead(xid, status, headers))
        self._emit(ResponseData(xid, body))
        self._emit(ResponseEnd(xid))

    def method_not_allowed(self, xid: int) -> None:
        """405 with ``Allow: POST``, for GET/DELETE on a modern-only endpoint (SRV-COMPAT-06, SRV-GET-08)."""
        self._error_reply(xid, 405, None, -32000, "Method not allowed", extra=[(b"allow", b"POST")])

    def post(self, xid: int, message: Any, *, protocol_version: str, identity: Any = None, now: float) -> int | None:
        """Serve one classified modern POST carrying ``message``; returns the handle, if any.

        ``message`` is the ``jsonrpc`` message object (``Verdict.message_obj``).
        Request headers play no further part: ``Mcp-Session-Id`` and
        ``Last-Event-ID`` are ignored (SRV-COMPAT-06, SRV-SESS-08, SRV-RESUME-08).
        """
        t = type(message)
        if t is _jr.Notification:
            self._emit(ResponseHead(xid, 202, [(b"content-length", b"0")]))  # SRV-POST-01, HTTP-02
            self._emit(ResponseEnd(xid))
            self._emit(NotificationReceived(message, None, protocol_version, identity))
            return None
        if t is _jr.Response or t is _jr.ErrorResponse:  # SRV-POST-07
            self._error_reply(xid, 400, None, _jr.INVALID_REQUEST, "Invalid Request: a client never sends responses")
            return None
        if t is not _jr.Request:
            code = getattr(message, "code", _jr.INVALID_REQUEST)
            text = getattr(message, "message", "Invalid Request")
            self._error_reply(xid, 400, getattr(message, "id", None), code, text)
            return None
        if message.method == "subscriptions/listen":
            return self._listen(xid, message, protocol_version, identity, now)
        if message.method in REMOVED_METHODS:
            # sep-2575-http-server-method-not-found-404-*: the handshake, ping and
            # the session-scoped utilities do not exist in this era (SRV-VER-08).
            self._error_reply(xid, 404, message.id, _jr.METHOD_NOT_FOUND,
                              f"Method not found: {message.method} is not part of {protocol_version}")
            return None
        if message.method == "server/discover" and self.config.discover is not None:
            body = _jr.encode_result(message.id, dict(self.config.discover))
            self._json(xid, 200, body)
            return None
        handle = self._new_handle()
        call = _Call(handle, xid, message.id, message.method, protocol_version)
        self._calls[handle] = call
        self._by_xid[xid] = call
        if self.config.reply_mode == "sse":
            self._start_sse(call, now)
        self._emit(RequestReceived(handle, message, None, protocol_version, identity))
        return handle

    def connection_lost(self, xid: int, now: float) -> None:
        """The client closed exchange ``xid``: cancellation (CANCEL-06, AMB-09). Unknown xids are ignored."""
        entry = self._by_xid.pop(xid, None)
        if entry is None:
            return
        if isinstance(entry, _Call):
            self._calls.pop(entry.handle, None)
            entry.state = _S.DONE
            self._emit(RequestCancelled(entry.handle, "disconnected"))
        else:
            self._listens.pop(entry.handle, None)
            entry.queue.clear()
            self._emit(SubscriptionClosed(entry.handle, entry.sub_id, "disconnected"))

    def pause_writing(self, xid: int) -> None:
        """The adapter's write buffer for ``xid`` is full: queue listen output (bounded)."""
        entry = self._by_xid.get(xid)
        if type(entry) is _Listen:
            entry.paused = True

    def resume_writing(self, xid: int, now: float) -> None:
        """The adapter can write ``xid`` again: flush what its listen stream queued."""
        entry = self._by_xid.get(xid)
        if type(entry) is _Listen and entry.paused:
            entry.paused = False
            if entry.queue:
                data = b"".join(entry.queue)
                entry.queue.clear()
                entry.queued = 0
                self._write_listen(entry, data, now)

    # -- application API -----------------------------------------------------------

    def respond(
        self, handle: int, result: Any = None, *,
        error: tuple[int, str] | tuple[int, str, Any] | None = None, now: float,
    ) -> None:
        """Answer request ``handle`` with ``result`` or ``error=(code, message[, data])``.

        As JSON if nothing was written yet (then ``-32601`` is HTTP 404), else as
        the stream's last event. A cancelled or unknown handle is ignored
        (CANCEL-05). Listens are ended with :meth:`close_listen`, not here.
        """
        if handle in self._listens:
            raise LocalProtocolError("a listen stream is ended with close_listen()")
        call = self._calls.pop(handle, None)
        if call is None:
            return
        self._by_xid.pop(call.xid, None)
        if error is not None:
            code, text = error[0], error[1]
            data = _jr.encode_error(call.request_id, code, text, error[2] if len(error) > 2 else None)
            status = http_status_for_error(code)
        else:
            if self.config.add_result_type:
                result = complete_result_for_era(call.method, result, call.version)
            data = _jr.encode_result(call.request_id, result)
            status = 200
        if call.state is _S.WAITING:
            self._json(call.xid, status, data)
        else:
            self._emit(ResponseData(call.xid, _sse.encode_event(data)))
            self._emit(ResponseEnd(call.xid))  # SRV-SSE-07: the response ends the stream
        call.state = _S.DONE

    def notify(self, handle: int, method: str, params: Any = None, *, now: float) -> bool:
        """A notification related to request ``handle`` (progress, log) on its stream (SRV-SSE-03).

        Starts the SSE stream if the reply was still undecided. Returns False
        when nothing was sent: the request is finished, cancelled or unknown
        (CANCEL-06: nothing more after a cancel), or ``reply_mode`` is
        ``"json"``. There is no way to send a request (SRV-SSE-04), and
        listen-only notification types are refused here (SRV-SUB-05's mirror).
        """
        if method in _LISTEN_ONLY or method in self._filters:
            raise LocalProtocolError(f"{method} goes on listen streams: use publish()")
        call = self._calls.get(handle)
        if call is None:
            return False
        if call.state is _S.WAITING:
            if self.config.reply_mode == "json":
                return False
            self._start_sse(call, now)
        call.last_write = now
        self._emit(ResponseData(call.xid, _sse.encode_event(_jr.encode_notification(method, params))))
        return True

    def publish(
        self, method: str, params: Any = None, *, now: float,
        to: Callable[[Any], bool] | None = None,
    ) -> int:
        """Fan a change notification out to the listens that asked for it (SRV-SUB-01, SRV-SUB-03).

        ``method`` is one of :data:`LISTEN_FILTERS` (or an extra filter from
        the config); ``notifications/resources/updated`` reaches the listens
        whose ``resourceSubscriptions`` contain ``params["uri"]`` exactly.
        ``to(identity)`` optionally narrows the audience (multi-tenant servers).
        Returns how many streams got it (or queued it).
        """
        field_name = self._filters.get(method)
        if field_name is None:
            raise LocalProtocolError(f"{method} is not a listen notification type (SRV-SUB-01, SRV-SUB-05)")
        if params is not None and not isinstance(params, dict):
            raise LocalProtocolError("notification params must be a dict")
        # Encode once: everything but the per-stream subscription id. The id
        # is spliced in as the first member of params, so a thousand listens
        # cost one json encode plus a thousand byte joins. Params with their
        # own _meta take the slow path (a merged dict per stream).
        has_meta = params is not None and "_meta" in params
        if not has_meta:
            rest = _jr.encode_notification(method, params or {})  # {"jsonrpc":"2.0","method":M,"params":{...}}
            # The first ',"params":{' is the message's own: before it come only
            # "jsonrpc" and the method string, where a raw '"' cannot occur.
            head, _, tail = rest.partition(b',"params":{')
            tail = tail[:-1]  # params members + "}" of params, without the message's closing brace
            sep = b"," if tail != b"}" else b""
        sent = 0
        for listen in list(self._listens.values()):
            if not listen.wants(method, field_name, params):
                continue
            if to is not None and not to(listen.identity):
                continue
            if has_meta:
                p = dict(params or {})
                p["_meta"] = dict(p["_meta"], **{SUBSCRIPTION_ID: listen.sub_id})
                data = _jr.encode_notification(method, p)
            else:
                data = (head + b',"params":{"_meta":{"' + SUBSCRIPTION_ID.encode() + b'":'
                        + listen.sub_id_json + b"}" + sep + tail + b"}")
            if self._send_listen(listen, _sse.encode_event(data), now):
                sent += 1
        return sent

    def close_listen(self, handle: int, *, now: float) -> bool:
        """End a listen stream gracefully: the completion result, then the end (SRV-SUB-04, AMB-10).

        Returns False if no such listen is open.
        """
        listen = self._listens.pop(handle, None)
        if listen is None:
            return False
        self._by_xid.pop(listen.xid, None)
        result = {"resultType": "complete", "_meta": {SUBSCRIPTION_ID: listen.sub_id}}
        data = _sse.encode_event(_jr.encode_result(listen.sub_id, result))
        if listen.queue:  # deliver what was queued first: order is kept
            data = b"".join(listen.queue) + data
            listen.queue.clear()
        self._emit(ResponseData(listen.xid, data))
        self._emit(ResponseEnd(listen.xid))
        self._emit(SubscriptionClosed(handle, listen.sub_id, "closed"))
        return True

    def close_all_listens(self, *, now: float) -> int:
        """``close_listen`` every open listen (server shutdown); returns how many."""
        handles = list(self._listens)
        for h in handles:
            self.close_listen(h, now=now)
        return len(handles)

    # -- timers ------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must next run (a keep-alive may be due), or None.

        O(1), as the server asks after every drain: the value may be early
        (traffic has since pushed a deadline back), never late; an early
        ``handle_timer`` finds nothing due and recomputes it.
        """
        return self._wake

    def _schedule(self, last_write: float) -> None:
        hb = self.config.heartbeat_interval
        if hb is not None and (self._wake is None or last_write + hb < self._wake):
            self._wake = last_write + hb

    def handle_timer(self, now: float) -> None:
        """Send an SSE comment on every stream silent for ``heartbeat_interval`` (SRV-SSE-12)."""
        hb = self.config.heartbeat_interval
        if hb is None:
            return
        wake: float | None = None
        for entry in list(self._by_xid.values()):
            if type(entry) is _Call and entry.state is not _S.STREAMING:
                continue
            if entry.last_write + hb <= now:
                if not (type(entry) is _Listen and entry.paused):
                    self._emit(ResponseData(entry.xid, _sse.encode_comment()))
                # a paused stream needs no keep-alive now; either way its clock restarts
                entry.last_write = now
            t = entry.last_write + hb
            if wake is None or t < wake:
                wake = t
        self._wake = wake

    # -- internals -------------------------------------------------------------------

    def _listen(self, xid: int, message: Any, protocol_version: str, identity: Any, now: float) -> int | None:
        params = message.params if type(message.params) is dict else {}
        requested = params.get("notifications")
        if not isinstance(requested, dict):
            self._error_reply(xid, 200, message.id, _jr.INVALID_PARAMS,
                              'Invalid params: subscriptions/listen needs a "notifications" filter object')
            return None
        if len(self._listens) >= self.config.max_listens:
            self._error_reply(xid, 503, message.id, -32000, "Too many subscriptions", extra=[(b"retry-after", b"1")])
            return None
        granted = self.config.listen_support.grant(requested)
        handle = self._new_handle()
        listen = _Listen(handle, xid, message.id, granted, identity)
        self._listens[handle] = listen
        self._by_xid[xid] = listen
        self._emit(ResponseHead(xid, 200, list(_SSE_HEADERS), True))
        # SRV-SUB-02: the acknowledgment is the first message on the stream.
        ack = _jr.encode_notification(
            "notifications/subscriptions/acknowledged",
            {"_meta": {SUBSCRIPTION_ID: message.id}, "notifications": granted},
        )
        listen.last_write = now
        self._schedule(now)
        self._emit(ResponseData(xid, _sse.encode_event(ack)))
        self._emit(SubscriptionOpened(handle, message.id, granted, protocol_version, identity))
        return handle

    def _send_listen(self, listen: _Listen, event: bytes, now: float) -> bool:
        if not listen.paused:
            self._write_listen(listen, event, now)
            return True
        if event in listen.queue:
            return True  # the same notification is already waiting (idempotent)
        if listen.queued + len(event) > self.config.max_listen_queue_bytes:
            self._overflow(listen)
            return False
        listen.queue.append(event)
        listen.queued += len(event)
        return True

    def _write_listen(self, listen: _Listen, data: bytes, now: float) -> None:
        listen.last_write = now
        self._emit(ResponseData(listen.xid, data))

    def _overflow(self, listen: _Listen) -> None:
        # No completion result: the client sees an abrupt end and MAY listen
        # again (CLI-SUB-06). close=True: the connection is stuck anyway.
        self._listens.pop(listen.handle, None)
        self._by_xid.pop(listen.xid, None)
        listen.queue.clear()
        self._emit(ResponseEnd(listen.xid, True))
        self._emit(SubscriptionClosed(listen.handle, listen.sub_id, "overflow"))

    def _start_sse(self, call: _Call, now: float) -> None:
        call.state = _S.STREAMING
        call.last_write = now
        self._schedule(now)
        self._emit(ResponseHead(call.xid, 200, list(_SSE_HEADERS), True))

    def _json(self, xid: int, status: int, body: bytes) -> None:
        self._emit(ResponseHead(xid, status, [(b"content-type", b"application/json"),
                                              (b"content-length", b"%d" % len(body))]))
        self._emit(ResponseData(xid, body))
        self._emit(ResponseEnd(xid))

    def _error_reply(
        self, xid: int, status: int, rid: Any, code: int, text: str,
        *, extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        body = _jr.encode_error(rid, code, text, omit_null_id=self.config.omit_null_id)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        if extra:
            headers.extend(extra)
        self._emit(ResponseHead(xid, status, headers))
        self._emit(ResponseData(xid, body))
        self._emit(ResponseEnd(xid))

"""The per-request era (protocol 2026-07-28, "R4") of the Streamable HTTP server, sans-IO.

Theory of operation
===================

R4 has no session, no handshake, no GET stream and no resumption (spec 1.1,
1.2 "R3 -> R4"). Every POST stands alone: its headers and body were already
checked by :func:`streamcore._era.classify`, and :class:`ModernEndpoint`
serves the message it carries. State lives only as long as one exchange
(EP-07): the request's id, how it is being answered, and a cancel-on-close
hook.

It writes through the :class:`~streamcore._toolkit.Kit` the endpoint lends
it (the same replies, SSE heads and keep-alives as the session era) and
speaks the same events, plus :class:`SubscriptionOpened` and
:class:`SubscriptionClosed`.

A request, step by step
-----------------------
* ``post(xid, message, ...)``: a notification gets 202 (SRV-POST-01); a
  response 400 (SRV-POST-07); ``subscriptions/listen`` opens a listen stream
  (below); a method this era removed (``initialize``, ``ping``, ...) gets
  404 -32601; ``server/discover`` is answered from declared server info when
  there is some; any other request becomes :class:`RequestReceived` with a
  fresh ``rid``.
* The reply format is chosen lazily. Nothing is written until the
  application produces output: if the answer comes first, it goes out as one
  ``application/json`` body; if a related notification comes first
  (``notify(rid, ...)``, e.g. progress), an SSE stream starts and the
  answer ends it (SRV-SSE-03, SRV-SSE-07). ``reply_mode="sse"`` starts the
  stream at once (keep-alives flow during long work); ``"json"`` never streams
  and drops related notifications.
* Errors map to HTTP statuses while no SSE stream has started: ``-32601``
  gives **404** (SRV-VER-08: the application decides a method is unknown by
  answering ``-32601``), ``-32020``/``-32021``/``-32022`` give 400
  (SRV-VER-11, spec 5.2), anything else 200. On a started stream the error is
  just the last event.
* Every result is completed for the era (:mod:`streamcore._results`):
  ``resultType`` always, ``ttlMs``/``cacheScope`` on cacheable results.
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
(SRV-SUB-03). ``close_listen(rid)`` (or ``close_all_listens``) ends a
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

Keep-alives on quiet streams (SRV-SSE-12) come from the shared
:class:`~streamcore._toolkit.Heartbeats`; a paused listen gets none.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Mapping

from . import jsonrpc as _jr
from . import sse as _sse
from ._config import LISTEN_FILTERS, ModernConfig
from ._era import Verdict, error_response
from ._errors import LocalProtocolError
from ._events import NotificationReceived, RequestCancelled, RequestReceived, SubscriptionClosed, SubscriptionOpened
from ._protocol import (
    HEADER_MISMATCH,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    REMOVED_METHODS,
    SUBSCRIPTION_ID,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from ._results import complete_result_for_era
from ._states import LISTEN, ListenInput, ListenState, XInput, XState, step
from ._toolkit import Exchange, Kit

__all__ = ["PerRequestCore", "http_status_for_error"]

# Methods that only ever travel on a listen stream, never on a request's.
_LISTEN_ONLY = frozenset(LISTEN_FILTERS) | {"notifications/subscriptions/acknowledged"}


class _Call:
    """One request the application is working on."""

    __slots__ = ("rid", "x", "request_id", "method", "version")

    def __init__(self, rid: int, x: Exchange, request_id: Any, method: str, version: str) -> None:
        self.rid = rid
        self.x = x
        self.request_id = request_id
        self.method = method
        self.version = version


class _Listen:
    """One ``subscriptions/listen`` stream."""

    __slots__ = ("rid", "x", "sub_id", "sub_id_json", "filter", "uris", "identity", "state", "queue", "queued")

    def __init__(self, rid: int, x: Exchange, sub_id: Any, granted: dict[str, Any], identity: Any) -> None:
        self.rid = rid
        self.x = x
        self.sub_id = sub_id
        # The id as JSON, spliced into every notification's _meta.
        self.sub_id_json = _jr.encode_result(sub_id, None)[len(b'{"jsonrpc":"2.0","id":'):-len(b',"result":null}')]
        self.filter = granted
        self.uris = frozenset(granted.get("resourceSubscriptions", ()))
        self.identity = identity
        self.state = ListenState.OPEN
        self.queue: deque[bytes] = deque()
        self.queued = 0

    def move(self, event: ListenInput) -> None:
        self.state = step(LISTEN, self.state, event, "listen", self.rid)

    def wants(self, field_name: str, params: Any) -> bool:
        if field_name == "resourceSubscriptions":
            uri = params.get("uri") if isinstance(params, dict) else None
            return uri in self.uris
        return self.filter.get(field_name) is True


def http_status_for_error(code: int) -> int:
    """The HTTP status of a JSON-RPC error sent as a JSON reply in 2026-07-28.

    ``-32601`` -> 404 (SRV-VER-08); ``-32020``, ``-32021``, ``-32022`` -> 400
    (spec 5.2, SRV-VER-11); anything else 200 (a JSON-RPC error is a normal
    reply).
    """
    if code == _jr.METHOD_NOT_FOUND:
        return 404
    if code in (HEADER_MISMATCH, MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION):
        return 400
    return 200


class PerRequestCore:
    """Serves classified 2026-07-28 POSTs (see the module docstring)."""

    def __init__(self, config: ModernConfig, kit: Kit) -> None:
        self.config = config
        self.kit = kit
        self.calls: dict[int, _Call] = {}  # rid -> call
        self.listens: dict[int, _Listen] = {}  # rid -> listen
        self._by_xid: dict[int, _Call | _Listen] = {}
        self._filters = dict(LISTEN_FILTERS)
        self._filters.update(config.extra_listen_filters)

    def owns(self, rid: int) -> bool:
        return rid in self.calls or rid in self.listens

    # -- exchanges -------------------------------------------------------------

    def reject(self, x: Exchange, verdict: Verdict) -> None:
        """Answer ``x`` with a rejected verdict's status and error (never a session id)."""
        status, headers, body = error_response(verdict, omit_null_id=self.kit.outbox.omit_null_id)
        self.kit.outbox.head(x.xid, status, headers)
        self.kit.outbox.data(x.xid, body)
        self.kit.end(x)

    def post(self, x: Exchange, message: Any, *, protocol_version: str, now: float) -> None:
        """Serve one classified modern POST carrying ``message`` (``x`` in PROCESSING).

        Request headers play no further part: ``Mcp-Session-Id`` and
        ``Last-Event-ID`` are ignored (SRV-COMPAT-06, SRV-SESS-08, SRV-RESUME-08).
        """
        kit = self.kit
        t = type(message)
        if t is _jr.Notification:
            kit.accepted(x)  # SRV-POST-01, HTTP-02
            kit.outbox.emit(NotificationReceived(message=message, session_id=None, protocol_version=protocol_version,
                                                 identity=x.identity, _parsed=True))
            return
        if t is _jr.Response or t is _jr.ErrorResponse:  # SRV-POST-07
            return kit.reject(x, 400, _jr.INVALID_REQUEST, "Invalid Request: a client never sends responses")
        if t is not _jr.Request:
            return kit.reject(x, 400, getattr(message, "code", _jr.INVALID_REQUEST),
                              getattr(message, "message", "Invalid Request"), rid=getattr(message, "id", None))
        method = message.method
        if method == "subscriptions/listen":
            return self._listen(x, message, protocol_version, now)
        if method in REMOVED_METHODS:
            # sep-2575-http-server-method-not-found-404-*: the handshake, ping and
            # the session-scoped utilities do not exist in this era (SRV-VER-08).
            return kit.reject(x, 404, _jr.METHOD_NOT_FOUND,
                              f"Method not found: {method} is not part of {protocol_version}", rid=message.id)
        if method == "server/discover" and self.config.discover is not None:
            return kit.json(x, 200, _jr.encode_result(message.id, dict(self.config.discover)))
        rid = kit.new_rid()
        call = _Call(rid, x, message.id, method, protocol_version)
        self.calls[rid] = call
        self._by_xid[x.xid] = call
        if self.config.reply_mode == "sse":
            kit.stream(x, (), now)
        else:
            x.move(XInput.WAIT)
        kit.outbox.emit(RequestReceived(rid=rid, message=message, session_id=None,
                                        protocol_version=protocol_version, identity=x.identity, _parsed=True))

    def lost(self, x: Exchange, *, now: float) -> None:
        """The client closed ``x``: cancellation (CANCEL-06, AMB-09)."""
        entry = self._by_xid.pop(x.xid, None)
        if entry is None:
            return
        if isinstance(entry, _Call):
            self.calls.pop(entry.rid, None)
            self.kit.cancel(entry.rid)
            self.kit.outbox.emit(RequestCancelled(rid=entry.rid, reason="disconnected", _parsed=True))
        else:
            entry.move(ListenInput.LOST)
            self.listens.pop(entry.rid, None)
            entry.queue.clear()
            self.kit.outbox.emit(SubscriptionClosed(rid=entry.rid, subscription_id=entry.sub_id,
                                                    reason="disconnected", _parsed=True))

    def pause_writing(self, xid: int) -> None:
        """The adapter's write buffer for ``xid`` is full: queue listen output (bounded)."""
        entry = self._by_xid.get(xid)
        if type(entry) is _Listen:
            entry.move(ListenInput.PAUSE)
            self.kit.heartbeats.muted.add(xid)

    def resume_writing(self, xid: int, *, now: float) -> None:
        """The adapter can write ``xid`` again: flush what its listen stream queued."""
        entry = self._by_xid.get(xid)
        if type(entry) is _Listen and entry.state is ListenState.PAUSED:
            entry.move(ListenInput.RESUME)
            self.kit.heartbeats.muted.discard(xid)
            if entry.queue:
                data = b"".join(entry.queue)
                entry.queue.clear()
                entry.queued = 0
                self.kit.write(entry.x, data, now)

    # -- the application's calls -----------------------------------------------------

    def respond(self, rid: int, result: Any, error: tuple[Any, ...] | None, *, now: float) -> None:
        """Answer call ``rid``: as JSON if nothing was written yet (then ``-32601`` is 404), else
        as the stream's last event (SRV-SSE-07). The endpoint checked ``rid`` is a call of ours."""
        if rid in self.listens:
            raise LocalProtocolError("a listen stream is ended with close_listen()")
        call = self.calls.pop(rid)
        x = call.x
        self._by_xid.pop(x.xid, None)
        if error is not None:
            code = error[0]
            data = _jr.encode_error(call.request_id, code, error[1], error[2] if len(error) > 2 else None)
            status = http_status_for_error(code)
        else:
            if self.config.add_result_type:
                result = complete_result_for_era(call.method, result, call.version)
            data = _jr.encode_result(call.request_id, result)
            status = 200
        if x.state is XState.WAITING:
            self.kit.json(x, status, data)
        else:
            self.kit.write(x, _sse.encode_event(data), now)
            self.kit.end(x)

    def notify(self, rid: int, method: str, params: Any, *, now: float) -> bool:
        """A notification related to call ``rid`` (progress, log) on its stream (SRV-SSE-03).

        Starts the SSE stream if the reply was still undecided. False when
        nothing was sent: the call is finished or cancelled (CANCEL-06), or
        ``reply_mode`` is ``"json"``. There is no way to send a request
        (SRV-SSE-04), and listen-only notification types are refused here.
        """
        if method in _LISTEN_ONLY or method in self._filters:
            raise LocalProtocolError(f"{method} goes on listen streams: use publish()")
        call = self.calls.get(rid)
        if call is None:
            return False
        x = call.x
        if x.state is XState.WAITING:
            if self.config.reply_mode == "json":
                return False
            self.kit.stream(x, (), now)
        self.kit.write(x, _sse.encode_event(_jr.encode_notification(method, params)), now)
        return True

    def publish(self, method: str, params: Any, *, now: float, to: Callable[[Any], bool] | None = None) -> int:
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
        encode = self._encoder(method, params)
        sent = 0
        for listen in list(self.listens.values()):
            if not listen.wants(field_name, params) or (to is not None and not to(listen.identity)):
                continue
            if self._send_listen(listen, _sse.encode_event(encode(listen)), now):
                sent += 1
        return sent

    @staticmethod
    def _encoder(method: str, params: dict[str, Any] | None) -> Callable[[_Listen], bytes]:
        """How to encode one notification for each listen, encoding the shared part once.

        The subscription id is spliced in as the first member of params, so a
        thousand listens cost one json encode plus a thousand byte joins.
        Params with their own ``_meta`` take the slow path (a merged dict per
        stream).
        """
        if params is not None and "_meta" in params:
            def slow(listen: _Listen) -> bytes:
                p = dict(params)
                p["_meta"] = dict(p["_meta"], **{SUBSCRIPTION_ID: listen.sub_id})
                out: bytes = _jr.encode_notification(method, p)
                return out
            return slow
        rest = _jr.encode_notification(method, params or {})  # {"jsonrpc":"2.0","method":M,"params":{...}}
        # The first ',"params":{' is the message's own: before it come only
        # "jsonrpc" and the method string, where a raw '"' cannot occur.
        head, _, tail = rest.partition(b',"params":{')
        tail = tail[:-1]  # params members + "}" of params, without the message's closing brace
        sep = b"," if tail != b"}" else b""
        key = b',"params":{"_meta":{"' + SUBSCRIPTION_ID.encode() + b'":'
        return lambda listen: head + key + listen.sub_id_json + b"}" + sep + tail + b"}"

    def close_listen(self, rid: int, *, now: float) -> bool:
        """End a listen stream gracefully: the completion result, then the end (SRV-SUB-04, AMB-10).

        False if no such listen is open.
        """
        listen = self.listens.pop(rid, None)
        if listen is None:
            return False
        listen.move(ListenInput.CLOSE)
        self._by_xid.pop(listen.x.xid, None)
        result = {"resultType": "complete", "_meta": {SUBSCRIPTION_ID: listen.sub_id}}
        data = _sse.encode_event(_jr.encode_result(listen.sub_id, result))
        if listen.queue:  # deliver what was queued first: order is kept
            data = b"".join(listen.queue) + data
            listen.queue.clear()
        self.kit.write(listen.x, data, now)
        self.kit.end(listen.x)
        self.kit.outbox.emit(SubscriptionClosed(rid=rid, subscription_id=listen.sub_id, reason="closed", _parsed=True))
        return True

    def close_all_listens(self, *, now: float) -> int:
        """``close_listen`` every open listen (server shutdown); returns how many."""
        rids = list(self.listens)
        for r in rids:
            self.close_listen(r, now=now)
        return len(rids)

    # -- internals -------------------------------------------------------------------

    def _listen(self, x: Exchange, message: Any, protocol_version: str, now: float) -> None:
        kit = self.kit
        params = message.params if type(message.params) is dict else {}
        requested = params.get("notifications")
        if not isinstance(requested, dict):
            return kit.reject(x, 200, _jr.INVALID_PARAMS,
                              'Invalid params: subscriptions/listen needs a "notifications" filter object',
                              rid=message.id)
        if len(self.listens) >= self.config.max_listens:
            return kit.reject(x, 503, -32000, "Too many subscriptions", rid=message.id,
                              extra=[(b"retry-after", b"1")])
        granted = self.config.listen_support.grant(requested)
        rid = kit.new_rid()
        listen = _Listen(rid, x, message.id, granted, x.identity)
        self.listens[rid] = listen
        self._by_xid[x.xid] = listen
        kit.stream(x, (), now)
        # SRV-SUB-02: the acknowledgment is the first message on the stream.
        ack = _jr.encode_notification(
            "notifications/subscriptions/acknowledged",
            {"_meta": {SUBSCRIPTION_ID: message.id}, "notifications": granted},
        )
        kit.write(x, _sse.encode_event(ack), now)
        kit.outbox.emit(SubscriptionOpened(rid=rid, subscription_id=message.id, filter=granted,
                                           protocol_version=protocol_version, identity=x.identity, _parsed=True))

    def _send_listen(self, listen: _Listen, event: bytes, now: float) -> bool:
        if listen.state is ListenState.OPEN:
            self.kit.write(listen.x, event, now)
            return True
        if event in listen.queue:
            return True  # the same notification is already waiting (idempotent)
        if listen.queued + len(event) > self.config.max_listen_queue_bytes:
            self._overflow(listen)
            return False
        listen.queue.append(event)
        listen.queued += len(event)
        return True

    def _overflow(self, listen: _Listen) -> None:
        # No completion result: the client sees an abrupt end and MAY listen
        # again (CLI-SUB-06). close=True: the connection is stuck anyway.
        listen.move(ListenInput.OVERFLOW)
        self.listens.pop(listen.rid, None)
        self._by_xid.pop(listen.x.xid, None)
        listen.queue.clear()
        self.kit.end(listen.x, close=True)
        self.kit.outbox.emit(SubscriptionClosed(rid=listen.rid, subscription_id=listen.sub_id, reason="overflow",
                                                _parsed=True))

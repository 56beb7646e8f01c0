"""The server endpoint: head policy, era routing and the exchange registry.

Theory of operation
===================

One :class:`Server` serves one MCP endpoint over both protocol eras. It
knows nothing of sockets, event loops or clocks; an adapter (asyncio, ASGI,
HTTP/2, a test) drives it:

* Each HTTP request is an *exchange* named by an int ``xid``:
  ``xid = server.receive_request(method, target, headers, now=...)``, then
  ``server.receive_body(xid, data)`` any number of times, then
  ``server.receive_end(xid, now=...)``. ``server.connection_lost(xid,
  now=...)`` says the peer went away (harmless after the response ended).
* The head is checked here, before the body is read (target, Host, Origin,
  header values, authentication, Accept, Content-Type, Content-Length); at
  the end of the body a POST is classified (:func:`streamcore.era.classify`)
  and handed to the session-era core (:mod:`streamcore._session`) or the
  per-request core (:mod:`streamcore._modern`); GET and DELETE are the
  session era's. Both cores share one :class:`~streamcore._toolkit.Kit`
  (queues, replies, keep-alives, this registry) and one config.
* Output goes to two queues: ``next_output()`` gives the HTTP output
  (:class:`ResponseHead`, :class:`ResponseData`, :class:`ResponseEnd`, each
  naming its ``xid``), ``next_app_event()`` the application's events
  (:class:`RequestReceived`, ...); ``next_event()`` gives both, output first.
  The application answers through ``respond``, ``notify``, ``send_request``,
  ``publish`` and friends, each naming a request in flight by its int
  ``rid``.
* ``get_timer()`` says when ``handle_timer(now=...)`` must next run
  (keep-alives, session expiry).

Misuse raises :class:`~streamcore.LocalProtocolError` and changes nothing:
an xid never issued, body bytes after the end, a second ``receive_end``; an
rid never issued, a second answer to one request, a ``notify`` related to
an rid of the other era. A late answer to a cancelled request is ignored
(CANCEL-05).
"""

from __future__ import annotations

from typing import Any, Callable

from ._config import ServerConfig
from ._era import _plainly_legacy, classify
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import AppEvent, Event, HttpOutput
from ._headers import JSON, SSE, Headers, accepts, is_json_content_type, valid_header_value
from ._legacy_sse import L0SessionCore, LegacySse
from ._modern import PerRequestCore
from ._policy import MAX_DIGITS, TargetError, hostname, origin_host, parse_target, valid_host
from ._session import SessionCore
from ._states import XInput, XState
from ._toolkit import Counter, Exchange, Heartbeats, Kit, Outbox

__all__ = ["Server"]

_PICKED = frozenset({
    b"host", b"origin", b"accept", b"content-type", b"content-length",
    b"mcp-session-id", b"mcp-protocol-version", b"last-event-id",
})
_CHECKED_VALUES = (b"mcp-session-id", b"mcp-protocol-version", b"last-event-id")
# Verdicts cached per distinct header value; peers repeat the same few values.
_MAX_VERDICTS = 256


def _pick(headers: Headers) -> dict[bytes, bytes]:
    f: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in _PICKED:
            prev = f.get(name)
            f[name] = value if prev is None else prev + b", " + value
    return f


class Server:
    """The server side of one Streamable HTTP endpoint, both eras (module docstring)."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = cfg = config or ServerConfig()
        self._outbox = Outbox(omit_null_id=cfg.omit_null_id)
        self._exchanges: dict[int, Exchange] = {}
        self._xids = Counter()
        self._rids = Counter()
        self._kit = Kit(self._outbox, Heartbeats(cfg.heartbeat_interval), self._exchanges, self._rids,
                        max_cancelled=cfg.max_cancelled)
        self._modern = PerRequestCore(cfg.modern, self._kit) if cfg.modern is not None else None
        # HTTP+SSE (2024-11-05), when configured, is a layer over the session-era core.
        self._l0: LegacySse | None = None
        if cfg.sse_path is None:
            self._legacy = SessionCore(cfg, self._kit)
        else:
            self._legacy = l0core = L0SessionCore(cfg, self._kit)
            self._l0 = LegacySse(cfg, l0core, self._kit)
        self._l0_kinds = self._l0.kinds if self._l0 is not None else {}  # path -> which L0 endpoint
        self._verdicts: dict[tuple[bytes, bytes | None], bool] = {}
        self._served_b = frozenset(v.encode() for v in cfg.supported_versions) if cfg.legacy else frozenset()
        paths = cfg.endpoint_paths
        self._paths = None if paths is None else frozenset(p.encode("latin-1") for p in paths)
        methods = [m for m, on in ((b"GET", cfg.enable_get), (b"POST", True), (b"DELETE", cfg.enable_delete)) if on]
        self._allow = b", ".join(methods)

    # -- output ------------------------------------------------------------------

    def next_output(self) -> HttpOutput | None:
        """The next piece of HTTP output (head, body bytes, end) for some exchange, or None."""
        out = self._outbox.out
        return out.popleft() if out else None

    def next_app_event(self) -> AppEvent | None:
        """The next event for the application, or None."""
        app = self._outbox.app
        return app.popleft() if app else None

    def next_event(self) -> Event | None:
        """The next event of either queue (HTTP output first), or None."""
        out = self._outbox.out
        if out:
            return out.popleft()
        app = self._outbox.app
        return app.popleft() if app else None

    @property
    def sessions(self) -> int:
        """Live sessions (session era)."""
        return len(self._legacy.sessions)

    @property
    def in_flight(self) -> int:
        """Requests awaiting the application's answer, both eras."""
        return len(self._legacy.pending) + (len(self._modern.calls) if self._modern is not None else 0)

    @property
    def listens(self) -> int:
        """Open listen streams (2026-07-28)."""
        return len(self._modern.listens) if self._modern is not None else 0

    # -- input from the adapter ------------------------------------------------------

    def receive_request(
        self, method: bytes | str, target: bytes | str, headers: Headers, *, now: float, client: Any = None,
    ) -> int:
        """A request head arrived; returns its exchange id. May queue output (an early error).

        ``headers`` are ``(name, value)`` byte pairs with lower-case names.
        ``client`` names the peer for ``max_sessions_per_client`` (its address,
        or what a trusted proxy forwarded).
        """
        if isinstance(method, str):
            method = method.encode("ascii")
        if isinstance(target, str):
            target = target.encode("latin-1")
        x = Exchange(self._xids(), method, target, headers, client)
        self._exchanges[x.xid] = x
        self._check_head(x)
        return x.xid

    def receive_body(self, xid: int, data: bytes) -> None:
        """Body bytes of ``xid``, kept by reference until the end (pass ``bytes``; other
        buffers are copied, as an adapter may reuse them). May queue output (413)."""
        x = self._live(xid)
        if x.state is XState.REJECTED:
            return  # answered from the head: the rest of the body is dropped
        x.move(XInput.DATA)
        if type(data) is not bytes:
            data = bytes(data)
        if x.size + len(data) > self.config.max_body_size:
            self._kit.reject(x, 413, -32600, "Request body too large", close=True)
            return
        x.body.append(data)
        x.size += len(data)

    def receive_end(self, xid: int, *, now: float) -> None:
        """The whole request of ``xid`` has arrived: serve it. May queue output and app events."""
        x = self._live(xid)
        if x.state is XState.REJECTED:
            self._kit.retire(x)
            return
        x.move(XInput.END)
        if x.era == "l0":
            assert self._l0 is not None
            pieces = x.body
            x.body = []
            self._l0.receive_end(x, pieces[0] if len(pieces) == 1 else b"".join(pieces), now=now)
        elif x.method == b"POST":
            pieces = x.body
            body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            x.body = []  # joined: the exchange need not hold the pieces any longer
            self._post(x, body, now)
        elif x.method == b"GET":
            x.era = "legacy"
            self._legacy.get(x, now=now)
        else:  # DELETE: _check_head let nothing else through
            x.era = "legacy"
            self._legacy.delete(x, now=now)

    def connection_lost(self, xid: int, *, now: float) -> None:
        """The peer went away from ``xid`` (or the adapter gave up on it). May queue app events.

        Session era: not a cancellation (CANCEL-01); the stream detaches and
        its output is kept for replay with an event store. Per-request era: it
        *is* cancellation (CANCEL-06). Harmless for an exchange that ended.
        """
        if not self._xids.issued(xid):
            raise LocalProtocolError(f"unknown exchange {xid}")
        x = self._exchanges.get(xid)
        if x is None:
            return
        if x.era == "modern" and self._modern is not None:
            self._modern.lost(x, now=now)
        elif x.era == "legacy":
            self._legacy.lost(x, now=now)
        elif x.era == "l0" and self._l0 is not None:
            self._l0.lost(x, now=now)
        x.move(XInput.LOST)
        self._kit.heartbeats.stop(xid)
        self._exchanges.pop(xid, None)

    def pause_writing(self, xid: int) -> None:
        """The adapter's send buffer for ``xid`` is full: listen streams queue (bounded)."""
        if self._modern is not None:
            self._modern.pause_writing(xid)

    def resume_writing(self, xid: int, *, now: float) -> None:
        """``xid`` can take output again. May queue output."""
        if self._modern is not None:
            self._modern.resume_writing(xid, now=now)

    # -- the application's calls (each may queue output) ------------------------------

    def respond(
        self, rid: int, result: Any = None, *,
        error: tuple[int, str] | tuple[int, str, Any] | None = None, now: float,
    ) -> None:
        """Answer request ``rid`` with ``result`` or ``error=(code, message[, data])``.

        ``result`` may be a Python value or a :class:`streamcore.jsonrpc.RawJson`
        (already-encoded JSON, spliced in as is). A cancelled request's answer
        is dropped (CANCEL-05); a second answer, or an rid never issued, is a
        :class:`LocalProtocolError`.
        """
        if error is not None:
            if not isinstance(error, tuple) or len(error) not in (2, 3) or type(error[0]) is not int \
                    or not isinstance(error[1], str):
                raise LocalProtocolError("error must be (code: int, message: str[, data])")
        owner = self._owner(rid, "respond to")
        if owner is None:
            return
        owner.respond(rid, result, error, now=now)

    def notify(
        self, session_id: str | None, method: str, params: Any = None, *,
        related: int | None = None, now: float,
    ) -> bool:
        """A notification: on ``related``'s stream if it has one (SRV-SSE-02/03), else on the
        session's GET stream, else queued until one opens (AMB-14; bounded: ``QueueFull``).
        Related to a finished 2026-07-28 request (or one whose reply is JSON only), it is
        dropped: the return value is False when nothing was sent or queued."""
        if related is not None:
            if type(related) is not int:
                raise LocalProtocolError(f"related must be an int rid, not {type(related).__name__}")
            if not self._rids.issued(related):
                raise LocalProtocolError(f"cannot notify about request {related}: no such request")
            if self._modern is not None and self._modern.owns(related):
                return self._modern.notify(related, method, params, now=now)
            if related not in self._legacy.pending and session_id is None:
                return False  # a finished 2026-07-28 request: nothing more can reach its client
        # A finished session-era request's notifications go to the session's GET stream.
        self._legacy.notify(session_id, method, params, related, now=now)
        return True

    def send_request(
        self, session_id: str | None, method: str, params: Any = None, *,
        related: int | None = None, now: float,
    ) -> int:
        """A server-to-client request (session era); returns its JSON-RPC id. The answer
        comes as :class:`ResponseReceived`."""
        if related is not None and self._modern is not None and self._modern.owns(related):
            # SRV-SSE-04, EP-05: no server-to-client requests in the per-request era.
            raise LocalProtocolError("a 2026-07-28 request cannot carry server-to-client requests (use MRTR)")
        return self._legacy.send_request(session_id, method, params, related, now=now)

    def publish(self, method: str, params: Any = None, *, now: float, to: Callable[[Any], bool] | None = None) -> int:
        """A change notification to every matching ``subscriptions/listen`` stream (SRV-SUB-01/03);
        returns how many got it."""
        if self._modern is None:
            return 0
        return self._modern.publish(method, params, now=now, to=to)

    def close_listen(self, rid: int, *, now: float) -> bool:
        """End a listen stream gracefully, with its completion result (SRV-SUB-04); False if not open."""
        if self._modern is None:
            return False
        return self._modern.close_listen(rid, now=now)

    def close_all_listens(self, *, now: float) -> int:
        """``close_listen`` every open listen (shutdown); returns how many."""
        return self._modern.close_all_listens(now=now) if self._modern is not None else 0

    def close_session(self, session_id: str, *, now: float) -> bool:
        """End a session from the server side (SRV-SESS-05): its id then gets 404. False if unknown."""
        return self._legacy.close_session(session_id)

    def disconnect_request(self, rid: int, *, now: float) -> bool:
        """Close the connection carrying request ``rid``'s stream, not the stream (SRV-SSE-09), with
        ``retry`` first when configured; the client resumes with GET + Last-Event-ID. False if
        ``rid`` has no attached stream."""
        return self._legacy.disconnect_request(rid, now=now)

    def disconnect_session(self, session_id: str, *, now: float) -> bool:
        """The same for a session's GET stream (SRV-GET-06). False if none is attached."""
        return self._legacy.disconnect_session(session_id, now=now)

    # -- timers --------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must next run, or None.

        O(1): this is asked after every drain. The value may be early (a
        deadline that traffic has since pushed back), never late; an early
        call finds nothing due and recomputes the true deadline.
        """
        a, b = self._kit.heartbeats.wake, self._legacy.wake
        if a is None:
            return b
        return a if b is None or a < b else b

    def handle_timer(self, *, now: float) -> None:
        """Send due keep-alives (SRV-SSE-12, both eras) and expire idle sessions. May queue output."""
        hb = self._kit.heartbeats
        for xid in hb.due(now):
            self._outbox.data(xid, hb.comment())
        self._legacy.handle_timer(now)

    # -- internals -----------------------------------------------------------------

    def _live(self, xid: int) -> Exchange:
        x = self._exchanges.get(xid)
        if x is None:
            what = "finished" if self._xids.issued(xid) else "unknown"
            raise LocalProtocolError(f"{what} exchange {xid}: no more input is expected")
        return x

    def _owner(self, rid: int, verb: str) -> Any:
        """The core serving request ``rid``; None for a cancelled one; raises on misuse."""
        if type(rid) is not int:
            raise LocalProtocolError(f"rid must be an int, not {type(rid).__name__}")
        if rid in self._legacy.pending:
            return self._legacy
        if self._modern is not None and self._modern.owns(rid):
            return self._modern
        if rid in self._kit.cancelled:
            if verb == "respond to":
                del self._kit.cancelled[rid]  # the one late answer: dropped (CANCEL-05)
            return None
        if self._rids.issued(rid):
            raise LocalProtocolError(f"cannot {verb} request {rid}: it was answered already")
        raise LocalProtocolError(f"cannot {verb} request {rid}: no such request")

    def _check_head(self, x: Exchange) -> None:
        """Answer now what the head alone decides (long: one early return per check, in order)."""
        cfg, kit = self.config, self._kit
        # One pass over the fields picks out the few we read (repeated fields
        # joined with ", "); every later lookup is a dict hit.
        f = x.fields = _pick(x.headers)
        verdicts = self._verdicts
        if len(verdicts) > _MAX_VERDICTS:
            verdicts.clear()  # a peer cycling through many values must not grow this without bound
        try:
            path, authority = parse_target(x.method, x.target)  # RFC 9112 3.2
        except TargetError as exc:
            return kit.reject(x, exc.status, -32600, exc.message)
        host = f.get(b"host") if authority is None else authority  # RFC 9112 3.2.2
        if host is not None:
            ok = verdicts.get((b"host-syntax", host))
            if ok is None:
                ok = verdicts[(b"host-syntax", host)] = valid_host(host)
            if not ok:  # RFC 9112 3.2: an invalid Host is 400
                return kit.reject(x, 400, -32600, "Bad Request: malformed Host")
        # Security first (SEC-01, SEC-02, SEC-06, AMB-18): no other answer may
        # leak to a page that a DNS-rebinding attack pointed at us.
        if cfg.allowed_hosts is not None:
            ok = verdicts.get((b"host", host))
            if ok is None:
                ok = verdicts[(b"host", host)] = host is not None and hostname(host) in cfg.allowed_hosts
            if not ok:
                return kit.reject(x, 403, -32000, "Forbidden: Host not allowed")
        origin = f.get(b"origin")
        if origin is not None and cfg.allowed_origins is not None:
            ok = verdicts.get((b"origin", origin))
            if ok is None:
                ok = verdicts[(b"origin", origin)] = origin_host(origin) in cfg.allowed_origins
            if not ok:
                return kit.reject(x, 403, -32000, "Forbidden: Origin not allowed")
        l0 = self._l0_kinds.get(path, 0)
        if l0:
            x.era = "l0"
        elif self._paths is not None and path not in self._paths:
            return kit.reject(x, 404, -32000, "Not Found: this server's MCP endpoint is elsewhere")
        for name in _CHECKED_VALUES:  # HTTP-04: the values we act on
            value = f.get(name)
            if value is not None and not valid_header_value(value):
                return kit.reject(x, 400, -32600, f"Bad value in header {name.decode('latin-1')}")
        if cfg.authenticate is not None:
            try:
                identity = cfg.authenticate(x.headers)
            except RemoteProtocolError as exc:  # a token verifier's verdict (streamcore.auth): 401/403 + challenge
                return kit.reject(x, exc.status_hint, -32000, str(exc), extra=list(getattr(exc, "headers", ())))
            if identity is None:
                return kit.reject(x, 401, -32000, "Unauthorized", extra=[(b"www-authenticate", cfg.www_authenticate)])
            x.identity = identity
        if l0:
            assert self._l0 is not None
            return self._l0.check_head(x, f, l0)
        return self._check_method(x, f)

    def _check_method(self, x: Exchange, f: dict[bytes, bytes]) -> None:
        cfg, kit, verdicts = self.config, self._kit, self._verdicts
        method = x.method
        if method == b"POST":
            accept = f.get(b"accept")
            ok = verdicts.get((b"post-accept", accept))
            if ok is None:
                ok = verdicts[(b"post-accept", accept)] = accepts(accept, JSON) and accepts(accept, SSE)
            if not ok:  # CLI-POST-02, AMB-01
                return kit.reject(x, 406, -32000,
                                  "Not Acceptable: Accept must allow application/json and text/event-stream")
            ctype = f.get(b"content-type")
            ok = verdicts.get((b"ctype", ctype))
            if ok is None:
                ok = verdicts[(b"ctype", ctype)] = is_json_content_type(ctype)
            if not ok:  # AMB-02
                return kit.reject(x, 415, -32000, "Unsupported Media Type: Content-Type must be application/json")
            length = f.get(b"content-length")
            # bytes.isdigit() is ASCII-only; more digits than MAX_DIGITS is over
            # any limit (and int() of thousands of digits is slow or refused).
            if length is not None and length.isdigit() and (len(length) > MAX_DIGITS
                                                            or int(length) > cfg.max_body_size):
                return kit.reject(x, 413, -32600, "Request body too large", close=True)
            return None
        if method == b"GET" and cfg.enable_get:
            if not accepts(f.get(b"accept"), SSE):  # CLI-GET-02
                return kit.reject(x, 406, -32000, "Not Acceptable: Accept must allow text/event-stream")
        elif not (method == b"DELETE" and cfg.enable_delete):
            return kit.reject(x, 405, -32000, "Method not allowed", extra=[(b"allow", self._allow)])
        version = f.get(b"mcp-protocol-version")
        if version is not None and version not in self._served_b:
            # SRV-VER-02, SRV-VER-06. A POST is checked once its body is read,
            # so that the error can echo the request id.
            self._legacy.unsupported_version(x, version.decode("latin-1"), None)
        return None

    def _post(self, x: Exchange, body: bytes, now: float) -> None:
        """Classify a POST (spec 2.12, SRV-COMPAT-08) and hand it to its era's core."""
        cfg = self.config
        hv = x.fields.get(b"mcp-protocol-version")
        header_version = hv.decode("latin-1") if hv is not None else None
        modern = self._modern
        if modern is None:
            x.era = "legacy"
            return self._legacy.post(x, body, header_version, now=now)
        assert cfg.modern is not None
        if cfg.legacy and cfg.supported_versions and _plainly_legacy(
            body, header_version, b"mcp-session-id" in x.fields, cfg.modern.supported_versions, cfg.supported_versions,
        ):
            # classify()'s own first step, taken here on the fields the head policy
            # picked already: no second pass over the headers, no Verdict (about 5 %
            # of a session-era request).
            x.era = "legacy"
            return self._legacy.post(x, body, header_version, now=now)
        v = classify(
            b"POST", x.headers, body,
            supported_modern=cfg.modern.supported_versions,
            supported_legacy=cfg.supported_versions if cfg.legacy else (),
            param_headers=cfg.param_headers, required_capabilities=cfg.required_capabilities,
            tool_capabilities=cfg.tool_capabilities,
        )
        if v.accepted and v.era != "modern":
            x.era = "legacy"
            return self._legacy.post(x, body, header_version, now=now)
        x.era = "modern"
        if not v.accepted:
            return modern.reject(x, v)
        modern.post(x, v.message_obj, protocol_version=v.protocol_version or "", now=now)


"""The implementation of :mod:`streamcore.redis` (read that module's docstring first)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Iterable, Sequence, cast

from . import jsonrpc as _jr
from ._config import ServerConfig
from ._endpoint import Server
from ._events import (
    Event,
    RequestReceived,
    ResponseData,
    ResponseEnd,
    ResponseHead,
    SessionClosed,
)
from ._redis_lua import APPEND, DROP, ROUTE
from ._session import _Session, _Stream
from ._states import StreamInput
from ._store import DEFAULT_STORE_MAX_BYTES, DEFAULT_STORE_MAX_EVENTS, DEFAULT_STORE_TTL, MemoryEventStore

if TYPE_CHECKING:  # pragma: no cover
    import redis.asyncio as aioredis

    from .aio.server import StreamableHttpServer

log = logging.getLogger("streamcore.redis")

__all__ = [
    "RedisCluster", "RedisEventStore", "RedisUnavailable",
    "DEFAULT_LEASE_TTL", "DEFAULT_OP_TIMEOUT", "DEFAULT_RETRY_AFTER", "DEFAULT_MAX_STREAM_EVENTS",
    "DEFAULT_MAX_PENDING_WRITES", "DEFAULT_PROBE_INTERVAL", "DEFAULT_MAX_CONNECTIONS", "HANDLER_LOST",
]

#: Seconds an instance's lease lasts; it renews it every third of that. An
#: instance that stops renewing is dead for the others after at most this long.
DEFAULT_LEASE_TTL = 5.0
#: Seconds any one Redis call may take before Redis counts as unavailable.
DEFAULT_OP_TIMEOUT = 1.0
#: ``Retry-After`` (seconds) of the 503 answered while Redis is unavailable.
DEFAULT_RETRY_AFTER = 1
#: Events kept per stream in Redis (the oldest are trimmed first).
DEFAULT_MAX_STREAM_EVENTS = 10_000
#: Writes (event appends, bus messages) queued while Redis is away; past it the oldest are dropped.
DEFAULT_MAX_PENDING_WRITES = 100_000
#: Connections to Redis for commands (the bus has one more of its own); calls beyond wait for one.
DEFAULT_MAX_CONNECTIONS = 16
#: Seconds between PINGs while Redis is unavailable.
DEFAULT_PROBE_INTERVAL = 0.25
#: The JSON-RPC error a request gets when the instance running its handler died (data.reason).
HANDLER_LOST = (-32603, "Request handler lost: the server instance running it stopped; retry the request")

_SKIP = 100_000  # sequence numbers an adopter skips (events a dead home sent but had not stored)
_MAX_BUS_HEADERS = 256
_MAX_ROUTES = 100_000  # sessions whose home an instance remembers
_MAX_BUS_PEERS = 4096  # senders whose last sequence number an instance remembers


class RedisUnavailable(Exception):
    """Redis did not answer in time (or refused): the server answers 503 meanwhile."""


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for k, v in headers:
        if k == name:
            return v
    return None


class RedisEventStore:
    """The event store of a :class:`RedisCluster` (an :class:`streamcore.store.EventStore`).

    Synchronous, as the core wants: every append goes to a local bounded
    window (a :class:`~streamcore.store.MemoryEventStore`, which serves
    replays for the sessions this instance is home of) and is queued for
    Redis, where it is written with the next pipeline of the cluster
    (write-behind, one pipeline per loop iteration). Redis keeps per-stream
    logs bounded by ``max_stream_events`` and ``ttl``, and ``max_events`` over
    all streams, oldest first; a replay that reaches into trimmed events is
    refused (None), as with the memory store.
    """

    def __init__(self, cluster: "RedisCluster", *, max_bytes: int, max_events: int, ttl: float,
                 max_stream_events: int) -> None:
        self.cluster = cluster
        self.local = MemoryEventStore(max_bytes=max_bytes, max_events=max_events, ttl=ttl)
        self.max_events = max_events
        self.max_stream_events = max_stream_events
        self.ttl = ttl

    def append(self, session_id: str, stream: str, seq: int, data: bytes, now: float) -> None:
        """Keep event ``seq`` of ``stream`` here at once, and in Redis with the next pipeline."""
        self.local.append(session_id, stream, seq, data, now)
        self.cluster._queue(("a", session_id, stream, seq, data))

    def replay_after(self, session_id: str, stream: str, seq: int, now: float) -> list[tuple[int, bytes]] | None:
        """From the local window: the home holds every event of its sessions (an adopter loads them)."""
        return self.local.replay_after(session_id, stream, seq, now)

    def drop_session(self, session_id: str) -> None:
        """Forget the session's events here and, with its registry record, in Redis."""
        self.local.drop_session(session_id)
        core = self.cluster._core_
        if core is None or session_id not in core._disowned:  # another instance owns it now
            self.cluster._queue(("x", session_id))

    def _preload(self, session_id: str, stream: str, first_kept: int, events: list[tuple[int, bytes]],
                 now: float) -> None:
        """An adopted stream's stored events become replayable here (and nowhere is a gap hidden)."""
        local = self.local
        for seq, data in events:
            local.append(session_id, stream, seq, data, now)
        local._set_first_kept(session_id, stream, first_kept, exact=not events)


class _RemoteConn:
    """At a session's home: stands for a connection held by another instance.

    The hub routes the core's output for a forwarded exchange here, as to a
    connection; each piece goes over the bus to the instance holding the
    client's socket, in order (one writer, one pipeline at a time)."""

    __slots__ = ("cluster", "origin", "fx", "xid")

    def __init__(self, cluster: "RedisCluster", origin: str, fx: int, xid: int) -> None:
        self.cluster = cluster
        self.origin = origin
        self.fx = fx
        self.xid = xid

    def head(self, ev: ResponseHead) -> None:
        self.cluster._send(self.origin, {"t": "h", "x": self.fx, "s": ev.status, "st": ev.streaming,
                                         "h": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in ev.headers]})

    def data(self, ev: ResponseData) -> None:
        self.cluster._send(self.origin, {"t": "d", "x": self.fx}, ev.data)

    def end(self, ev: ResponseEnd) -> None:
        self.cluster._send(self.origin, {"t": "e", "x": self.fx, "c": ev.close})
        core = self.cluster._core_
        if core is not None:
            core._remote.pop((self.origin, self.fx), None)
        self.cluster._unwatch_origin(self.origin, ev.xid)
        hub = self.cluster.hub
        if hub is not None:
            hub._route.pop(ev.xid, None)


class _Held:
    """At the instance holding the socket: an exchange for a session not held here."""

    __slots__ = ("xid", "method", "target", "headers", "client", "body", "size", "ended", "mode", "real",
                 "home", "head_seen", "too_big", "task")

    def __init__(self, xid: int, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
                 client: Any) -> None:
        self.xid = xid
        self.method = method
        self.target = target
        self.headers = headers
        self.client = client
        self.body: list[bytes] = []
        self.size = 0
        self.ended = False
        self.mode = "wait"  # wait -> local | remote | refused; gone when it ends or is lost
        self.real: int | None = None
        self.home: str | None = None
        self.head_seen = False
        self.too_big = False
        self.task: asyncio.Task[Any] | None = None


def _error_events(xid: int, status: int, code: int, message: str, extra: list[tuple[bytes, bytes]],
                  close: bool = False) -> list[Event]:
    body = _jr.encode_error(None, code, message)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))] + extra
    return [ResponseHead(xid=xid, status=status, headers=headers, _parsed=True),
            ResponseData(xid=xid, data=body, _parsed=True), ResponseEnd(xid=xid, close=close, _parsed=True)]


class _ClusterServer(Server):
    """The core of one instance of a cluster: the sans-IO :class:`Server`, plus routing.

    Exchanges for sessions this instance holds (and every exchange without a
    session) go straight to the core, untouched. One that names a session
    not held here is *held* (a negative xid) while the registry says where
    the session lives: then it is forwarded to the session's home over the
    bus, or, when the home's lease expired, the session is adopted from
    Redis and the exchange is served here after all.
    """

    def __init__(self, config: ServerConfig, cluster: "RedisCluster") -> None:
        super().__init__(config)
        self.cluster = cluster
        self._held: dict[int, _Held] = {}
        self._alias: dict[int, int] = {}  # real xid -> held xid (held, then served here)
        self._next_held = -2  # -1 is the adapter's (documents it answers itself)
        self._inj: deque[Event] = deque()
        self._hold_out: dict[int, list[Event]] = {}  # output waiting for a session's registration
        self._dead: set[int] = set()  # exchanges answered 503 by us whose core output is dropped
        self._disowned: set[str] = set()  # sessions being closed here because another instance took them
        self._known: set[str] = set()  # sessions of ours that are in the registry
        self._remote: dict[tuple[str, int], int] = {}  # (origin, fx) -> real xid, at the home
        # session -> its home, as last resolved (bounded). A stale entry costs one publish that
        # nobody receives (then the registry is asked), never a wrong answer: sessions move only
        # when their home dies.
        self._routes: dict[str, str] = {}
        self._introspecting: set[tuple[str, int]] = set()  # forwarded, waiting for a token check
        self._lost_early: set[tuple[str, int]] = set()  # ... and their clients already left

    # -- the adapter's input --------------------------------------------------------

    def receive_request(self, method: bytes | str, target: bytes | str, headers: Sequence[tuple[bytes, bytes]],
                        *, now: float, client: Any = None) -> int:
        cluster = self.cluster
        if not cluster.down:
            sid = _header(headers, b"mcp-session-id")
            if sid is None or sid.decode("latin-1") in self._legacy.sessions:
                return super().receive_request(method, target, headers, now=now, client=client)
        if isinstance(method, str):
            method = method.encode("ascii")
        if isinstance(target, str):
            target = target.encode("latin-1")
        xid = self._next_held
        self._next_held -= 1
        h = self._held[xid] = _Held(xid, method, target, list(headers), client)
        if cluster.down:
            h.mode = "refused"  # fail closed (answered at the end of the body)
        else:
            assert sid is not None
            h.task = cluster._spawn(self._resolve(h, sid.decode("latin-1")))
        return xid

    def receive_body(self, xid: int, data: bytes) -> None:
        if xid >= 0:
            return super().receive_body(xid, data)
        h = self._held.get(xid)
        if h is None:
            return
        if h.real is not None:
            return super().receive_body(h.real, data)
        if h.too_big or h.mode == "refused":
            return
        if h.size + len(data) > self.config.max_body_size:
            h.too_big, h.body = True, []
            return
        h.body.append(bytes(data))
        h.size += len(data)

    def receive_end(self, xid: int, *, now: float) -> None:
        if xid >= 0:
            return super().receive_end(xid, now=now)
        h = self._held.get(xid)
        if h is None:
            return
        if h.real is not None:
            return super().receive_end(h.real, now=now)
        h.ended = True
        if h.mode == "refused" or h.too_big:
            self._refuse(h, drain=False)  # the adapter drains after receive_end
        elif h.mode == "remote":
            self._forward(h)

    def connection_lost(self, xid: int, *, now: float) -> None:
        if xid >= 0:
            return super().connection_lost(xid, now=now)
        h = self._held.pop(xid, None)
        if h is None:
            return
        if h.real is not None:
            self._alias.pop(h.real, None)
            super().connection_lost(h.real, now=now)
        elif h.mode == "remote" and h.home is not None:
            self.cluster._send(h.home, {"t": "l", "x": xid, "o": self.cluster.name})
            self.cluster._unwatch(h.home, xid)
        if h.task is not None and not h.task.done():
            h.task.cancel()

    def pause_writing(self, xid: int) -> None:
        if xid < 0:
            h = self._held.get(xid)
            if h is None or h.real is None:
                return
            xid = h.real
        super().pause_writing(xid)

    def resume_writing(self, xid: int, *, now: float) -> None:
        if xid < 0:
            h = self._held.get(xid)
            if h is None or h.real is None:
                return
            xid = h.real
        super().resume_writing(xid, now=now)

    def respond(self, rid: int, result: Any = None, *,
                error: tuple[int, str] | tuple[int, str, Any] | None = None, now: float) -> None:
        p = self._legacy.pending.get(rid)
        super().respond(rid, result, error=error, now=now)
        st = p.stream if p is not None else None
        if st is not None and st.finished:  # its last answer is stored: nothing is owed any more
            self.cluster._queue(("od", p.session.id, st.key))  # type: ignore[union-attr]

    # -- output -----------------------------------------------------------------------

    def next_output(self) -> Any:
        raise NotImplementedError("a cluster core is drained with next_event()")

    def next_app_event(self) -> Any:
        raise NotImplementedError("a cluster core is drained with next_event()")

    def next_event(self) -> Event | None:
        inj = self._inj
        while True:
            if inj:
                return inj.popleft()
            ev = super().next_event()
            if ev is None:
                return None
            cls = type(ev)
            if cls is ResponseHead or cls is ResponseData or cls is ResponseEnd:
                x = ev.xid  # type: ignore[attr-defined]
                if self._alias:
                    a = self._alias.get(x)
                    if a is not None:
                        ev = self._retag(ev, a)
                        if cls is ResponseEnd:
                            del self._alias[x]
                            self._held.pop(a, None)
                        x = a
                if self._dead and x in self._dead:
                    if cls is ResponseEnd:
                        self._dead.discard(x)
                    continue
                held_out = self._hold_out.get(x) if self._hold_out else None
                if held_out is not None:
                    held_out.append(ev)
                    continue
                if cls is ResponseHead and self._registers(cast(ResponseHead, ev)):
                    continue
                return ev
            if cls is RequestReceived:
                self._note_request(cast(RequestReceived, ev))
            elif cls is SessionClosed:
                sid = cast(SessionClosed, ev).session_id
                self._known.discard(sid)
            return ev

    @staticmethod
    def _retag(ev: Event, xid: int) -> Event:
        if isinstance(ev, ResponseData):
            return ResponseData(xid=xid, data=ev.data, _parsed=True)
        if isinstance(ev, ResponseHead):
            return ResponseHead(xid=xid, status=ev.status, headers=ev.headers, streaming=ev.streaming, _parsed=True)
        assert isinstance(ev, ResponseEnd)
        return ResponseEnd(xid=xid, close=ev.close, _parsed=True)

    def _registers(self, ev: ResponseHead) -> bool:
        """A new session's first head: hold its exchange's output until the registry has it."""
        sid_b = _header(ev.headers, b"mcp-session-id")
        if sid_b is None:
            return False
        sid = sid_b.decode("latin-1")
        if sid in self._known:
            return False
        s = self._legacy.sessions.get(sid)
        if s is None:
            return False
        self._known.add(sid)
        x = ev.xid
        self._hold_out[x] = [ev]
        cluster = self.cluster
        fut = cluster._register(sid, s.version, s.identity)
        timer = asyncio.get_running_loop().call_later(cluster.op_timeout * 2, fut.cancel)

        def release(_: Any) -> None:
            timer.cancel()
            held = self._hold_out.pop(x, None)
            if held is None:
                return
            if fut.cancelled() or fut.exception() is not None:
                # Not in the registry: the session cannot be served by the others. Fail closed.
                self._known.discard(sid)
                self._inj.extend(_error_events(
                    x, 503, -32000, "Service unavailable: the session store is unreachable",
                    [(b"retry-after", b"%d" % cluster.retry_after)]))
                self._dead.add(x)
                self._legacy.close_session(sid)
            else:
                self._inj.extend(held)
            cluster._drain()
        fut.add_done_callback(release)
        return True

    def _note_request(self, ev: RequestReceived) -> None:
        """Record which stream owes the answer, so that an adopter can end it with an error."""
        if ev.session_id is None:
            return
        p = self._legacy.pending.get(ev.rid)
        if p is not None and p.stream is not None:
            self.cluster._queue(("o", ev.session_id, p.stream.key, json.dumps(p.request_id)))

    # -- routing -----------------------------------------------------------------------

    async def _resolve(self, h: _Held, sid: str) -> None:
        cluster = self.cluster
        deadline = cluster._now() + 2 * cluster.lease_ttl + cluster.op_timeout
        try:
            cached = self._routes.get(sid)
            if cached is not None:
                h.mode, h.home = "remote", cached
                if not h.ended or await self._forward_now(h):
                    return
                self._routes.pop(sid, None)
                h.mode = "wait"
            while True:
                kind, home, ver, ident = await cluster._route(sid)
                if kind == 2:
                    assert ver is not None
                    await self._adopt(sid, ver, ident)
                if kind != 1 or home == cluster.name:
                    return self._go_local(h)
                h.mode, h.home = "remote", home
                assert home is not None
                if len(self._routes) >= _MAX_ROUTES:
                    del self._routes[next(iter(self._routes))]
                self._routes[sid] = home
                if not h.ended:
                    return  # forwarded at the end of the body
                if await self._forward_now(h):
                    return
                # Nobody listens on the home's channel: it is gone, its lease not
                # expired yet. Ask again until it has.
                self._routes.pop(sid, None)
                if cluster._now() > deadline:
                    raise RedisUnavailable(f"home {home} of session is unreachable")
                h.mode = "wait"
                await asyncio.sleep(min(cluster.lease_ttl / 4, 0.5))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis trouble: fail closed
            if not isinstance(exc, RedisUnavailable):
                cluster._fail(exc)
            if h.xid in self._held and h.real is None:
                h.mode = "refused"
                if h.ended:
                    self._refuse(h)

    def _go_local(self, h: _Held) -> None:
        if h.xid not in self._held:
            return  # the client left meanwhile
        now = self.cluster._now()
        real = super().receive_request(h.method, h.target, h.headers, now=now, client=h.client)
        h.real, h.mode = real, "local"
        self._alias[real] = h.xid
        body, h.body = h.body, []
        for piece in body:
            super().receive_body(real, piece)
        if h.ended:
            super().receive_end(real, now=now)
        self.cluster._drain()

    def _forward(self, h: _Held) -> None:
        h.task = self.cluster._spawn(self._forward_or_resolve(h))

    async def _forward_or_resolve(self, h: _Held) -> None:
        try:
            forwarded = await self._forward_now(h)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis slow or down: this request fails closed, it never hangs
            if not isinstance(exc, RedisUnavailable):
                self.cluster._fail(exc)
            if h.xid in self._held and h.real is None:
                h.mode = "refused"
                if h.ended:
                    self._refuse(h)
            return
        if not forwarded:
            sid = _header(h.headers, b"mcp-session-id")
            self._routes.pop((sid or b"").decode("latin-1"), None)
            h.mode = "wait"
            await asyncio.sleep(min(self.cluster.lease_ttl / 4, 0.5))
            await self._resolve(h, (sid or b"").decode("latin-1"))

    async def _forward_now(self, h: _Held) -> bool:
        """Send the whole request to its session's home; False if nobody was listening there."""
        cluster = self.cluster
        assert h.home is not None
        body = b"".join(h.body)
        msg = {"t": "q", "x": h.xid, "o": cluster.name, "m": h.method.decode("latin-1"),
               "u": h.target.decode("latin-1"), "c": h.client if isinstance(h.client, str) else None,
               "h": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in h.headers]}
        receivers = await cluster._send_counted(h.home, msg, body)
        if receivers == 0:
            return False
        h.body = []
        cluster._watch(h.home, h.xid)
        return True

    def _refuse(self, h: _Held, drain: bool = True) -> None:
        self._held.pop(h.xid, None)
        if h.too_big:
            self._inj.extend(_error_events(h.xid, 413, -32600, "Request body too large", [], close=True))
        else:
            self._inj.extend(_error_events(
                h.xid, 503, -32000, "Service unavailable: the session store is unreachable",
                [(b"retry-after", b"%d" % self.cluster.retry_after)]))
        if drain:
            self.cluster._drain()

    # -- the bus -------------------------------------------------------------------------

    def _serve_remote(self, m: dict[str, Any], body: bytes, now: float) -> None:
        """At the home: a request forwarded by the instance holding the client's socket."""
        hub = self.cluster.hub
        assert hub is not None
        origin, fx = str(m["o"]), int(m["x"])
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in m["h"][:_MAX_BUS_HEADERS]]
        if hub.auth is not None:
            # OAuth introspection: the token may be unknown here; check it as the adapter would.
            pending = hub.auth.prepare(headers)
            if pending is not None:
                self._introspecting.add((origin, fx))

                async def later() -> None:
                    try:
                        await pending
                    except Exception:  # pragma: no cover - prepare's awaitable logs its own failures
                        pass
                    self._introspecting.discard((origin, fx))
                    self._serve_remote_now(m, origin, fx, headers, body, self.cluster._now())
                    self.cluster._drain()
                self.cluster._spawn(later())
                return
        self._serve_remote_now(m, origin, fx, headers, body, now)

    def _serve_remote_now(self, m: dict[str, Any], origin: str, fx: int, headers: list[tuple[bytes, bytes]],
                          body: bytes, now: float) -> None:
        hub = self.cluster.hub
        assert hub is not None
        if (origin, fx) in self._lost_early:
            self._lost_early.discard((origin, fx))
            return  # the client left while its token was being checked
        real = super().receive_request(m["m"].encode("latin-1"), m["u"].encode("latin-1"), headers, now=now,
                                       client=m.get("c"))
        self._remote[(origin, fx)] = real
        self.cluster._watch_origin(origin, real)
        hub._route[real] = cast(Any, _RemoteConn(self.cluster, origin, fx, real))
        if body and real in self._exchanges:
            super().receive_body(real, body)
        if real in self._exchanges:
            super().receive_end(real, now=now)

    def _origin_died(self, origin: str) -> None:
        now = self.cluster._now()
        for key in [k for k in self._remote if k[0] == origin]:
            self._remote_lost({"o": origin, "x": key[1]}, now)

    def _remote_lost(self, m: dict[str, Any], now: float) -> None:
        key = (str(m["o"]), int(m["x"]))
        if key in self._introspecting:
            self._lost_early.add(key)
        real = self._remote.pop(key, None)
        if real is not None:
            self.cluster._unwatch_origin(str(m["o"]), real)
            hub = self.cluster.hub
            if hub is not None:
                hub._route.pop(real, None)
            super().connection_lost(real, now=now)

    def _remote_output(self, m: dict[str, Any], payload: bytes) -> None:
        """At the socket's instance: a piece of the home's response for a held exchange."""
        xid = int(m["x"])
        h = self._held.get(xid)
        if h is None or h.mode != "remote":
            return
        t = m["t"]
        if t == "h":
            h.head_seen = True
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in m["h"][:_MAX_BUS_HEADERS]]
            self._inj.append(ResponseHead(xid=xid, status=int(m["s"]), headers=headers, streaming=bool(m["st"]),
                                          _parsed=True))
        elif t == "d":
            self._inj.append(ResponseData(xid=xid, data=payload, _parsed=True))
        else:
            self._held.pop(xid, None)
            if h.home is not None:
                self.cluster._unwatch(h.home, xid)
            self._inj.append(ResponseEnd(xid=xid, close=bool(m.get("c")), _parsed=True))

    def _home_died(self, xid: int) -> None:
        """The home of a forwarded exchange stopped: serve it here, or end it (the client resumes)."""
        h = self._held.get(xid)
        if h is None or h.mode != "remote":
            return
        sid = _header(h.headers, b"mcp-session-id")
        self._routes.pop((sid or b"").decode("latin-1"), None)
        if not h.head_seen and h.method == b"POST":
            # Delivered, not answered: it may have run. Not run again (at most once); the
            # client retries if it wants to.
            self._held.pop(xid, None)
            code, message = HANDLER_LOST
            self._inj.extend(_error_events(xid, 503, code, message,
                                           [(b"retry-after", b"%d" % self.cluster.retry_after)]))
            return
        if not h.head_seen:  # a GET or DELETE: ask again, and serve it here if the session moved
            h.mode = "wait"
            h.task = self.cluster._spawn(self._resolve(h, (sid or b"").decode("latin-1")))
            return
        self._held.pop(xid, None)
        self._inj.append(ResponseEnd(xid=xid, close=True, _parsed=True))

    @staticmethod
    def _identity_of(ident: str | None) -> Any:
        """The adopted session's identity. A JSON identity is itself. Another object (e.g. an
        OAuth ``AccessToken``) was recorded by its ``repr``, and the session's identity becomes
        one that equals exactly the identities with that ``repr`` (SEC-10 holds as before)."""
        if not ident:
            return None
        value = json.loads(ident)
        if isinstance(value, dict) and set(value) == {_REPR_KEY}:
            return _ReprIdentity(str(value[_REPR_KEY]))
        return value

    def _disown(self, sid: str) -> None:
        """Our lease lapsed and another instance adopted ``sid``: forget it here, not in Redis."""
        self._disowned.add(sid)
        try:
            self._legacy.close_session(sid)
        finally:
            self._disowned.discard(sid)
            self._known.discard(sid)
        log.warning("session %s... is served by another instance now (this one's lease lapsed)", sid[:6])

    # -- adoption ------------------------------------------------------------------------

    async def _adopt(self, sid: str, version: str, ident: str | None) -> None:
        """Take over a session whose home died: its streams, replayable from Redis; the
        requests they still owed answers to end with :data:`HANDLER_LOST`."""
        if sid in self._legacy.sessions:
            return
        streams = await self.cluster._load_session(sid)
        if sid in self._legacy.sessions:
            return
        now = self.cluster._now()
        core = self._legacy
        identity = self._identity_of(ident)
        s = _Session(sid, identity, version, now)
        store = self.cluster.store
        top = 0
        keys = sorted(streams, key=int)
        keep = self.config.max_streams_per_session
        if len(keys) > keep:  # the newest streams, as the core itself would keep them
            keys = (["0"] if "0" in keys else []) + [k for k in keys if k != "0"][-(keep - ("0" in keys)):]
        for key in keys:
            first_kept, events, owed = streams[key]
            store._preload(sid, key, first_kept, events, now)
            st = _Stream(key, s, key == "0")
            last = events[-1][0] if events else first_kept - 1
            st.seq = last + _SKIP
            s.streams[key] = st
            if key == "0":
                s.get_stream = st
                continue
            top = max(top, int(key))
            answered = set()
            for _seq, data in events:
                if data:
                    try:
                        msg = json.loads(data)
                    except ValueError:
                        continue
                    if isinstance(msg, dict) and ("result" in msg or "error" in msg):
                        answered.add(json.dumps(msg.get("id")))
            for rid in owed:
                if rid not in answered:
                    code, message = HANDLER_LOST
                    core.streams.send(st, _jr.encode_error(json.loads(rid), code, message,
                                                           {"reason": "instance_lost"}), now)
            st.move(StreamInput.SETTLE)
        s.next_stream = top + 1
        core.sessions[sid] = s
        core._schedule(now + self.config.session_idle_timeout)
        self._known.add(sid)
        log.info("adopted session %s... (%d streams) from a stopped instance", sid[:6], len(keys))


class RedisCluster:
    """One instance's link to the others through one Redis (see :mod:`streamcore.redis`).

    Give it to one :class:`streamcore.aio.StreamableHttpServer` (``cluster=``).
    ``url``: the Redis (``redis://host:port/db``, ``rediss://`` for TLS).
    ``prefix``: of every key and channel (several deployments on one Redis).
    ``name``: this instance's (unique; default host-pid-random).
    ``lease_ttl``: seconds after which a silent instance counts as dead and its
    sessions move. ``op_timeout``: seconds any Redis call may take.
    ``retry_after``: of the 503 while Redis is unavailable.
    ``max_stream_events``, ``max_events``, ``ttl``: the event bounds per
    stream, in total and by age (Redis and the local window); ``max_bytes``:
    the local window's. ``max_pending_writes``: writes kept while Redis is
    away. ``probe_interval``: seconds between PINGs meanwhile.
    ``max_connections``: command connections to Redis (calls beyond wait). Every limit
    has a ``DEFAULT_*`` in this module.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "streamcore",
        name: str | None = None,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        op_timeout: float = DEFAULT_OP_TIMEOUT,
        retry_after: int = DEFAULT_RETRY_AFTER,
        max_stream_events: int = DEFAULT_MAX_STREAM_EVENTS,
        max_events: int = DEFAULT_STORE_MAX_EVENTS,
        max_bytes: int = DEFAULT_STORE_MAX_BYTES,
        ttl: float = DEFAULT_STORE_TTL,
        max_pending_writes: int = DEFAULT_MAX_PENDING_WRITES,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        for label, v in (("lease_ttl", lease_ttl), ("op_timeout", op_timeout), ("probe_interval", probe_interval)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
                raise ValueError(f"{label} must be a number > 0, not {v!r}")
        for label, n in (("retry_after", retry_after), ("max_stream_events", max_stream_events),
                         ("max_events", max_events), ("max_bytes", max_bytes),
                         ("max_pending_writes", max_pending_writes)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ValueError(f"{label} must be an int >= 0, not {n!r}")
        if not isinstance(max_connections, int) or isinstance(max_connections, bool) or max_connections < 1:
            raise ValueError(f"max_connections must be an int >= 1, not {max_connections!r}")
        if not isinstance(ttl, (int, float)) or not ttl >= 0:
            raise ValueError(f"ttl must be a number >= 0, not {ttl!r}")
        if not prefix or any(c in prefix for c in " \r\n"):
            raise ValueError("prefix must be a non-empty word")
        self.url = url
        self.prefix = prefix
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        if any(c in self.name for c in " \r\n:"):
            raise ValueError("name must not contain spaces, colons or line breaks")
        self.lease_ttl = float(lease_ttl)
        self.op_timeout = float(op_timeout)
        self.retry_after = retry_after
        self.max_pending_writes = max_pending_writes
        self.probe_interval = float(probe_interval)
        self.max_connections = max_connections
        self.store = RedisEventStore(self, max_bytes=max_bytes, max_events=max_events, ttl=ttl,
                                     max_stream_events=max_stream_events)
        #: True while Redis is unavailable: every request is answered 503 with Retry-After.
        self.down = False
        self.hub: StreamableHttpServer | None = None
        self._core_: _ClusterServer | None = None
        self._r: aioredis.Redis | None = None
        self._w: aioredis.Redis | None = None
        self._bus_r: aioredis.Redis | None = None
        self._ops: deque[tuple[Any, ...]] = deque()
        self._bus_ok = False  # subscribed to our channel
        self._bus_out: dict[str, list[tuple[dict[str, Any], bytes]]] = {}  # instance -> frames to send
        self._sender = f"{self.name}.{secrets.token_hex(4)}".encode()
        self._seq_out: dict[str, int] = {}  # destination ("" = everyone) -> last sequence number sent
        self._seq_in: dict[tuple[bytes, bytes], int] = {}  # (sender, channel) -> last one received
        self._dropped = 0
        self._writer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bg: list[asyncio.Task[None]] = []
        self._shas: dict[str, str] = {}
        self._watched: dict[str, set[int]] = {}  # home -> held xids forwarded to it (at the socket's instance)
        self._origins: dict[str, set[int]] = {}  # origin -> real xids served for it (at the home)
        self._closed = False
        self.sealer_key: bytes | None = None
        #: Requests sent to Redis so far, a pipeline counting once (the bus connection's reads aside).
        self.round_trips = 0
        self._last_ok = 0.0  # loop time of the last Redis call that succeeded

    # -- wiring (called by StreamableHttpServer) -------------------------------------------

    def _make_core(self, config: ServerConfig, hub: "StreamableHttpServer") -> _ClusterServer:
        if config.event_store is None:
            config.event_store = self.store
        elif config.event_store is not self.store:
            raise ValueError("with a RedisCluster, the event store is the cluster's (cluster.store)")
        if self.hub is not None:
            raise ValueError("a RedisCluster serves one StreamableHttpServer")
        self.hub = hub
        self._core_ = _ClusterServer(config, self)
        return self._core_

    async def _start(self) -> None:
        import redis.asyncio as aioredis

        # A bounded pool: a burst of lookups (a reconnect storm) queues for a connection
        # instead of opening one per request.
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url, max_connections=self.max_connections, timeout=None,  # waits are bounded by op_timeout
            socket_timeout=self.op_timeout, socket_connect_timeout=self.op_timeout)
        self._r = aioredis.Redis(connection_pool=pool)
        # The writer and the lease have a connection of their own: lookups cannot starve them.
        self._w = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
            self.url, max_connections=1, timeout=None, socket_timeout=self.op_timeout,
            socket_connect_timeout=self.op_timeout))
        # redis-py #3138: a blocking read longer than socket_timeout fails with
        # a timeout. The bus connection therefore has no socket timeout; its
        # reads are bounded by get_message(timeout=...) instead, and it PINGs
        # when idle so that a dead Redis is noticed.
        self._bus_r = aioredis.Redis.from_url(self.url, socket_timeout=None,
                                              socket_connect_timeout=self.op_timeout)
        try:
            await self._call(self._load_scripts())
            await self._call(self._r.set(self._k("inst", self.name), "1", px=int(self.lease_ttl * 1000)))
            # The registry's birth (ROUTE): "long ago" when the first instance starts, so that
            # a lookup miss is a 404 at once; only a registry lost while instances run (Redis
            # back empty, the key gone) gets the rebuild window.
            await self._call(self._r.set(self._k("epoch"), 0, nx=True))
            key = secrets.token_bytes(32)
            await self._call(self._r.set(self._k("mrtr-key"), key, nx=True))
            self.sealer_key = cast(bytes, await self._call(self._r.get(self._k("mrtr-key"))))
            bus_ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._bg = [asyncio.ensure_future(self._lease_loop()), asyncio.ensure_future(self._bus_loop(bus_ready))]
            try:
                await asyncio.wait_for(bus_ready, self.op_timeout * 5)
            except asyncio.TimeoutError as exc:
                raise RedisUnavailable("could not subscribe to the bus") from exc
        except BaseException:
            # Could not start: leave nothing behind (the caller may try again).
            for t in self._bg:
                t.cancel()
            self._bg = []
            self.down = False
            for r in (self._r, self._w, self._bus_r):
                if r is not None:
                    try:
                        await r.aclose()
                    except Exception:  # pragma: no cover - closing what never connected
                        pass
            self._r = self._w = self._bus_r = None
            raise

    async def _aclose(self) -> None:
        """Flush what is queued (bounded by op_timeout), give up the lease, close."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None and not self._writer.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), self.op_timeout)
            except (asyncio.TimeoutError, Exception):
                pass
        for t in self._bg + list(self._tasks):
            t.cancel()
        if self._r is not None and not self.down:
            try:
                await self._call(self._r.delete(self._k("inst", self.name)))
            except RedisUnavailable:
                pass
        for r in (self._r, self._w, self._bus_r):
            if r is not None:
                try:
                    await r.aclose()
                except Exception:  # pragma: no cover - closing a broken connection
                    pass

    def _crash(self) -> None:
        """Tests: stop as a killed process would (no flush, no lease release, no goodbye)."""
        self._closed = True
        for t in self._bg + list(self._tasks) + ([self._writer] if self._writer is not None else []):
            t.cancel()
        self._ops.clear()

    # -- helpers -------------------------------------------------------------------------

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix,) + parts)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _drain(self) -> None:
        if self.hub is not None:
            self.hub._drain()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    async def _call(self, aw: Any) -> Any:
        """One Redis call, bounded by op_timeout; trouble marks Redis unavailable (once started)."""
        self.round_trips += 1
        try:
            out = await asyncio.wait_for(aw, self.op_timeout)
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError as exc:
            # Slow, for this call (its request gets 503). Unavailable for everyone only when
            # nothing has succeeded lately: a burst of calls (a reconnect storm) queueing for
            # a connection is not an outage.
            if self._bg and self._now() - self._last_ok > 2 * self.op_timeout:
                self._fail(exc)
            raise RedisUnavailable("timed out") from exc
        except Exception as exc:
            if self._bg:
                self._fail(exc)
            raise RedisUnavailable(str(exc) or type(exc).__name__) from exc
        self._last_ok = self._now()
        return out

    async def _load_scripts(self) -> None:
        assert self._r is not None
        for name, src in (("append", APPEND), ("drop", DROP), ("route", ROUTE)):
            self._shas[name] = await self._r.script_load(src)

    def _fail(self, exc: BaseException) -> None:
        if self.down or self._closed:
            return
        self.down = True
        log.error("redis unavailable (%s: %s): answering 503 with Retry-After until it is back",
                  type(exc).__name__, exc)
        self._spawn(self._probe())

    async def _probe(self) -> None:
        assert self._r is not None
        while not self._closed:
            await asyncio.sleep(self.probe_interval)
            try:
                await asyncio.wait_for(self._r.ping(), self.op_timeout)
                await asyncio.wait_for(self._load_scripts(), self.op_timeout)
                await asyncio.wait_for(self._r.set(self._k("inst", self.name), "1",
                                                   px=int(self.lease_ttl * 1000)), self.op_timeout)
                if self.sealer_key is not None:
                    await asyncio.wait_for(self._r.set(self._k("mrtr-key"), self.sealer_key, nx=True),
                                           self.op_timeout)
            except asyncio.CancelledError:
                raise
            except Exception:
                continue
            self.down = False
            try:
                await self._fence()
            except Exception:
                self.down = True
                continue
            dropped, self._dropped = self._dropped, 0
            log.warning("redis reachable again: serving requests%s",
                        f" ({dropped} queued writes were dropped meanwhile)" if dropped else "")
            self._kick()
            return

    async def _fence(self) -> None:
        """After an outage or a lapsed lease: which of our sessions are still ours?

        A record naming another home means that instance adopted the session
        while we could not renew our lease: we forget it here (never two homes).
        A missing record (Redis restarted empty) is written again."""
        core = self._core_
        assert self._r is not None
        if core is None or not core._known:
            return
        sids = list(core._known)
        pipe = self._r.pipeline(transaction=False)
        for sid in sids:
            pipe.hget(self._k("s", sid), "home")
        self.round_trips += 1
        homes = await asyncio.wait_for(pipe.execute(), self.op_timeout)
        for sid, home in zip(sids, homes):
            s = core._legacy.sessions.get(sid)
            if s is None:
                continue
            if home is None:
                self._register(sid, s.version, s.identity).add_done_callback(_quiet)
            elif home.decode() != self.name:
                core._disown(sid)
        self._drain()

    # -- writes (write-behind, one pipeline at a time, in order) ---------------------------

    def _queue(self, op: tuple[Any, ...]) -> None:
        ops = self._ops
        if len(ops) >= self.max_pending_writes:
            ops.popleft()
            self._dropped += 1
            if self._dropped == 1:
                log.error("redis write queue full (%d): dropping the oldest writes", self.max_pending_writes)
        ops.append(op)
        self._kick()

    def _kick(self) -> None:
        if (self._writer is None or self._writer.done()) and not self.down and not self._closed and self._r \
                is not None:
            self._writer = asyncio.ensure_future(self._write_loop())

    def _record_ttl_ms(self) -> int:
        hub = self.hub
        idle = hub.core.config.session_idle_timeout if hub is not None else 1800.0
        return int((idle + self.lease_ttl * 2) * 1000)

    async def _write_loop(self) -> None:
        assert self._r is not None
        store = self.store
        p = self.prefix
        while (self._ops or self._bus_out) and not self.down:
            batch = list(self._ops)
            self._ops.clear()
            if self._bus_out:
                batch += self._take_bus()  # after the appends: an event is stored before it is relayed
            assert self._w is not None
            pipe = self._w.pipeline(transaction=False)
            futs: list[tuple[int, asyncio.Future[Any]]] = []
            appends: list[Any] = []
            n = 0  # commands in the pipeline so far
            wall_ms = int(time.time() * 1000)

            def flush_appends() -> None:
                nonlocal n
                if appends:
                    pipe.evalsha(self._shas["append"], 0, p, wall_ms, int(store.ttl * 1000),
                                 store.max_stream_events, store.max_events, *appends)
                    appends.clear()
                    n += 1
            # A stream opened and settled within one batch owes nothing: neither its
            # record nor its deletion need to reach Redis (the common fast request).
            settled = {(op[1], op[2]) for op in batch if op[0] == "od"}
            recorded = {(op[1], op[2]) for op in batch if op[0] == "o"} if settled else set()
            for op in batch:
                kind = op[0]
                if kind == "o" or kind == "od":
                    if (op[1], op[2]) in (settled if kind == "o" else recorded):
                        continue
                if kind == "a":
                    appends.extend((op[1], op[2], op[3], op[4], wall_ms))
                    continue
                flush_appends()
                if kind == "x":
                    pipe.evalsha(self._shas["drop"], 0, p, op[1])
                elif kind == "od":
                    pipe.delete(self._k("o", op[1], op[2]))
                elif kind == "o":
                    k = self._k("o", op[1], op[2])
                    pipe.rpush(k, op[3])
                    pipe.pexpire(k, self._record_ttl_ms())
                    n += 1
                elif kind == "p":
                    pipe.publish(op[1], op[2])
                    if op[3] is not None:
                        futs.append((n, op[3]))
                elif kind == "c":
                    pipe.execute_command(*op[1])
                    if op[2] is not None:
                        futs.append((n, op[2]))
                else:  # "f", a barrier: resolved once what precedes it is written
                    futs.append((-1, op[1]))
                    continue
                n += 1
            flush_appends()
            self.round_trips += 1
            try:
                res = await asyncio.wait_for(pipe.execute(raise_on_error=False), self.op_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._ops.extendleft(reversed(batch))
                self._fail(exc)
                return
            self._last_ok = self._now()
            if any(_noscript(r) for r in res):
                self._ops.extendleft(reversed(batch))
                try:
                    await asyncio.wait_for(self._load_scripts(), self.op_timeout)
                except Exception as exc:
                    self._fail(exc)
                    return
                continue
            for i, fut in futs:
                if not fut.done():
                    r = res[i] if 0 <= i < len(res) else None
                    if isinstance(r, Exception):
                        fut.set_exception(RedisUnavailable(str(r)))
                    else:
                        fut.set_result(r)

    def _barrier(self) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue(("f", fut))
        return fut

    def _register(self, sid: str, version: str, identity: Any) -> asyncio.Future[Any]:
        ident = _identity_record(identity)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        key = self._k("s", sid)
        self._queue(("c", ("HSET", key, "home", self.name, "ver", version, "ident", ident), None))
        self._queue(("c", ("PEXPIRE", key, self._record_ttl_ms()), fut))
        if self.down:
            fut.set_exception(RedisUnavailable("redis unavailable"))
        return fut

    # -- the bus ---------------------------------------------------------------------------

    def _send(self, to: str, msg: dict[str, Any], payload: bytes = b"") -> None:
        """A frame for instance ``to``. Frames to one instance queued in one loop iteration
        go as ONE message (head, events and end of a response, usually), in order."""
        frames = self._bus_out.get(to)
        if frames is None:
            frames = self._bus_out[to] = []
        if len(frames) >= self.max_pending_writes:
            frames.pop(0)
        msg["n"] = len(payload)
        frames.append((msg, payload))
        self._kick()

    def _stamp(self, to: str | None) -> bytes:
        """``<sender> <channel> <seq>``: a receiver drops what it has seen (a pipeline retried
        after a timeout may have been delivered the first time). The sender is this process
        (name and a random epoch), so an instance restarted under the same name starts afresh."""
        key = to or ""
        n = self._seq_out.get(key, 0) + 1
        self._seq_out[key] = n
        return b"%s %s %d\n" % (self._sender, b"d" if to is not None else b"b", n)

    def _take_bus(self) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for to, frames in self._bus_out.items():
            head = json.dumps([m for m, _ in frames]).encode()
            out.append(("p", self._k("bus", to),
                        b"".join([self._stamp(to), head, b"\n"] + [d for _, d in frames]), None))
        self._bus_out.clear()
        return out

    async def _send_counted(self, to: str, msg: dict[str, Any], payload: bytes) -> int:
        if self.down:
            raise RedisUnavailable("redis unavailable")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue(("p", self._k("bus", to), self._stamp(to) + json.dumps(msg).encode() + b"\n" + payload, fut))
        try:
            return int(await asyncio.wait_for(fut, self.op_timeout * 2))
        except asyncio.TimeoutError as exc:
            # The writer is slow (a reconnect storm queueing behind it): this request
            # fails (503), as a slow lookup does; it is not an outage for everyone.
            raise RedisUnavailable("bus publish timed out") from exc

    def _broadcast(self, method: str, params: Any) -> None:
        """``publish`` to the listen streams of every other instance (2026-07-28)."""
        self._queue(("p", self._k("bus"), self._stamp(None) + json.dumps({"t": "p", "o": self.name, "m": method}).encode()
                     + b"\n" + json.dumps(params).encode(), None))

    async def _bus_loop(self, ready: asyncio.Future[None]) -> None:
        assert self._bus_r is not None
        channels = (self._k("bus", self.name), self._k("bus"))
        while not self._closed:
            pubsub = self._bus_r.pubsub(ignore_subscribe_messages=True)
            try:
                await asyncio.wait_for(pubsub.subscribe(*channels), self.op_timeout)
                self._bus_ok = True
                if not ready.done():
                    ready.set_result(None)
                idle = 0.0
                while not self._closed:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is None:
                        idle += 1.0
                        if idle >= max(self.lease_ttl / 3, 1.0):
                            idle = 0.0
                            await asyncio.wait_for(pubsub.ping(), self.op_timeout)
                        continue
                    idle = 0.0
                    for _ in range(64):  # what has arrived already, then one drain for it all
                        if msg.get("type") == "message":
                            self._on_message(msg["data"], drain=False)
                        msg = await pubsub.get_message(timeout=0.0)
                        if msg is None:
                            break
                    self._drain()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._bus_ok = False
                if not self._closed:
                    self._fail(exc)
                    await asyncio.sleep(self.probe_interval)
            finally:
                try:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                except Exception:
                    pass

    def _on_message(self, raw: bytes, drain: bool = True) -> None:
        head, _, rest = raw.partition(b"\n")
        stamp = head.split(b" ")
        if len(stamp) == 3 and stamp[2].isdigit():
            key, n = (stamp[0], stamp[1]), int(stamp[2])
            if n <= self._seq_in.get(key, 0):
                return  # seen already
            if len(self._seq_in) >= _MAX_BUS_PEERS and key not in self._seq_in:
                self._seq_in.pop(next(iter(self._seq_in)))
            self._seq_in[key] = n
            head, _, rest = rest.partition(b"\n")
        core, hub = self._core_, self.hub
        if core is None or hub is None:
            return
        try:
            parsed = json.loads(head)
            frames = parsed if isinstance(parsed, list) else [dict(parsed, n=len(rest))]
            now = self._now()
            at = 0
            for m in frames:
                n = int(m.get("n", 0))
                payload, at = rest[at:at + n], at + n
                t = m["t"]
                if t == "q":
                    core._serve_remote(m, payload, now)
                elif t in ("h", "d", "e"):
                    core._remote_output(m, payload)
                elif t == "l":
                    core._remote_lost(m, now)
                elif t == "p":
                    if m.get("o") != self.name:
                        core.publish(str(m["m"]), json.loads(payload) if payload else None, now=now)
        except Exception as exc:  # a malformed bus message: one line, never a crash of the loop
            log.warning("malformed bus message dropped (%s: %s)", type(exc).__name__, exc)
        if drain:
            hub._drain()

    # -- ownership -------------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        assert self._r is not None
        every = self.lease_ttl / 3
        refresh_at = self._now()
        while not self._closed:
            await asyncio.sleep(every)
            if self.down or not self._bus_ok:
                # Not reachable on the bus: do not renew. If that lasts, the others take our
                # sessions over (and we give them up when we are back: _fence).
                continue
            try:
                assert self._w is not None
                pipe = self._w.pipeline(transaction=False)
                pipe.set(self._k("inst", self.name), "1", px=int(self.lease_ttl * 1000), xx=True)
                homes = list(self._watched.keys() | self._origins.keys())
                for h in homes:
                    pipe.exists(self._k("inst", h))
                core = self._core_
                now = self._now()
                if core is not None and now >= refresh_at:
                    # The registry's records outlive idleness by the idle timeout; refresh
                    # ours (sessions with a long-lived stream and no POSTs) a few times per period.
                    refresh_at = now + max(1.0, self._record_ttl_ms() / 4000)
                    for sid in core._known:
                        pipe.pexpire(self._k("s", sid), self._record_ttl_ms())
                self.round_trips += 1
                res = await asyncio.wait_for(pipe.execute(), self.op_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._fail(exc)
                continue
            if not res[0]:  # our lease had lapsed: others may have adopted our sessions
                log.warning("this instance's lease had lapsed; checking which sessions are still ours")
                try:
                    await self._call(self._r.set(self._k("inst", self.name), "1", px=int(self.lease_ttl * 1000)))
                    await self._fence()
                except Exception as exc:
                    self._fail(exc)
                    continue
            for h, alive in zip(homes, res[1:1 + len(homes)]):
                if not alive:
                    for xid in list(self._watched.pop(h, ())):
                        if core is not None:
                            core._home_died(xid)
                    # The instance holding these clients' sockets died: as a hang-up (CANCEL-01:
                    # the streams detach and stay resumable; a GET stream can be opened again).
                    if self._origins.pop(h, None) is not None and core is not None:
                        core._origin_died(h)
                    self._drain()

    def _watch(self, home: str, xid: int) -> None:
        self._watched.setdefault(home, set()).add(xid)

    def _watch_origin(self, origin: str, real: int) -> None:
        self._origins.setdefault(origin, set()).add(real)

    def _unwatch_origin(self, origin: str, real: int) -> None:
        s = self._origins.get(origin)
        if s is not None:
            s.discard(real)
            if not s:
                del self._origins[origin]

    def _unwatch(self, home: str, xid: int) -> None:
        s = self._watched.get(home)
        if s is not None:
            s.discard(xid)
            if not s:
                del self._watched[home]

    # -- the registry ----------------------------------------------------------------------

    def _rebuild_ms(self) -> int:
        """How long after Redis came back empty a missing record means "not written again
        yet" rather than "no such session": a home notices within a lease period (its
        renewal finds its lease gone, or its probe finds Redis back) and writes its
        records again at once."""
        return int((2 * self.lease_ttl + self.probe_interval + self.op_timeout) * 1000)

    async def _route(self, sid: str) -> tuple[int, str | None, str | None, str | None]:
        assert self._r is not None
        r = await self._call(self._r.evalsha(self._shas["route"], 0, self.prefix, sid, self.name,
                                             self._record_ttl_ms(), self._rebuild_ms()))
        kind = int(r[0])
        if kind == 3:
            # Redis came back empty moments ago: the session's home may not have
            # written its record again yet. 503 (Retry-After), not a 404 that
            # would make the client start over.
            raise RedisUnavailable("the session registry is being rebuilt after a Redis restart")
        dec: Callable[[Any], str | None] = lambda v: v.decode() if isinstance(v, bytes) else v  # noqa: E731
        if kind == 0:
            return 0, None, None, None
        if kind == 1:
            return 1, dec(r[1]), None, None
        return 2, dec(r[1]), dec(r[2]), dec(r[3])

    async def _load_session(self, sid: str) -> dict[str, tuple[int, list[tuple[int, bytes]], list[str]]]:
        """Every stream of a session, as stored: first kept seq, events, owed request ids."""
        assert self._r is not None
        await self._call(self._barrier()) if self._ops else None
        keys = [k.decode() for k in await self._call(self._r.smembers(self._k("k", sid)))]
        pipe = self._r.pipeline(transaction=True)  # one consistent snapshot
        for st in keys:
            pipe.hget(self._k("f", sid), st)
            pipe.xrange(self._k("e", sid, st), "-", "+")
            pipe.lrange(self._k("o", sid, st), 0, -1)
        res = await self._call(pipe.execute())
        out: dict[str, tuple[int, list[tuple[int, bytes]], list[str]]] = {}
        for i, st in enumerate(keys):
            first, entries, owed = res[3 * i:3 * i + 3]
            if not st.isdigit():
                continue
            events = [(int(eid.split(b"-")[0]), fields.get(b"d", b"")) for eid, fields in entries]
            out[st] = (int(first) if first is not None else 1, events, [o.decode() for o in owed])
        return out

    # -- introspection -----------------------------------------------------------------------

    async def stored(self, session_id: str, stream: str) -> list[tuple[int, bytes]]:
        """The events Redis holds for one stream of one session, oldest first (for tests and tools)."""
        assert self._r is not None
        await self._call(self._barrier())
        entries = await self._call(self._r.xrange(self._k("e", session_id, stream), "-", "+"))
        return [(int(eid.split(b"-")[0]), fields.get(b"d", b"")) for eid, fields in entries]

    async def total_events(self) -> int:
        """Events Redis holds over all streams."""
        assert self._r is not None
        await self._call(self._barrier())
        return int(await self._call(self._r.get(self._k("total"))) or 0)


_REPR_KEY = "streamcore.redis/repr"


class _ReprIdentity:
    """An adopted session's identity that was not a JSON value: equal to the identities whose
    ``repr`` it was (the core compares ``session.identity != request.identity``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return other.text == self.text if isinstance(other, _ReprIdentity) else repr(other) == self.text

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return self.text  # recorded again as itself if this instance dies too


def _identity_record(identity: Any) -> str:
    """How the registry keeps an identity: JSON if it is a JSON value, else its ``repr``."""
    try:
        return json.dumps(identity)
    except (TypeError, ValueError):
        return json.dumps({_REPR_KEY: repr(identity)})


def _quiet(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieved: a failed re-registration is retried at the next fence


def _noscript(r: Any) -> bool:
    return isinstance(r, Exception) and "NOSCRIPT" in str(r)

"""The machinery both era cores share: output queues, replies, SSE heads, keep-alives.

The endpoint (:mod:`streamcore._endpoint`) owns one :class:`Outbox` and one
:class:`Heartbeats` and lends them to the session-era core
(:mod:`streamcore._session`) and the per-request core
(:mod:`streamcore._modern`), so that an error body, a JSON reply, an SSE
head or a keep-alive is written one way whatever the era, with one
``omit_null_id`` and one ``heartbeat_interval``.

Output queues
-------------
HTTP output (:class:`~streamcore.events.HttpOutput`) and application events
(:class:`~streamcore.events.AppEvent`) go to two queues, so that an adapter
can drain the bytes it must write without running the application, and the
application's events without touching sockets. Order is kept within each
queue; nothing depends on the order between them.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable

from . import jsonrpc as _jr
from . import sse as _sse
from ._events import AppEvent, HttpOutput, ResponseData, ResponseEnd, ResponseHead
from ._headers import JSON, SSE, Headers
from ._states import EXCHANGE, XInput, XState, step

__all__ = ["Outbox", "Heartbeats", "Exchange", "Kit", "SSE_HEADERS", "Counter"]

#: The head fields of every SSE response, both eras.
SSE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", SSE),
    (b"cache-control", b"no-cache, no-transform"),  # HTTP-07
    (b"x-accel-buffering", b"no"),  # SRV-SSE-11: nginx must not buffer
)


class Counter:
    """Allocates the ints that name exchanges (xid) and requests (rid): 1, 2, 3, ..."""

    __slots__ = ("next",)

    def __init__(self) -> None:
        self.next = 1

    def __call__(self) -> int:
        n = self.next
        self.next = n + 1
        return n

    def issued(self, n: int) -> bool:
        """Was ``n`` ever handed out?"""
        return 0 < n < self.next


class Exchange:
    """One HTTP request/response, as the endpoint and both cores see it.

    The endpoint fills the head part and moves ``state`` through
    :data:`streamcore._states.EXCHANGE`; the core that serves the exchange
    uses the rest (``session``/``stream``/``owed``/``replies`` in the session
    era, ``call`` in the per-request era).
    """

    __slots__ = (
        "xid", "method", "target", "client", "headers", "fields", "state", "body", "size", "identity",
        "era", "session", "stream", "owed", "replies", "is_batch",
    )

    def __init__(self, xid: int, method: bytes, target: bytes, headers: Headers, client: Any) -> None:
        self.xid = xid
        self.method = method
        self.target = target
        self.client = client
        self.headers = headers
        self.fields: dict[bytes, bytes] = {}
        self.state = XState.BODY
        # Body pieces as they arrived; joined once at the end (usually a single
        # piece, which then needs no copy at all).
        self.body: list[bytes] = []
        self.size = 0
        self.identity: Any = None
        self.era: str | None = None  # "legacy" or "modern" once routed
        self.session: Any = None
        self.stream: Any = None
        # Session-era JSON mode: rids still owed, and encoded replies so far.
        self.owed: set[int] = set()
        self.replies: list[bytes] = []
        self.is_batch = False

    def move(self, event: XInput) -> None:
        self.state = step(EXCHANGE, self.state, event, "exchange", self.xid)


class Outbox:
    """The two output queues, and the one way each kind of reply is written."""

    __slots__ = ("out", "app", "omit_null_id")

    def __init__(self, *, omit_null_id: bool) -> None:
        self.out: deque[HttpOutput] = deque()
        self.app: deque[AppEvent] = deque()
        self.omit_null_id = omit_null_id

    # -- raw output (events the core builds skip validation: _parsed=True) --

    def head(self, xid: int, status: int, headers: list[tuple[bytes, bytes]], streaming: bool = False) -> None:
        self.out.append(ResponseHead(xid=xid, status=status, headers=headers, streaming=streaming, _parsed=True))

    def data(self, xid: int, data: bytes) -> None:
        self.out.append(ResponseData(xid=xid, data=data, _parsed=True))

    def end(self, xid: int, close: bool = False) -> None:
        self.out.append(ResponseEnd(xid=xid, close=close, _parsed=True))

    def emit(self, event: AppEvent) -> None:
        self.app.append(event)

    # -- whole replies ----------------------------------------------------------

    def json(self, xid: int, status: int, body: bytes, extra: Iterable[tuple[bytes, bytes]] = (),
             *, close: bool = False) -> None:
        """A complete ``application/json`` response."""
        headers = [(b"content-type", JSON), (b"content-length", b"%d" % len(body))]
        headers.extend(extra)
        self.head(xid, status, headers)
        self.data(xid, body)
        self.end(xid, close)

    def error(
        self, xid: int, status: int, rid: Any, code: int, message: str, data: Any = None,
        extra: Iterable[tuple[bytes, bytes]] = (), *, close: bool = False,
    ) -> None:
        """An HTTP error with a JSON-RPC error body: ``id`` is the request's when
        known, else null, or absent with ``omit_null_id`` (SRV-POST-03, AMB-03)."""
        body = _jr.encode_error(rid, code, message, data, omit_null_id=self.omit_null_id)
        self.json(xid, status, body, extra, close=close)

    def accepted(self, xid: int, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        """202 with no body (SRV-POST-01, HTTP-02)."""
        headers = [(b"content-length", b"0")]
        headers.extend(extra)
        self.head(xid, 202, headers)
        self.end(xid)

    def sse_head(self, xid: int, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        """The head of an SSE response (HTTP-07, SRV-SSE-11)."""
        headers = list(SSE_HEADERS)
        headers.extend(extra)
        self.head(xid, 200, headers, True)


class Heartbeats:
    """SSE keep-alives for every streaming exchange of both eras (SRV-SSE-12).

    A core calls :meth:`start` when an SSE head goes out, :meth:`wrote` on
    every write, :meth:`stop` when the response ends; :meth:`due` lists the
    exchanges silent for ``interval`` seconds. ``interval`` None switches
    keep-alives off everywhere. :attr:`wake` is O(1) and may be early (a
    deadline traffic has since pushed back), never late.
    """

    __slots__ = ("interval", "last", "muted", "wake")

    def __init__(self, interval: float | None) -> None:
        self.interval = interval
        self.last: dict[int, float] = {}  # xid -> time of the last write
        self.muted: set[int] = set()  # paused listens: no keep-alive while their output queues
        self.wake: float | None = None

    def start(self, xid: int, now: float) -> None:
        if self.interval is None:
            return
        self.last[xid] = now
        t = now + self.interval
        if self.wake is None or t < self.wake:
            self.wake = t

    def wrote(self, xid: int, now: float) -> None:
        if xid in self.last:
            self.last[xid] = now

    def stop(self, xid: int) -> None:
        self.last.pop(xid, None)
        self.muted.discard(xid)

    def due(self, now: float) -> list[int]:
        """The exchanges that need a keep-alive now (their clocks restart); recomputes :attr:`wake`."""
        hb = self.interval
        if hb is None:
            self.wake = None
            return []
        out: list[int] = []
        wake: float | None = None
        last = self.last
        for xid, t in last.items():
            if t + hb <= now:
                if xid not in self.muted:
                    out.append(xid)
                last[xid] = t = now  # a muted stream needs none now; its clock restarts too
            nxt = t + hb
            if wake is None or nxt < wake:
                wake = nxt
        self.wake = wake
        return out

    @staticmethod
    def comment() -> bytes:
        return _sse.encode_comment()


class Kit:
    """What the endpoint lends each era core: the queues, the keep-alives, the
    exchange registry and the rid allocator, with the verbs that keep them
    consistent (an exchange leaves the registry exactly when its response
    ends, and its keep-alive clock with it)."""

    __slots__ = ("outbox", "heartbeats", "exchanges", "new_rid", "cancelled", "max_cancelled")

    def __init__(self, outbox: Outbox, heartbeats: Heartbeats, exchanges: dict[int, Exchange],
                 new_rid: Counter, *, max_cancelled: int) -> None:
        self.outbox = outbox
        self.heartbeats = heartbeats
        self.exchanges = exchanges
        self.new_rid = new_rid
        # rids cancelled before the application answered, oldest first: a late
        # answer to one is ignored (CANCEL-05), any other answer to an rid no
        # longer in flight is a second answer (LocalProtocolError). Bounded.
        self.cancelled: dict[int, None] = {}
        self.max_cancelled = max_cancelled

    def cancel(self, rid: int) -> None:
        """Remember that ``rid`` was cancelled (bounded: the oldest is forgotten first)."""
        c = self.cancelled
        c[rid] = None
        if len(c) > self.max_cancelled:
            del c[next(iter(c))]

    def end(self, x: Exchange, *, close: bool = False) -> None:
        """End ``x``'s response and retire it."""
        self.outbox.end(x.xid, close)
        self.retire(x)

    def retire(self, x: Exchange) -> None:
        """Forget ``x`` (its response ended, or the peer went away)."""
        if x.state is not XState.DONE:
            x.move(XInput.FINISH if x.state is not XState.REJECTED else XInput.END)
        self.heartbeats.stop(x.xid)
        self.exchanges.pop(x.xid, None)

    def reject(
        self, x: Exchange, status: int, code: int, message: str, *, rid: Any = None, data: Any = None,
        extra: Iterable[tuple[bytes, bytes]] = (), close: bool = False,
    ) -> None:
        """Answer ``x`` with an HTTP error and a JSON-RPC error body.

        From the head alone (``x`` still in BODY), the exchange stays known
        as REJECTED until the adapter ends the body, which is read and
        dropped; otherwise it is retired at once.
        """
        self.outbox.error(x.xid, status, rid, code, message, data, extra, close=close)
        if x.state is XState.BODY:
            x.move(XInput.REJECT)
            x.body = []
        else:
            self.retire(x)

    def json(self, x: Exchange, status: int, body: bytes, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self.outbox.json(x.xid, status, body, extra)
        self.retire(x)

    def accepted(self, x: Exchange, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self.outbox.accepted(x.xid, extra)
        self.retire(x)

    def stream(self, x: Exchange, extra: Iterable[tuple[bytes, bytes]], now: float) -> None:
        """Start ``x``'s SSE response (and its keep-alive clock)."""
        x.move(XInput.STREAM)
        self.outbox.sse_head(x.xid, extra)
        self.heartbeats.start(x.xid, now)

    def write(self, x: Exchange, data: bytes, now: float) -> None:
        self.outbox.data(x.xid, data)
        self.heartbeats.wrote(x.xid, now)

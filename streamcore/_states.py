"""The server core's state machines, as tables.

Theory of operation
===================

Four things in the server core have a life cycle: an HTTP *exchange*, an SSE
*stream* of the session era, a *session*, and a 2026-07-28 *listen* stream.
Each has a table here mapping ``(state, input)`` to the next state; the cores
move their objects only through :func:`step`, so the table *is* the
behaviour, not a description of it. An input that has no entry for the
current state is misuse of the core (an adapter feeding body bytes after the
end, an application answering a request twice, ...): :func:`step` raises
:class:`~streamcore.LocalProtocolError` and the object keeps its state.

Tests walk every state x input pair (``tests/internal/test_states.py``), and
the state diagrams in ``docs/design.md`` are generated from these tables
(``python -m streamcore._states --write docs/design.md``; a test fails when
the doc is stale).

Exchange (one HTTP request/response)
------------------------------------
``BODY`` (head accepted, body arriving) -> ``PROCESSING`` at the end of the
body -> ``WAITING`` (a JSON reply being prepared: the session era's JSON mode,
or a 2026-07-28 request whose reply format is still open) or ``STREAMING``
(an SSE response) -> ``DONE``. ``REJECTED``: answered from the head alone;
the rest of the body is read and dropped until the end. ``LOST`` (the peer
went away) ends any state; ``DONE`` absorbs a late ``LOST``.

Stream (session era: a POST's SSE stream or the session's GET stream)
---------------------------------------------------------------------
``DETACHED`` (no connection carries it; with an event store its output is
kept) <-> ``ATTACHED``; a POST stream whose last owed response was sent is
``FINISHED`` (SRV-SSE-07) and can still be replayed.

Session (session era)
---------------------
``LIVE`` -> ``CLOSED`` by DELETE, expiry, ``close_session`` or a failed
initialize; a closed session's id gets 404 (SRV-SESS-05).

Listen (2026-07-28 ``subscriptions/listen``)
---------------------------------------------
``OPEN`` <-> ``PAUSED`` (the adapter's flow control; output queues, bounded)
-> ``CLOSED`` by ``close_listen``, by overflow while paused, or by the client
going away.
"""

from __future__ import annotations

import enum
import sys
from typing import Mapping, TypeVar

from ._errors import LocalProtocolError

__all__ = [
    "XState",
    "XInput",
    "StreamState",
    "StreamInput",
    "SessionState",
    "SessionInput",
    "ListenState",
    "ListenInput",
    "EXCHANGE",
    "STREAM",
    "SESSION",
    "LISTEN",
    "TABLES",
    "step",
    "render_mermaid",
]


class _Enum(enum.Enum):
    """States and inputs hash by identity: ``step`` looks up a ``(state, input)``
    pair on every move of every exchange, and ``Enum.__hash__`` (a Python-level
    ``hash(self._name_)``) was a visible share of the request path. Members are
    singletons compared by identity, so identity hashing is equivalent."""

    __hash__ = object.__hash__


class XState(_Enum):
    BODY = "BODY"
    REJECTED = "REJECTED"
    PROCESSING = "PROCESSING"
    WAITING = "WAITING"
    STREAMING = "STREAMING"
    DONE = "DONE"


class XInput(_Enum):
    DATA = "DATA"  # receive_body
    END = "END"  # receive_end
    REJECT = "REJECT"  # an error answer from the head alone
    WAIT = "WAIT"  # the answer will come later, as JSON unless a stream starts
    STREAM = "STREAM"  # an SSE head went out
    FINISH = "FINISH"  # the response ended
    LOST = "LOST"  # connection_lost


_X = XState
_XI = XInput
EXCHANGE: Mapping[tuple[XState, XInput], XState] = {
    (_X.BODY, _XI.DATA): _X.BODY,
    (_X.BODY, _XI.END): _X.PROCESSING,
    (_X.BODY, _XI.REJECT): _X.REJECTED,
    (_X.BODY, _XI.LOST): _X.DONE,
    (_X.REJECTED, _XI.DATA): _X.REJECTED,
    (_X.REJECTED, _XI.END): _X.DONE,
    (_X.REJECTED, _XI.LOST): _X.DONE,
    (_X.PROCESSING, _XI.WAIT): _X.WAITING,
    (_X.PROCESSING, _XI.STREAM): _X.STREAMING,
    (_X.PROCESSING, _XI.FINISH): _X.DONE,
    (_X.PROCESSING, _XI.LOST): _X.DONE,
    (_X.WAITING, _XI.STREAM): _X.STREAMING,
    (_X.WAITING, _XI.FINISH): _X.DONE,
    (_X.WAITING, _XI.LOST): _X.DONE,
    (_X.STREAMING, _XI.FINISH): _X.DONE,
    (_X.STREAMING, _XI.LOST): _X.DONE,
    (_X.DONE, _XI.LOST): _X.DONE,
}


class StreamState(_Enum):
    DETACHED = "DETACHED"
    ATTACHED = "ATTACHED"
    FINISHED = "FINISHED"


class StreamInput(_Enum):
    ATTACH = "ATTACH"  # a connection takes the stream (the POST itself, a GET, a resume)
    DETACH = "DETACH"  # the connection ended or was closed (polling, hang-up)
    SETTLE = "SETTLE"  # the last response a POST stream owed was sent


_S = StreamState
_SI = StreamInput
STREAM: Mapping[tuple[StreamState, StreamInput], StreamState] = {
    (_S.DETACHED, _SI.ATTACH): _S.ATTACHED,
    (_S.DETACHED, _SI.SETTLE): _S.FINISHED,
    (_S.ATTACHED, _SI.ATTACH): _S.ATTACHED,  # allow_concurrent_get: a newer connection takes over
    (_S.ATTACHED, _SI.DETACH): _S.DETACHED,
    (_S.ATTACHED, _SI.SETTLE): _S.FINISHED,
    (_S.FINISHED, _SI.ATTACH): _S.FINISHED,  # a resume replays the rest, then ends at once
    (_S.FINISHED, _SI.DETACH): _S.FINISHED,
}


class SessionState(_Enum):
    LIVE = "LIVE"
    CLOSED = "CLOSED"


class SessionInput(_Enum):
    USE = "USE"  # a request names the session
    CLOSE = "CLOSE"  # DELETE, expiry, close_session, failed initialize


SESSION: Mapping[tuple[SessionState, SessionInput], SessionState] = {
    (SessionState.LIVE, SessionInput.USE): SessionState.LIVE,
    (SessionState.LIVE, SessionInput.CLOSE): SessionState.CLOSED,
    (SessionState.CLOSED, SessionInput.CLOSE): SessionState.CLOSED,
}


class ListenState(_Enum):
    OPEN = "OPEN"
    PAUSED = "PAUSED"
    CLOSED = "CLOSED"


class ListenInput(_Enum):
    PAUSE = "PAUSE"  # pause_writing
    RESUME = "RESUME"  # resume_writing
    CLOSE = "CLOSE"  # close_listen (graceful, with the completion result)
    OVERFLOW = "OVERFLOW"  # the paused queue would exceed its bound
    LOST = "LOST"  # the client closed the stream


_L = ListenState
_LI = ListenInput
LISTEN: Mapping[tuple[ListenState, ListenInput], ListenState] = {
    (_L.OPEN, _LI.PAUSE): _L.PAUSED,
    (_L.OPEN, _LI.RESUME): _L.OPEN,
    (_L.OPEN, _LI.CLOSE): _L.CLOSED,
    (_L.OPEN, _LI.LOST): _L.CLOSED,
    (_L.PAUSED, _LI.PAUSE): _L.PAUSED,
    (_L.PAUSED, _LI.RESUME): _L.OPEN,
    (_L.PAUSED, _LI.CLOSE): _L.CLOSED,
    (_L.PAUSED, _LI.OVERFLOW): _L.CLOSED,
    (_L.PAUSED, _LI.LOST): _L.CLOSED,
    (_L.CLOSED, _LI.LOST): _L.CLOSED,
}

#: name -> (table, state enum, input enum, initial state), for tests and the doc generator.
TABLES: Mapping[str, tuple[Mapping[tuple[enum.Enum, enum.Enum], enum.Enum], type[enum.Enum], type[enum.Enum], enum.Enum]] = {
    "exchange": (EXCHANGE, XState, XInput, XState.BODY),  # type: ignore[dict-item]
    "stream": (STREAM, StreamState, StreamInput, StreamState.DETACHED),  # type: ignore[dict-item]
    "session": (SESSION, SessionState, SessionInput, SessionState.LIVE),  # type: ignore[dict-item]
    "listen": (LISTEN, ListenState, ListenInput, ListenState.OPEN),  # type: ignore[dict-item]
}

S = TypeVar("S", bound=enum.Enum)
I = TypeVar("I", bound=enum.Enum)


def step(table: Mapping[tuple[S, I], S], state: S, event: I, what: str = "object", name: object = None) -> S:
    """The state after ``event`` in ``state``; :class:`LocalProtocolError` if the table has no such move.

    ``what`` and ``name`` label the object in that error (``"exchange", 7`` reads
    "exchange 7"); they are joined only when the error is raised, since a move is
    on every request's path."""
    try:
        return table[(state, event)]
    except KeyError:
        label = what if name is None else f"{what} {name}"
        raise LocalProtocolError(f"{label}: {event.value} is not allowed in state {state.value}") from None


def render_mermaid(name: str) -> str:
    """A Mermaid ``stateDiagram-v2`` of one table, edges in the table's order."""
    table, _states, _inputs, initial = TABLES[name]
    lines = ["stateDiagram-v2", f"    [*] --> {initial.value}"]
    for (src, inp), dst in table.items():
        lines.append(f"    {src.value} --> {dst.value}: {inp.value}")
    return "\n".join(lines)


_BEGIN = "<!-- state diagrams: generated by `python -m streamcore._states --write docs/design.md` -->"
_END = "<!-- end of generated state diagrams -->"


def render_section() -> str:
    """The generated block of ``docs/design.md``: one diagram per table."""
    parts = [_BEGIN, ""]
    for name in TABLES:
        parts += [f"### {name.capitalize()}", "", "```mermaid", render_mermaid(name), "```", ""]
    parts.append(_END)
    return "\n".join(parts)


def replace_section(doc: str) -> str:
    """``doc`` with its generated block replaced by the current one (appended if missing)."""
    start, end = doc.find(_BEGIN), doc.find(_END)
    if start == -1 or end == -1:
        return doc.rstrip("\n") + "\n\n" + render_section() + "\n"
    return doc[:start] + render_section() + doc[end + len(_END):]


if __name__ == "__main__":  # pragma: no cover - the doc generator
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        path = sys.argv[2]
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(replace_section(text))
    else:
        print(render_section())

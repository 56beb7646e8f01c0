"""A bounded in-memory event store for the SDK's own transport (tests and benches only).

The ``mcp`` package defines the ``EventStore`` interface but ships no
implementation; the SDK side of the conformance comparison needs one so that
the resumability scenarios test both transports on equal terms.
"""

from __future__ import annotations

from collections import OrderedDict

from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp_types import JSONRPCMessage


class MemoryStore(EventStore):
    """Events per stream, oldest dropped past ``max_events``."""

    def __init__(self, max_events: int = 10_000) -> None:
        self._events: OrderedDict[str, tuple[str, JSONRPCMessage | None]] = OrderedDict()
        self._next = 0
        self._max = max_events

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        self._next += 1
        eid = str(self._next)
        self._events[eid] = (stream_id, message)
        while len(self._events) > self._max:
            self._events.popitem(last=False)
        return eid

    async def replay_events_after(self, last_event_id: str, send_callback: EventCallback) -> str | None:
        if last_event_id not in self._events:
            return None
        stream_id = self._events[last_event_id][0]
        after = False
        for eid, (sid, msg) in list(self._events.items()):
            if after and sid == stream_id and msg is not None:
                await send_callback(EventMessage(msg, eid))
            if eid == last_event_id:
                after = True
        return stream_id

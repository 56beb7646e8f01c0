"""Pure pieces shared by both SSE twins: limits, constants and the event ABC.

Both ``_sse_py`` and ``_sse_c`` import this module, so a limit or a constant
can never drift between them.
"""

from __future__ import annotations

import abc

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "DEFAULT_MAX_LINE_SIZE",
    "MAX_RETRY",
    "SseEventBase",
    "check_limit",
]

#: Largest ``data`` of one event, in bytes as received (the values of its
#: ``data:`` lines joined with LF). 4 MiB: the same bound streamcore's server
#: puts on one JSON-RPC body (``streamcore._server.DEFAULT_MAX_BODY_SIZE``), so
#: every message a streamcore server accepts can also travel back as one event. (Precedent: the MCP Python SDK 2.3.0
#: client caps SSE events at 1 MiB, ``DEFAULT_MAX_SSE_EVENT_SIZE``; we allow
#: more because tool results with embedded images easily exceed 1 MiB.)
DEFAULT_MAX_EVENT_SIZE: int = 4 * 1024 * 1024

#: Longest line, in bytes, without its terminator. One ``data:`` line carries a
#: whole compact-JSON message, so the line limit is the event limit plus room
#: for the longest field prefix, ``"data: "``: any event that fits the event
#: limit fits on one line. (Precedent: h11 bounds an incomplete unit by one
#: ``max_incomplete_event_size``; we bound the unit, a line, the same way.)
DEFAULT_MAX_LINE_SIZE: int = DEFAULT_MAX_EVENT_SIZE + len("data: ")

#: A ``retry`` value above this is ignored by the decoder (as if malformed) and
#: rejected by the encoder. WHATWG only says "ASCII digits" and sets no bound;
#: capping at the largest unsigned 64-bit value keeps the compiled twin's
#: parser in a machine integer and ``int()`` away from Python's 4300-digit
#: conversion limit. No sane reconnection time comes near 2**64 ms.
MAX_RETRY: int = 2**64 - 1


class SseEventBase(abc.ABC):
    """Every decoded SSE event, whichever twin built it, is an instance of this.

    The pure twin's ``SseEvent`` and the compiled twin's ``SseEvent`` are
    distinct classes; both register here, and each one's ``__eq__`` accepts
    the other, so events from the two twins compare equal when their
    ``event``, ``data``, ``id`` and ``retry`` are equal.
    """

    __slots__ = ()


def check_limit(name: str, value: object) -> int:
    """Validate a ``max_*`` keyword setting: a positive ``int`` (not ``bool``)."""
    if type(value) is not int or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value

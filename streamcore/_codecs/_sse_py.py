"""Server-sent events codec, pure-Python twin (the reference).

Decoder: the WHATWG HTML "event stream interpretation" algorithm (9.2.5 and
9.2.6), incremental, with two size limits. Encoder: the ABNF of 9.2.5, with
the obligations of ``spec/streamable-http.md`` section 3.2.

Theory of operation (decoder)
-----------------------------
WHATWG decodes the byte stream to text first and splits lines second. Line
terminators (CR, LF) are ASCII, and the WHATWG UTF-8 decoder never lets a
malformed sequence swallow an ASCII byte, so splitting the *bytes* at CR/LF
and decoding each line on its own gives the very same text. We therefore keep
bytes until a line is complete, and a multibyte character split across two
reads is decoded whole.

The only inbound buffer holds the unterminated tail of the input (a partial
line, which never contains CR or LF). Each read is scanned a fixed number of
times (a test for CR, then one split) and the buffered tail is never scanned
again, so decoding is linear in the input however it is split.

Nothing else is buffered except the pending event's data (bounded by
``max_event_size``) and its type and id (each bounded by ``max_line_size``).
"""

from __future__ import annotations

import re

from .._errors import LocalProtocolError, SseDecodeError
from ._sse_common import (
    DEFAULT_MAX_EVENT_SIZE,
    DEFAULT_MAX_LINE_SIZE,
    MAX_RETRY,
    SseEventBase,
    check_limit,
)

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "DEFAULT_MAX_LINE_SIZE",
    "MAX_RETRY",
    "SseDecoder",
    "SseEvent",
    "encode_comment",
    "encode_event",
    "encode_event_chunk",
    "encode_priming",
]

_BOM = b"\xef\xbb\xbf"
# A line ends at CRLF, CR or LF (WHATWG 9.2.5); also how the encoder splits data.
_BREAK = re.compile(rb"\r\n|\r|\n")


class SseEvent:
    """One dispatched SSE event (WHATWG 9.2.6, "dispatch the event").

    ``event`` is the type (``"message"`` when the stream sent none), ``data``
    the data with its lines joined by LF, ``id`` the last event ID string in
    force at dispatch (``""`` if none), and ``retry`` the value of a valid
    ``retry`` field seen in this event's block, else ``None``. All text is
    ``str``, decoded as WHATWG UTF-8 (malformed bytes become U+FFFD).
    Instances are immutable, hashable, and compare equal to events of the
    other twin with equal fields.
    """

    __slots__ = ("event", "data", "id", "retry")

    event: str
    data: str
    id: str
    retry: int | None

    def __init__(
        self, data: str, *, event: str = "message", id: str = "", retry: int | None = None
    ) -> None:
        sa = object.__setattr__
        sa(self, "data", data)
        sa(self, "event", event)
        sa(self, "id", id)
        sa(self, "retry", retry)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"SseEvent is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"SseEvent is immutable; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SseEventBase):
            return NotImplemented
        return bool(
            self.data == other.data  # type: ignore[attr-defined]
            and self.event == other.event  # type: ignore[attr-defined]
            and self.id == other.id  # type: ignore[attr-defined]
            and self.retry == other.retry  # type: ignore[attr-defined]
        )

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash((self.event, self.data, self.id, self.retry))

    def __repr__(self) -> str:
        return (
            f"SseEvent(event={self.event!r}, data={self.data!r}, "
            f"id={self.id!r}, retry={self.retry!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.data, self.event, self.id, self.retry))


def _rebuild(data: str, event: str, id: str, retry: int | None) -> SseEvent:
    return SseEvent(data, event=event, id=id, retry=retry)


SseEventBase.register(SseEvent)

# The decoder builds events through the slot descriptors, skipping __init__'s
# keyword parsing and object.__setattr__: about 2.5x cheaper per event.
_new_object = object.__new__
# (getattr: the slot descriptors, which type checkers see as the annotated fields.)
_set_data = getattr(SseEvent, "data").__set__
_set_event = getattr(SseEvent, "event").__set__
_set_id = getattr(SseEvent, "id").__set__
_set_retry = getattr(SseEvent, "retry").__set__


def _text(b: bytes | bytearray | memoryview) -> str:
    # WHATWG "UTF-8 decode" (Encoding Standard 4.1). CPython's "replace"
    # handler substitutes one U+FFFD per maximal subpart, as WHATWG does.
    return str(b, "utf-8", "replace")


class SseDecoder:
    """Incremental ``text/event-stream`` decoder (WHATWG HTML 9.2.5-9.2.6).

    ``feed(data)`` returns the events completed by ``data``; ``close()``
    ends the stream (discarding an unfinished event, WHATWG 9.2.6) and returns
    ``[]``. ``last_event_id`` is the last event ID string and ``retry`` the
    reconnection time in milliseconds (``None`` until the stream sets one).

    A line longer than ``max_line_size`` bytes or an event whose data exceeds
    ``max_event_size`` bytes raises :class:`~streamcore.SseDecodeError`;
    the decoder is then broken, and every later call raises again.
    """

    __slots__ = (
        "_max_line",
        "_max_event",
        "_last_event_id",
        "_retry",
        "_buf",
        "_bom",
        "_skip_lf",
        "_data",
        "_data_size",
        "_type",
        "_id",
        "_block_retry",
        "_error",
    )

    def __init__(
        self,
        *,
        max_line_size: int = DEFAULT_MAX_LINE_SIZE,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        self._max_line = check_limit("max_line_size", max_line_size)
        self._max_event = check_limit("max_event_size", max_event_size)
        self._last_event_id = ""
        self._retry: int | None = None
        # the unterminated tail of the input: never contains CR or LF
        self._buf = bytearray()
        # how many bytes of a leading BOM have matched so far; -1 once decided
        self._bom = 0
        # the previous read ended in CR: drop one LF if it comes next (WHATWG 9.2.5)
        self._skip_lf = False
        # data lines of the pending event (None: no data line yet)
        self._data: list[str] | None = None
        # bytes in the data buffer, counting one LF per data line
        self._data_size = 0
        self._type = ""
        # the last-event-ID buffer (WHATWG 9.2.6); persists across events
        self._id = ""
        self._block_retry: int | None = None
        self._error: SseDecodeError | None = None

    # -- public API ---------------------------------------------------------

    @property
    def max_line_size(self) -> int:
        """The line limit in bytes (read-only)."""
        return self._max_line

    @property
    def max_event_size(self) -> int:
        """The event data limit in bytes (read-only)."""
        return self._max_event

    @property
    def last_event_id(self) -> str:
        """The last event ID string (WHATWG 9.2.3); only a dispatch sets it."""
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        """The reconnection time in ms, set as soon as a valid ``retry`` line ends."""
        return self._retry

    def feed(self, data: bytes | bytearray | memoryview) -> list[SseEvent]:
        """Decode the next bytes of the stream; return the events they complete."""
        if self._error is not None:
            raise SseDecodeError(f"decoder failed earlier: {self._error}")
        mv = memoryview(data).cast("B")
        try:
            return self._feed(mv)
        except SseDecodeError as exc:
            self._error = exc
            raise

    def close(self) -> list[SseEvent]:
        """End of stream: discard a partial line and an undispatched event (WHATWG 9.2.6)."""
        if self._error is not None:
            raise SseDecodeError(f"decoder failed earlier: {self._error}")
        self._buf.clear()
        self._data = None
        self._data_size = 0
        self._type = ""
        self._block_retry = None
        self._skip_lf = False
        return []

    # -- internals ----------------------------------------------------------

    def _feed(self, mv: memoryview) -> list[SseEvent]:
        n = len(mv)
        pos = 0
        # bom: WHATWG UTF-8 decode strips one BOM at offset 0 of the stream only
        if self._bom >= 0:
            k = self._bom
            while pos < n and k < 3:
                if mv[pos] != _BOM[k]:
                    # not a BOM after all: the bytes matched so far are content
                    # (EF/BB, never a terminator) and start the partial line
                    self._buf += _BOM[:k]
                    k = -1
                    break
                k += 1
                pos += 1
            if k == 3:
                k = -1
            self._bom = k
            if k >= 0:
                return []
        events: list[SseEvent] = []
        if self._skip_lf and pos < n:
            # the CR ending the previous read was half of a CRLF
            if mv[pos] == 0x0A:
                pos += 1
            self._skip_lf = False
        if pos == n:
            return events
        # a bytes read is used as is; anything else is copied once (bounded by the read)
        obj = mv.obj
        chunk = obj if pos == 0 and type(obj) is bytes and len(obj) == n else bytes(mv[pos:])
        # Split the whole read at once: bytes.split runs in C and is linear;
        # the regex is needed only when a CR is present (CR and CRLF end lines
        # too, WHATWG 9.2.5). The last piece is the unterminated tail (b"" if
        # the read ended with a terminator).
        lines = _BREAK.split(chunk) if b"\r" in chunk else chunk.split(b"\n")
        tail = lines.pop()
        buf = self._buf
        max_line = self._max_line
        if len(lines):
            if chunk[-1] == 0x0D and not tail:
                # CR ends the line now; a LF at the start of the next read is dropped
                self._skip_lf = True
            if buf:
                # the first line began in an earlier read
                if len(buf) + len(lines[0]) > max_line:
                    raise SseDecodeError(f"SSE line longer than {max_line} bytes")
                lines[0] = bytes(buf) + lines[0]
                buf.clear()
            line_ = self._line
            for line in lines:
                if len(line) > max_line:
                    raise SseDecodeError(f"SSE line longer than {max_line} bytes")
                line_(line, events)
        # tail: check the limit before growing the buffer
        if len(buf) + len(tail) > max_line:
            raise SseDecodeError(f"SSE line longer than {max_line} bytes")
        buf += tail
        return events

    def _line(self, line: bytes, events: list[SseEvent]) -> None:
        # WHATWG 9.2.6: interpret one complete line
        if not line:
            self._dispatch(events)
            return
        if line[0] == 0x3A:  # ":" comment
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            size = self._data_size + len(value) + 1
            # the data buffer minus its final LF must fit the limit
            if size - 1 > self._max_event:
                raise SseDecodeError(f"SSE event data larger than {self._max_event} bytes")
            self._data_size = size
            if self._data is None:
                self._data = [_text(value)]
            else:
                self._data.append(_text(value))
        elif name == b"id":
            if b"\x00" not in value:
                self._id = _text(value)
        elif name == b"event":
            self._type = _text(value)
        elif name == b"retry":
            # ASCII digits only; empty is ignored (AMB-06); overflow ignored
            if value and value.isdigit():
                r = _parse_retry(value)
                if r is not None:
                    self._retry = r
                    self._block_retry = r
        # any other field name is ignored

    def _dispatch(self, events: list[SseEvent]) -> None:
        # WHATWG 9.2.6 "dispatch the event"
        self._last_event_id = self._id
        data = self._data
        if data is not None:
            ev = _new_object(SseEvent)
            _set_data(ev, data[0] if len(data) == 1 else "\n".join(data))
            _set_event(ev, self._type or "message")
            _set_id(ev, self._id)
            _set_retry(ev, self._block_retry)
            events.append(ev)
        self._data = None
        self._data_size = 0
        self._type = ""
        self._block_retry = None


def _parse_retry(value: bytes) -> int | None:
    """Base-10 value of ASCII digits, or ``None`` above ``MAX_RETRY``."""
    digits = value.lstrip(b"0")
    # 2**64 - 1 has 20 digits; checking length first keeps int() cheap
    if len(digits) > 20:
        return None
    r = int(digits) if digits else 0
    return r if r <= MAX_RETRY else None


# -- encoder -------------------------------------------------------------------


def _field(value: object, what: str) -> bytes:
    """``value`` (str or bytes) as UTF-8 bytes for a single-line field."""
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise LocalProtocolError(f"SSE {what} is not encodable as UTF-8") from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise LocalProtocolError(f"SSE {what} must be str or bytes, not {type(value).__name__}")


def _single_line(value: object, what: str, *, nul: bool) -> bytes:
    b = _field(value, what)
    if b"\n" in b or b"\r" in b or (nul and b"\x00" in b):
        bad = "CR, LF or NUL" if nul else "CR or LF"
        raise LocalProtocolError(f"SSE {what} must not contain {bad}: {b!r}")
    return b


def _retry_bytes(retry: object) -> bytes:
    # spec 3.2: non-negative decimal ASCII digits only (bool is not a number here)
    if type(retry) is not int or retry < 0 or retry > MAX_RETRY:
        raise LocalProtocolError(f"SSE retry must be an int in [0, 2**64-1], got {retry!r}")
    return b"retry: %d\n" % retry


def encode_event(
    data: str | bytes | None,
    *,
    event: str | bytes | None = None,
    id: str | bytes | None = None,
    retry: int | None = None,
) -> bytes:
    """One SSE event as bytes, ending with the blank line that dispatches it.

    ``data`` (str, or bytes taken to be UTF-8 already) is split at every CR,
    LF and CRLF into ``data:`` lines; ``None`` writes no data line, so the
    block only sets the id and/or retry and dispatches nothing. ``event`` is
    omitted when ``None``, ``""`` or ``"message"``. Fields come in the order
    event, id, retry, data. Raises :class:`~streamcore.LocalProtocolError` for
    an ``event`` or ``id`` containing CR, LF or NUL, or a bad ``retry``.
    """
    out = []
    if event is not None:
        ev = _single_line(event, "event type", nul=True)
        if ev and ev != b"message":
            out.append(b"event: " + ev + b"\n")
    if id is not None:
        out.append(b"id: " + _single_line(id, "id", nul=True) + b"\n")
    if retry is not None:
        out.append(_retry_bytes(retry))
    if data is not None:
        d = _field(data, "data")
        # spec 3.2: one data line per CR, LF or CRLF-separated line; always
        # "data: " + value, so a value starting with a space keeps it
        if b"\n" in d or b"\r" in d:
            for part in _BREAK.split(d):
                out.append(b"data: " + part + b"\n")
        else:
            # compact JSON has no line break: skip the regex split, which
            # scans several times slower than the two ``in`` tests
            out.append(b"data: " + d + b"\n")
    out.append(b"\n")
    return b"".join(out)


def encode_event_chunk(
    data: str | bytes | None,
    *,
    event: str | bytes | None = None,
    id: str | bytes | None = None,
    retry: int | None = None,
) -> bytes:
    """:func:`encode_event` framed as one HTTP/1.1 chunk (RFC 9112 7.1).

    Exactly ``b"%x\\r\\n" % len(ev) + ev + b"\\r\\n"``; never empty, so it can
    never be mistaken for the last-chunk.
    """
    ev = encode_event(data, event=event, id=id, retry=retry)
    return b"%x\r\n%b\r\n" % (len(ev), ev)


def encode_comment(text: str | bytes = "") -> bytes:
    """A comment line (``b":\\n"``, or ``b": text\\n"``), e.g. a keep-alive.

    Raises :class:`~streamcore.LocalProtocolError` if ``text`` contains CR or LF.
    """
    b = _single_line(text, "comment", nul=False)
    return b": " + b + b"\n" if b else b":\n"


def encode_priming(id: str | bytes, *, retry: int | None = None) -> bytes:
    """The MCP priming event (SRV-SSE-08): an ``id`` and empty data.

    ``id`` must be non-empty. A WHATWG client dispatches it as a ``message``
    with data ``""``, which MCP clients skip (CLI-SSE-04).
    """
    if id is None or not _single_line(id, "id", nul=True):
        raise LocalProtocolError("SSE priming event needs a non-empty id")
    return encode_event("", id=id, retry=retry)

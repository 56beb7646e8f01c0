"""A sans-IO HTTP/2 server connection (RFC 9113), built for our adapter's hot path.

Bytes in (:meth:`ServerConnection.receive_data`) become a list of events; the
send methods queue frames that :meth:`ServerConnection.data_to_send` hands
out. It does what the server side of the h2 package did for us, with the
same event names and fields (``RequestReceived``, ``DataReceived``,
``StreamEnded``, ``StreamReset``, ``WindowUpdated``, ``RemoteSettingsChanged``,
``PingAckReceived``, ``ConnectionTerminated``), and the h2 package stays the
reference: the tests drive this connection with h2's client side as the peer.

What it is for: per request, h2 runs each frame through hyperframe objects,
two state machines and event objects, validates headers through a chain of
generators and counts open streams by walking all of them; that was most of
the CPU of an MCP exchange over h2. Here a frame is parsed in place, the
stream state is two booleans, and HPACK is ``streamcore.hpack`` (compiled,
with its repeat cache).

Errors: a connection error raises :class:`ConnectionError` with the RFC 9113
code (the adapter sends GOAWAY and closes); stream errors are answered with
RST_STREAM here. Sending on a stream that cannot carry it raises
:class:`StreamClosedError`.

Scope (the server side of RFC 9113, nothing more): no server push (we send
SETTINGS_ENABLE_PUSH 0 and a client PUSH_PROMISE is a PROTOCOL_ERROR), no
priority scheduling (PRIORITY frames and fields are checked and ignored, as
RFC 9113 section 5.3.2 allows), no Upgrade (h2c starts with the preface).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from . import hpack as _hpack

__all__ = [
    "PREFACE",
    "ServerConnection",
    "ConnectionError",
    "StreamClosedError",
    "RequestReceived",
    "DataReceived",
    "StreamEnded",
    "StreamReset",
    "TrailersReceived",
    "WindowUpdated",
    "RemoteSettingsChanged",
    "SettingsAcknowledged",
    "PingAckReceived",
    "ConnectionTerminated",
]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# error codes (RFC 9113 section 7)
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM = 0x4, 0x5, 0x6, 0x7
CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, ENHANCE_YOUR_CALM = 0x8, 0x9, 0xA, 0xB

# frame types and flags (section 6)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0x0, 0x1, 0x2, 0x3, 0x4, 0x5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x6, 0x7, 0x8, 0x9
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIORITY_FLAG = 0x4, 0x8, 0x20

# settings (section 6.5.2)
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS = 0x1, 0x2, 0x3
INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = 0x4, 0x5, 0x6

MAX_WINDOW = 2**31 - 1
DEFAULT_WINDOW = 65535
DEFAULT_FRAME_SIZE = 16384


class ConnectionError(Exception):  # noqa: A001 - the RFC's term, scoped to this module
    """A connection error (RFC 9113 section 5.4.1): end the connection with GOAWAY(``error_code``)."""

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


class StreamClosedError(Exception):
    """A send on a stream that is closed (or was never opened) for sending."""

    def __init__(self, stream_id: int) -> None:
        super().__init__(f"stream {stream_id} is closed")
        self.stream_id = stream_id


class FlowControlError(Exception):
    """A send larger than the peer's window or frame size (a bug in the caller)."""


# -- events ---------------------------------------------------------------------------


class Event:
    __slots__ = ()

    def __repr__(self) -> str:
        names: tuple[str, ...] = type(self).__slots__
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in names)
        return f"{type(self).__name__}({fields})"


class RequestReceived(Event):
    """A request's header block; ``stream_ended`` when it carried END_STREAM."""
    __slots__ = ("stream_id", "headers", "stream_ended")

    def __init__(self, stream_id: int, headers: list[tuple[bytes, bytes]], stream_ended: bool) -> None:
        self.stream_id, self.headers, self.stream_ended = stream_id, headers, stream_ended


class TrailersReceived(Event):
    __slots__ = ("stream_id", "headers")

    def __init__(self, stream_id: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.stream_id, self.headers = stream_id, headers


class DataReceived(Event):
    """Request body bytes; ``flow_controlled_length`` counts padding too (acknowledge that)."""
    __slots__ = ("stream_id", "data", "flow_controlled_length", "stream_ended")

    def __init__(self, stream_id: int, data: bytes, flow_controlled_length: int, stream_ended: bool) -> None:
        self.stream_id, self.data = stream_id, data
        self.flow_controlled_length, self.stream_ended = flow_controlled_length, stream_ended


class StreamEnded(Event):
    __slots__ = ("stream_id",)

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id


class StreamReset(Event):
    """The stream is gone: the peer reset it (RST_STREAM), or, with ``local``, we did
    for a stream error (a malformed request, a frame the stream's state forbids)."""
    __slots__ = ("stream_id", "error_code", "local")

    def __init__(self, stream_id: int, error_code: int, local: bool = False) -> None:
        self.stream_id, self.error_code, self.local = stream_id, error_code, local


class WindowUpdated(Event):
    __slots__ = ("stream_id", "delta")

    def __init__(self, stream_id: int, delta: int) -> None:
        self.stream_id, self.delta = stream_id, delta


class RemoteSettingsChanged(Event):
    __slots__ = ("changed",)

    def __init__(self, changed: dict[int, int]) -> None:
        self.changed = changed


class SettingsAcknowledged(Event):
    __slots__ = ()


class PingAckReceived(Event):
    __slots__ = ("ping_data",)

    def __init__(self, ping_data: bytes) -> None:
        self.ping_data = ping_data


class ConnectionTerminated(Event):
    """The peer sent GOAWAY."""
    __slots__ = ("error_code", "last_stream_id", "additional_data")

    def __init__(self, error_code: int, last_stream_id: int, additional_data: bytes) -> None:
        self.error_code, self.last_stream_id, self.additional_data = error_code, last_stream_id, additional_data


# -- the connection --------------------------------------------------------------------


def _frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return bytes((n >> 16, (n >> 8) & 0xFF, n & 0xFF, ftype, flags)) + sid.to_bytes(4, "big") + payload


class _Stream:
    __slots__ = ("out_window", "in_window", "unacked", "recv_open", "send_open", "body_left")

    def __init__(self, out_window: int, in_window: int) -> None:
        self.out_window = out_window  # what we may still send
        self.in_window = in_window  # what the peer may still send
        self.unacked = 0  # consumed, not yet handed back
        self.recv_open = True
        self.send_open = True
        self.body_left = -1  # content-length still to come; -1: none declared


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    """The declared content-length, -1 for none, -2 for an invalid or conflicting one."""
    found = -1
    for name, value in headers:
        if name == b"content-length":
            if not value.isdigit() or len(value) > 18 or (found >= 0 and int(value) != found):
                return -2
            found = int(value)
    return found


class ServerConnection:
    """The server side of one HTTP/2 connection (see the module docstring).

    ``max_concurrent_streams``, ``max_header_list_size`` and
    ``initial_window_size`` are advertised in our SETTINGS and enforced: one
    stream past the limit gets RST_STREAM REFUSED_STREAM (its header block is
    decoded all the same, so HPACK stays in step) and counts in ``refused``;
    a header list past the limit, or DATA past a window, is a connection error.
    A header block is bounded while it is gathered, before any decoding: more
    than ``max_continuation_frames`` CONTINUATION frames (the 2024
    CONTINUATION flood) or more compressed bytes than ``max_header_list_size``
    end the connection with ENHANCE_YOUR_CALM.
    """

    def __init__(self, *, max_concurrent_streams: int = 100, max_header_list_size: int = 64 * 1024,
                 initial_window_size: int = DEFAULT_WINDOW, max_continuation_frames: int = 8,
                 decoder: Any = None, encoder: Any = None) -> None:
        self.max_concurrent_streams = max_concurrent_streams
        self.max_continuation_frames = max_continuation_frames
        self.max_header_list_size = max_header_list_size
        self.initial_window_size = initial_window_size
        self.decoder = decoder or _hpack.Decoder(max_header_list_size=max_header_list_size)
        self.encoder = encoder or _hpack.Encoder()
        self.streams: dict[int, _Stream] = {}
        self.highest_inbound_stream_id = 0
        self.refused = 0  # streams refused at the limit, since the caller last reset this
        # the peer's settings
        self.peer_initial_window = DEFAULT_WINDOW
        self.max_outbound_frame_size = DEFAULT_FRAME_SIZE
        self.peer_settings: dict[int, int] = {}
        # connection windows
        self.out_window = DEFAULT_WINDOW
        self.in_window = DEFAULT_WINDOW
        self.in_window_size = DEFAULT_WINDOW  # the window we hand back up to
        self.unacked = 0
        self.closed = False  # GOAWAY sent or received
        self._out: list[bytes] = []
        self._buf = b""
        self._preface = True  # still expecting the client's preface
        self._settings_seen = False
        self._block: list[bytes] | None = None  # header block being gathered from CONTINUATION
        self._block_sid = 0
        self._block_end = False
        self._block_bytes = 0
        self._dispatch: dict[int, Callable[[int, int, bytes, list[Event]], None]] = {
            DATA: self._data, HEADERS: self._headers, PRIORITY: self._priority,
            RST_STREAM: self._rst_stream, SETTINGS: self._settings, PUSH_PROMISE: self._push_promise,
            PING: self._ping, GOAWAY: self._goaway, WINDOW_UPDATE: self._window_update,
            CONTINUATION: self._continuation,
        }

    # -- output --------------------------------------------------------------------------

    def initiate_connection(self) -> None:
        """Queue our SETTINGS (and the connection window past 65,535, section 6.9.2)."""
        settings = (
            (MAX_CONCURRENT_STREAMS, self.max_concurrent_streams),
            (INITIAL_WINDOW_SIZE, self.initial_window_size),
            (MAX_HEADER_LIST_SIZE, self.max_header_list_size),
            (ENABLE_PUSH, 0),
        )
        self._out.append(_frame(SETTINGS, 0, 0, b"".join(
            k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in settings)))
        if self.initial_window_size > DEFAULT_WINDOW:
            self.increment_flow_control_window(self.initial_window_size - DEFAULT_WINDOW)

    def increment_flow_control_window(self, increment: int) -> None:
        self.in_window += increment
        self.in_window_size += increment
        self._out.append(_frame(WINDOW_UPDATE, 0, 0, increment.to_bytes(4, "big")))

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def send_headers(self, stream_id: int, headers: Sequence[tuple[bytes, bytes]], end_stream: bool = False) -> None:
        st = self.streams.get(stream_id)
        if st is None or not st.send_open:
            raise StreamClosedError(stream_id)
        block = self.encoder.encode(headers)
        size = self.max_outbound_frame_size
        flags = END_STREAM if end_stream else 0
        if len(block) <= size:
            self._out.append(_frame(HEADERS, flags | END_HEADERS, stream_id, block))
        else:
            parts = [block[i:i + size] for i in range(0, len(block), size)]
            self._out.append(_frame(HEADERS, flags, stream_id, parts[0]))
            for k, part in enumerate(parts[1:], 2):
                self._out.append(_frame(CONTINUATION, END_HEADERS if k == len(parts) else 0, stream_id, part))
        if end_stream:
            self._send_closed(stream_id, st)

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool = False) -> None:
        st = self.streams.get(stream_id)
        if st is None or not st.send_open:
            raise StreamClosedError(stream_id)
        n = len(data)
        if n > self.out_window or n > st.out_window or n > self.max_outbound_frame_size:
            raise FlowControlError(f"{n} bytes do not fit the window or the frame size")
        self.out_window -= n
        st.out_window -= n
        out = self._out
        out.append(bytes((n >> 16, (n >> 8) & 0xFF, n & 0xFF, DATA, END_STREAM if end_stream else 0))
                   + stream_id.to_bytes(4, "big"))
        out.append(data if type(data) is bytes else bytes(data))
        if end_stream:
            self._send_closed(stream_id, st)

    def end_stream(self, stream_id: int) -> None:
        self.send_data(stream_id, b"", end_stream=True)

    def _send_closed(self, stream_id: int, st: _Stream) -> None:
        st.send_open = False
        if not st.recv_open:
            del self.streams[stream_id]

    def reset_stream(self, stream_id: int, error_code: int = CANCEL) -> None:
        if stream_id not in self.streams and (stream_id > self.highest_inbound_stream_id or stream_id <= 0):
            raise StreamClosedError(stream_id)
        self.streams.pop(stream_id, None)
        self._out.append(_frame(RST_STREAM, 0, stream_id, error_code.to_bytes(4, "big")))

    def local_flow_control_window(self, stream_id: int) -> int:
        """Bytes we may send on the stream now: the smaller of its window and the connection's."""
        st = self.streams.get(stream_id)
        if st is None:
            raise StreamClosedError(stream_id)
        return min(self.out_window, st.out_window)

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        """``size`` flow-controlled bytes were consumed: reopen the windows, in steps of at
        least half a window (one WINDOW_UPDATE per half window, not one per frame)."""
        self.unacked += size
        if self.unacked >= self.in_window_size // 2 or self.in_window <= 0:
            self.in_window += self.unacked
            self._out.append(_frame(WINDOW_UPDATE, 0, 0, self.unacked.to_bytes(4, "big")))
            self.unacked = 0
        st = self.streams.get(stream_id)
        if st is not None and st.recv_open:
            st.unacked += size
            if st.unacked >= self.initial_window_size // 2 or st.in_window <= 0:
                st.in_window += st.unacked
                self._out.append(_frame(WINDOW_UPDATE, 0, stream_id, st.unacked.to_bytes(4, "big")))
                st.unacked = 0

    def ping(self, data: bytes) -> None:
        self._out.append(_frame(PING, 0, 0, data))

    def close_connection(self, error_code: int = NO_ERROR, last_stream_id: int | None = None) -> None:
        """GOAWAY; no frame is read after it (the adapter closes)."""
        last = self.highest_inbound_stream_id if last_stream_id is None else last_stream_id
        self._out.append(_frame(GOAWAY, 0, 0, last.to_bytes(4, "big") + error_code.to_bytes(4, "big")))
        self.closed = True

    # -- input ---------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Parse what arrived; return the events. Raises :class:`ConnectionError`."""
        if self.closed:
            return []
        buf = self._buf + data if self._buf else data
        i, n = 0, len(buf)
        if self._preface:
            if n < len(PREFACE):
                if not PREFACE.startswith(buf):
                    raise ConnectionError(PROTOCOL_ERROR, "not the HTTP/2 connection preface")
                self._buf = buf
                return []
            if buf[:len(PREFACE)] != PREFACE:
                raise ConnectionError(PROTOCOL_ERROR, "not the HTTP/2 connection preface")
            self._preface = False
            i = len(PREFACE)
        events: list[Event] = []
        dispatch = self._dispatch
        while n - i >= 9:
            length = (buf[i] << 16) | (buf[i + 1] << 8) | buf[i + 2]
            if length > DEFAULT_FRAME_SIZE:  # our SETTINGS_MAX_FRAME_SIZE is the default
                raise ConnectionError(FRAME_SIZE_ERROR, f"frame of {length} bytes")
            end = i + 9 + length
            if end > n:
                break
            ftype, flags = buf[i + 3], buf[i + 4]
            sid = ((buf[i + 5] & 0x7F) << 24) | (buf[i + 6] << 16) | (buf[i + 7] << 8) | buf[i + 8]
            payload = buf[i + 9:end]
            i = end
            if not self._settings_seen:
                if ftype != SETTINGS or flags & ACK:
                    raise ConnectionError(PROTOCOL_ERROR, "the first frame is not SETTINGS")
                self._settings_seen = True
            if self._block is not None and ftype != CONTINUATION:
                raise ConnectionError(PROTOCOL_ERROR, "a frame inside a header block")
            handler = dispatch.get(ftype)
            if handler is not None:  # unknown types are ignored (section 4.1)
                handler(flags, sid, payload, events)
            if self.closed:
                break
        self._buf = buf[i:] if i < n else b""
        return events

    @staticmethod
    def _unpad(flags: int, payload: bytes) -> bytes:
        if flags & PADDED:
            if not payload or payload[0] >= len(payload):
                raise ConnectionError(PROTOCOL_ERROR, "padding as long as the frame")
            return payload[1:len(payload) - payload[0]]
        return payload

    def _data(self, flags: int, sid: int, payload: bytes, events: list[Event]) -> None:
        if sid == 0:
            raise ConnectionError(PROTOCOL_ERROR, "DATA on stream 0")
        flow = len(payload)
        data = self._unpad(flags, payload) if flags & PADDED else payload
        self.in_window -= flow
        if self.in_window < 0:
            raise ConnectionError(FLOW_CONTROL_ERROR, "DATA past the connection window")
        st = self.streams.get(sid)
        if st is None:
            if sid > self.highest_inbound_stream_id:
                raise ConnectionError(PROTOCOL_ERROR, "DATA on an idle stream")
            if flow:  # a stream we closed: the bytes still counted, hand them back
                self.acknowledge_received_data(flow, sid)
            return
        if not st.recv_open:  # half-closed (remote): section 5.1, a stream error
            self._malformed(sid, events, STREAM_CLOSED)
            if flow:
                self.acknowledge_received_data(flow, sid)
            return
        st.in_window -= flow
        if st.in_window < 0:
            raise ConnectionError(FLOW_CONTROL_ERROR, "DATA past the stream window")
        ended = bool(flags & END_STREAM)
        if st.body_left >= 0:
            st.body_left -= len(data)
            if st.body_left < 0 or (ended and st.body_left):
                # RFC 9113 section 8.1.1: a body that is not its content-length is malformed
                self._malformed(sid, events)
                if flow:
                    self.acknowledge_received_data(flow, sid)
                return
        events.append(DataReceived(sid, data, flow, ended))
        if ended:
            self._recv_closed(sid, st, events)

    def _malformed(self, sid: int, events: list[Event], code: int = PROTOCOL_ERROR) -> None:
        """A stream error (RFC 9113 section 5.4.2): RST_STREAM, and StreamReset(local=True)
        for the caller when the stream was open."""
        if self.streams.pop(sid, None) is not None:
            events.append(StreamReset(sid, code, local=True))
        self._out.append(_frame(RST_STREAM, 0, sid, code.to_bytes(4, "big")))

    def _recv_closed(self, sid: int, st: _Stream, events: list[Event]) -> None:
        st.recv_open = False
        events.append(StreamEnded(sid))
        if not st.send_open:
            del self.streams[sid]

    def _headers(self, flags: int, sid: int, payload: bytes, events: list[Event]) -> None:
        if sid == 0:
            raise ConnectionError(PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & PADDED:
            payload = self._unpad(flags, payload)
        if flags & PRIORITY_FLAG:
            if len(payload) < 5:
                raise ConnectionError(FRAME_SIZE_ERROR, "HEADERS too short for its priority")
            if int.from_bytes(payload[:4], "big") & 0x7FFFFFFF == sid:
                raise ConnectionError(PROTOCOL_ERROR, "a stream depending on itself")
            payload = payload[5:]
        if flags & END_HEADERS:
            self._header_block(sid, payload, bool(flags & END_STREAM), events)
        else:
            if len(payload) > self.max_header_list_size:
                raise ConnectionError(ENHANCE_YOUR_CALM, "header block larger than the header list limit")
            self._block, self._block_sid, self._block_end = [payload], sid, bool(flags & END_STREAM)
            self._block_bytes = len(payload)

    def _continuation(self, flags: int, sid: int, payload: bytes, events: list[Event]) -> None:
        block = self._block
        if block is None or sid != self._block_sid:
            raise ConnectionError(PROTOCOL_ERROR, "CONTINUATION outside a header block")
        block.append(payload)
        if len(block) > self.max_continuation_frames + 1:
            raise ConnectionError(ENHANCE_YOUR_CALM, "too many CONTINUATION frames in one header block")
        self._block_bytes += len(payload)
        if self._block_bytes > self.max_header_list_size:
            raise ConnectionError(ENHANCE_YOUR_CALM, "header block larger than the header list limit")
        if flags & END_HEADERS:
            self._block = None
            self._header_block(sid, b"".join(block), self._block_end, events)

    def _decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        try:
            headers: list[tuple[bytes, bytes]] = self.decoder.decode(block)
        except _hpack.HeaderListTooLarge as exc:
            raise ConnectionError(ENHANCE_YOUR_CALM, f"header list too large: {exc}") from None
        except _hpack.HpackDecodeError as exc:
            raise ConnectionError(COMPRESSION_ERROR, f"HPACK: {exc}") from None
        return headers

    def _header_block(self, sid: int, block: bytes, ended: bool, events: list[Event]) -> None:
        st = self.streams.get(sid)
        if st is None:
            if sid % 2 == 0:
                raise ConnectionError(PROTOCOL_ERROR, "a client stream with an even id")
            headers = self._decode(block)  # decoded in every case: the HPACK context must move on
            if sid <= self.highest_inbound_stream_id:
                self._out.append(_frame(RST_STREAM, 0, sid, STREAM_CLOSED.to_bytes(4, "big")))
                return
            self.highest_inbound_stream_id = sid
            if len(self.streams) >= self.max_concurrent_streams:
                # RFC 9113 section 5.1.2: a stream error, the connection lives on
                self._out.append(_frame(RST_STREAM, 0, sid, REFUSED_STREAM.to_bytes(4, "big")))
                self.refused += 1
                return
            length = _content_length(headers)
            if length == -2 or (ended and length > 0):
                self._malformed(sid, events)
                return
            st = self.streams[sid] = _Stream(self.peer_initial_window, self.initial_window_size)
            st.body_left = length
            events.append(RequestReceived(sid, headers, ended))
            if ended:
                self._recv_closed(sid, st, events)
            return
        headers = self._decode(block)
        if not st.recv_open:  # half-closed (remote): section 5.1, a stream error
            self._malformed(sid, events, STREAM_CLOSED)
            return
        if not ended or st.body_left > 0:  # trailers without END_STREAM, or a short body: malformed
            self._malformed(sid, events)
            return
        events.append(TrailersReceived(sid, headers))
        self._recv_closed(sid, st, events)

    def _priority(self, flags: int, sid: int, payload: bytes, events: list[Event]) -> None:
        if sid == 0:
            raise ConnectionError(PROTOCOL_ERROR, "PRIORITY on stream 0")
        if len(payload) != 5:  # section 6.3: a stream error
            self._malformed(sid, events, FRAME_SIZE_ERROR)

    def _rst_stream(self, flags: int, sid: int, payload: bytes, events: list[Event]) -> None:
        if sid == 0:
            raise ConnectionError(PROTOCOL_ERROR, "RST_STREAM on stream 0")
        if len(payload) != 4:
            raise ConnectionError(FRAME_SIZE_ERROR, "RST_STREAM of the wrong size")
        if sid > self.highest_inbound_stream_id:
            raise ConnectionError(PROTOCOL_ERROR, "RST_STREAM on an idle stream")
        if self.streams.pop(sid, None) is not None:
            events.append(StreamReset(sid, int.from_bytes(payload, "big")))

    def _settings(self, flags: int, sid: int, payload: bytes, events: list[Event]) -> None:
        if sid != 0:
            raise ConnectionError(PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            if payload:
                raise ConnectionError(FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            events.append(SettingsAcknowledged())
            return
        if len(payload) % 6:
            raise ConnectionError(FRAME_SIZE_ERROR, "SETTINGS of the wrong size")
        changed: dict[int, int] = {}
        for k in range(0, len(payload), 6):
            key = int.from_bytes(payload[k:k + 2], "big")
            value = int.from_bytes(payload[k + 2:k + 6], "big")
            if key == HEADER_TABLE_SIZE:
                # The peer's decoder allows this much; we use no more than the
                # default, so a generous peer cannot make our table grow.
                size = min(value, _hpack.DEFAULT_HEADER_TABLE_SIZE)
                if size != self.encoder.header_table_size:
                    self.encoder.header_table_size = size
            elif key == ENABLE_PUSH:
                if value > 1:
                    raise ConnectionError(PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH not 0 or 1")
            elif key == INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise ConnectionError(FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE too large")
                delta = value - self.peer_initial_window
                self.peer_initial_window = value
                for st in self.streams.values():  # section 6.9.2: every open stream moves by the change
                    st.out_window += delta
                    if st.out_window > MAX_WINDOW:
                        raise ConnectionError(FLOW_CONTROL_ERROR, "a stream window past 2**31 - 1")
            elif key == MAX_FRAME_SIZE:
                if not DEFAULT_FRAME_SIZE <= value <= 2**24 - 1:
                    raise ConnectionError(PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE out of range")
                self.max_outbound_frame_size = value
            changed[key] = value
            self.peer_settings[key] = value
        self._out.append(_frame(SETTINGS, ACK, 0))
        events.append(RemoteSettingsChanged(changed))

    def _push_promise(self, flags: int, sid: int, payload: bytes, events: list[Event]) -> None:
        raise ConnectionError(PROTOCOL_ERROR, "PUSH_PROMISE from a client")

    def _ping(self, flags: int, sid: int, payload: bytes, events: list[Event]) -> None:
        if sid != 0:
            raise ConnectionError(PROTOCOL_ERROR, "PING on a stream")
        if len(payload) != 8:
            raise ConnectionError(FRAME_SIZE_ERROR, "PING of the wrong size")
        if flags & ACK:
            events.append(PingAckReceived(payload))
        else:
            self._out.append(_frame(PING, ACK, 0, payload))

    def _goaway(self, flags: int, sid: int, payload: bytes, events: list[Event]) -> None:
        if sid != 0:
            raise ConnectionError(PROTOCOL_ERROR, "GOAWAY on a stream")
        if len(payload) < 8:
            raise ConnectionError(FRAME_SIZE_ERROR, "GOAWAY too short")
        events.append(ConnectionTerminated(int.from_bytes(payload[4:8], "big"),
                                           int.from_bytes(payload[:4], "big") & 0x7FFFFFFF, payload[8:]))
        self.closed = True

    def _window_update(self, flags: int, sid: int, payload: bytes, events: list[Event]) -> None:
        if len(payload) != 4:
            raise ConnectionError(FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong size")
        inc = int.from_bytes(payload, "big") & 0x7FFFFFFF
        if sid == 0:
            if inc == 0:
                raise ConnectionError(PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self.out_window += inc
            if self.out_window > MAX_WINDOW:
                raise ConnectionError(FLOW_CONTROL_ERROR, "connection window past 2**31 - 1")
            events.append(WindowUpdated(0, inc))
            return
        st = self.streams.get(sid)
        if st is None:
            if sid > self.highest_inbound_stream_id:
                raise ConnectionError(PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream")
            return  # a closed stream: nothing to update
        if inc == 0:  # section 6.9: a stream error on a stream
            self._malformed(sid, events, PROTOCOL_ERROR)
            return
        st.out_window += inc
        if st.out_window > MAX_WINDOW:  # section 6.9.1: a stream error on a stream
            self._malformed(sid, events, FLOW_CONTROL_ERROR)
            return
        events.append(WindowUpdated(sid, inc))

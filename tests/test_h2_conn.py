"""streamcore._h2conn, our sans-IO HTTP/2 server connection (RFC 9113), driven
frame by frame: with the h2 package's client side as the reference peer, and
with hand-made frames for every connection error it must raise. Any bytes give
events or ConnectionError, nothing else (hypothesis)."""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamcore import _h2conn as c

REQ = [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"h"), (b":path", b"/mcp"),
       (b"content-type", b"application/json")]


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


SETTINGS0 = frame(c.SETTINGS, 0, 0)


def pair(**kw: Any) -> tuple[c.ServerConnection, h2.connection.H2Connection]:
    server = c.ServerConnection(**kw)
    server.initiate_connection()
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    client.receive_data(server.data_to_send())
    exchange(server, client)  # the client's preface and SETTINGS, our ACK
    return server, client


def exchange(server: c.ServerConnection, client: h2.connection.H2Connection) -> tuple[list[Any], list[Any]]:
    """Move bytes both ways until quiet; the events of each side."""
    s_events: list[Any] = []
    c_events: list[Any] = []
    for _ in range(10):
        out = client.data_to_send()
        if out:
            s_events += server.receive_data(out)
        back = server.data_to_send()
        if back:
            c_events += client.receive_data(back)
        if not out and not back:
            break
    return s_events, c_events


def test_requests_and_responses_with_h2_as_the_peer() -> None:
    """Requests with bodies and trailers in, HEADERS + DATA + END_STREAM out, with the h2
    client as the reference: HPACK, framing and stream states agree with it."""
    server, client = pair()
    for i in range(3):
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, REQ + [(b"x-i", str(i).encode())])
        client.send_data(sid, b'{"a":1}', end_stream=i != 2)
        if i == 2:
            client.send_headers(sid, [(b"x-trailer", b"1")], end_stream=True)
        evs, _ = exchange(server, client)
        kinds = [type(e).__name__ for e in evs]
        assert kinds[0] == "RequestReceived" and "DataReceived" in kinds and kinds[-1] == "StreamEnded"
        assert evs[0].headers == REQ + [(b"x-i", str(i).encode())]
        if i == 2:
            assert "TrailersReceived" in kinds
        data = [e for e in evs if isinstance(e, c.DataReceived)][0]
        assert data.data == b'{"a":1}'
        server.acknowledge_received_data(data.flow_controlled_length, sid)
        server.send_headers(sid, [(b":status", b"200"), (b"content-type", b"text/event-stream")])
        server.send_data(sid, b"data: x\n\n", end_stream=True)
        _, cevs = exchange(server, client)
        got = {type(e).__name__ for e in cevs}
        assert {"ResponseReceived", "DataReceived", "StreamEnded"} <= got
        assert sid not in server.streams  # both sides closed: forgotten


def test_flow_control_windows_follow_the_peer() -> None:
    """The peer's SETTINGS_INITIAL_WINDOW_SIZE and WINDOW_UPDATEs bound what we send."""
    server, client = pair()
    client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 10})
    sid = client.get_next_available_stream_id()
    client.send_headers(sid, REQ, end_stream=True)
    evs, _ = exchange(server, client)
    assert server.local_flow_control_window(sid) == 10
    server.send_headers(sid, [(b":status", b"200")])
    with pytest.raises(c.FlowControlError):
        server.send_data(sid, b"x" * 11)
    server.send_data(sid, b"x" * 10)
    assert server.local_flow_control_window(sid) == 0
    _, cevs = exchange(server, client)
    client.acknowledge_received_data(10, sid)
    client.increment_flow_control_window(5, stream_id=sid)
    evs, _ = exchange(server, client)
    assert any(isinstance(e, c.WindowUpdated) and e.stream_id == sid for e in evs)
    assert server.local_flow_control_window(sid) >= 5


def test_inbound_windows_reopen_in_half_window_steps() -> None:
    server, client = pair(initial_window_size=65535)
    sid = client.get_next_available_stream_id()
    client.send_headers(sid, REQ)
    client.send_data(sid, b"x" * 16384)
    evs, _ = exchange(server, client)
    server.acknowledge_received_data(16384, sid)
    assert server.data_to_send() == b""  # under half a window: nothing yet
    client.send_data(sid, b"x" * 16384)
    exchange(server, client)
    server.acknowledge_received_data(16384, sid)
    out = server.data_to_send()
    assert out.count(bytes([c.WINDOW_UPDATE])) >= 2  # the connection's and the stream's


def test_refused_stream_keeps_hpack_in_step() -> None:
    server, client = pair(max_concurrent_streams=1)
    exchange(server, client)
    client.remote_settings.max_concurrent_streams = 10  # misbehave
    client.remote_settings.acknowledge()
    a = client.get_next_available_stream_id()
    client.send_headers(a, REQ)
    b = client.get_next_available_stream_id()
    client.send_headers(b, REQ + [(b"x-new", b"v")], end_stream=True)
    client.send_data(a, b"{}", end_stream=True)
    evs, cevs = exchange(server, client)
    assert server.refused == 1
    assert [e.error_code for e in cevs if isinstance(e, h2.events.StreamReset)] == [c.REFUSED_STREAM]
    server.send_headers(a, [(b":status", b"200")], end_stream=True)
    exchange(server, client)
    d = client.get_next_available_stream_id()
    client.send_headers(d, REQ + [(b"x-new", b"v")], end_stream=True)  # indexed: the refused block filled it
    evs, _ = exchange(server, client)
    assert [e.headers for e in evs if isinstance(e, c.RequestReceived)] == [REQ + [(b"x-new", b"v")]]


def test_peer_reset_and_goaway_and_ping() -> None:
    server, client = pair()
    sid = client.get_next_available_stream_id()
    client.send_headers(sid, REQ)
    client.reset_stream(sid, 8)
    client.ping(b"12345678")
    evs, cevs = exchange(server, client)
    assert any(isinstance(e, c.StreamReset) and e.error_code == 8 for e in evs)
    assert any(isinstance(e, h2.events.PingAckReceived) for e in cevs)
    server.ping(b"abcdefgh")
    evs, _ = exchange(server, client)
    assert any(isinstance(e, c.PingAckReceived) and e.ping_data == b"abcdefgh" for e in evs)
    client.close_connection(error_code=0)
    evs, _ = exchange(server, client)
    assert isinstance(evs[-1], c.ConnectionTerminated) and server.closed


def start() -> c.ServerConnection:
    server = c.ServerConnection()
    server.initiate_connection()
    server.receive_data(c.PREFACE + SETTINGS0)
    server.data_to_send()
    return server


def headers_block(extra: bytes = b"") -> bytes:
    import hpack

    return hpack.Encoder().encode(REQ) + extra


@pytest.mark.parametrize("wire, code", [
    (frame(c.DATA, 0, 0, b"x"), c.PROTOCOL_ERROR),  # DATA on stream 0
    (frame(c.DATA, 0, 1, b"x"), c.PROTOCOL_ERROR),  # DATA on an idle stream
    (frame(c.HEADERS, c.END_HEADERS, 2, headers_block()), c.PROTOCOL_ERROR),  # even stream id
    (frame(c.HEADERS, c.END_HEADERS, 0, headers_block()), c.PROTOCOL_ERROR),
    (frame(c.HEADERS, c.END_HEADERS, 1, b"\x80"), c.COMPRESSION_ERROR),
    (frame(c.HEADERS, c.END_HEADERS | c.PADDED, 1, b"\x05abc"), c.PROTOCOL_ERROR),  # pad past the end
    (frame(c.HEADERS, c.END_HEADERS | c.PRIORITY_FLAG, 1, b"\x00\x00\x00\x01\x10" + headers_block()),
     c.PROTOCOL_ERROR),  # depends on itself
    (frame(c.HEADERS, 0, 1, headers_block()) + frame(c.PING, 0, 0, b"12345678"), c.PROTOCOL_ERROR),
    (frame(c.CONTINUATION, c.END_HEADERS, 1, b""), c.PROTOCOL_ERROR),
    (frame(c.PRIORITY, 0, 0, b"\x00" * 5), c.PROTOCOL_ERROR),
    (frame(c.RST_STREAM, 0, 0, b"\x00" * 4), c.PROTOCOL_ERROR),
    (frame(c.RST_STREAM, 0, 1, b"\x00" * 4), c.PROTOCOL_ERROR),  # idle stream
    (frame(c.RST_STREAM, 0, 1, b"\x00" * 3), c.FRAME_SIZE_ERROR),
    (frame(c.SETTINGS, 0, 1, b""), c.PROTOCOL_ERROR),
    (frame(c.SETTINGS, c.ACK, 0, b"\x00" * 6), c.FRAME_SIZE_ERROR),
    (frame(c.SETTINGS, 0, 0, b"\x00" * 5), c.FRAME_SIZE_ERROR),
    (frame(c.SETTINGS, 0, 0, b"\x00\x02\x00\x00\x00\x02"), c.PROTOCOL_ERROR),  # ENABLE_PUSH 2
    (frame(c.SETTINGS, 0, 0, b"\x00\x04\x80\x00\x00\x00"), c.FLOW_CONTROL_ERROR),  # window 2**31
    (frame(c.SETTINGS, 0, 0, b"\x00\x05\x00\x00\x3f\xff"), c.PROTOCOL_ERROR),  # frame size 16383
    (frame(c.PUSH_PROMISE, c.END_HEADERS, 1, b"\x00\x00\x00\x02"), c.PROTOCOL_ERROR),
    (frame(c.PING, 0, 0, b"1234567"), c.FRAME_SIZE_ERROR),
    (frame(c.PING, 0, 1, b"12345678"), c.PROTOCOL_ERROR),
    (frame(c.GOAWAY, 0, 1, b"\x00" * 8), c.PROTOCOL_ERROR),
    (frame(c.GOAWAY, 0, 0, b"\x00" * 7), c.FRAME_SIZE_ERROR),
    (frame(c.WINDOW_UPDATE, 0, 0, b"\x00\x00\x00\x00"), c.PROTOCOL_ERROR),
    (frame(c.WINDOW_UPDATE, 0, 0, b"\x7f\xff\xff\xff"), c.FLOW_CONTROL_ERROR),
    (frame(c.WINDOW_UPDATE, 0, 1, b"\x00\x00\x00\x01"), c.PROTOCOL_ERROR),  # idle stream
    (frame(c.WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"), c.FRAME_SIZE_ERROR),
    (b"\x00\x40\x01" + bytes([c.DATA, 0]) + b"\x00\x00\x00\x01", c.FRAME_SIZE_ERROR),  # 16385 bytes
])
def test_connection_errors(wire: bytes, code: int) -> None:
    """Each rule of RFC 9113 sections 4-6 that makes a connection error, with its code."""
    server = start()
    with pytest.raises(c.ConnectionError) as info:
        server.receive_data(wire)
    assert info.value.error_code == code


def _rst(out: bytes) -> list[tuple[int, int]]:
    """(stream id, error code) of every RST_STREAM in ``out``."""
    found, i = [], 0
    while i < len(out):
        n = int.from_bytes(out[i:i + 3], "big")
        if out[i + 3] == c.RST_STREAM:
            found.append((int.from_bytes(out[i + 5:i + 9], "big"), int.from_bytes(out[i + 9:i + 13], "big")))
        i += 9 + n
    return found


@pytest.mark.parametrize("then, code", [
    (frame(c.DATA, 0, 1, b"x"), c.STREAM_CLOSED),  # half-closed (remote): section 5.1
    (frame(c.HEADERS, c.END_HEADERS | c.END_STREAM, 1, b"\x82"), c.STREAM_CLOSED),
    (frame(c.PRIORITY, 0, 1, b"\x00" * 4), c.FRAME_SIZE_ERROR),  # section 6.3
    (frame(c.WINDOW_UPDATE, 0, 1, b"\x00\x00\x00\x00"), c.PROTOCOL_ERROR),  # section 6.9
    (frame(c.WINDOW_UPDATE, 0, 1, b"\x7f\xff\xff\xff"), c.FLOW_CONTROL_ERROR),  # section 6.9.1
])
def test_stream_errors_reset_the_stream_only(then: bytes, code: int) -> None:
    """Stream errors (RFC 9113 section 5.4.2) get RST_STREAM with their code; the caller
    hears StreamReset(local=True); the connection and its other streams go on."""
    server = start()
    block = headers_block()
    server.receive_data(frame(c.HEADERS, c.END_HEADERS | c.END_STREAM, 1, block)
                        + frame(c.HEADERS, c.END_HEADERS, 3, b"\xbe"))  # stream 3: indexed, from stream 1's
    server.data_to_send()
    evs = server.receive_data(then)
    assert _rst(server.data_to_send()) == [(1, code)]
    assert [(type(e).__name__, e.local) for e in evs if isinstance(e, c.StreamReset)] == [("StreamReset", True)]
    assert list(server.streams) == [3]
    assert isinstance(server.receive_data(frame(c.DATA, c.END_STREAM, 3, b"{}"))[-1], c.StreamEnded)


def test_trailers_must_end_the_stream() -> None:
    server = start()
    server.receive_data(frame(c.HEADERS, c.END_HEADERS, 1, headers_block()))
    evs = server.receive_data(frame(c.HEADERS, c.END_HEADERS, 1, b"\x82"))  # trailers without END_STREAM
    assert _rst(server.data_to_send())[-1] == (1, c.PROTOCOL_ERROR) and isinstance(evs[-1], c.StreamReset)


def test_headers_on_an_old_stream_id() -> None:
    server = start()
    block = headers_block()
    server.receive_data(frame(c.HEADERS, c.END_HEADERS, 3, block))
    server.data_to_send()
    server.receive_data(frame(c.HEADERS, c.END_HEADERS, 1, b"\x82\x86\x84\x41\x01h"))  # below the highest id
    assert _rst(server.data_to_send()) == [(1, c.STREAM_CLOSED)]
    assert list(server.streams) == [3]


def test_first_frame_must_be_settings_and_preface_checked() -> None:
    server = c.ServerConnection()
    with pytest.raises(c.ConnectionError):
        server.receive_data(b"PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n")
    server = c.ServerConnection()
    assert server.receive_data(c.PREFACE[:10]) == []
    with pytest.raises(c.ConnectionError):
        server.receive_data(c.PREFACE[10:] + frame(c.PING, 0, 0, b"12345678"))


def test_continuation_limits_before_decoding() -> None:
    """CONTINUATION frames per block and compressed block bytes, each at its boundary."""
    for frames, ok in ((3, True), (4, False)):
        server = c.ServerConnection(max_continuation_frames=3)
        server.receive_data(c.PREFACE + SETTINGS0)
        wire = frame(c.HEADERS, 0, 1, b"")
        wire += b"".join(frame(c.CONTINUATION, 0, 1, b"") for _ in range(frames - 1))
        wire += frame(c.CONTINUATION, c.END_HEADERS, 1, headers_block())
        if ok:
            assert isinstance(server.receive_data(wire)[0], c.RequestReceived)
        else:
            with pytest.raises(c.ConnectionError) as info:
                server.receive_data(wire)
            assert info.value.error_code == c.ENHANCE_YOUR_CALM


def test_inbound_window_is_enforced() -> None:
    server = c.ServerConnection(initial_window_size=65535)
    server.receive_data(c.PREFACE + SETTINGS0 + frame(c.HEADERS, c.END_HEADERS, 1, headers_block()))
    full = b"".join(frame(c.DATA, 0, 1, b"x" * 16384) for _ in range(3)) + frame(c.DATA, 0, 1, b"x" * 16383)
    assert len(server.receive_data(full)) == 4  # exactly the window
    with pytest.raises(c.ConnectionError) as info:
        server.receive_data(frame(c.DATA, 0, 1, b"x"))
    assert info.value.error_code == c.FLOW_CONTROL_ERROR


@settings(max_examples=300, deadline=None)
@given(frames=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 255), st.integers(0, 7),
                                 st.binary(max_size=40)), max_size=8), cut=st.integers(1, 50))
def test_any_frames_give_events_or_connection_error(frames: list[tuple[int, int, int, bytes]], cut: int) -> None:
    """Any sequence of frames, delivered in pieces: events, or ConnectionError, never
    another exception; the connection's output is whole frames."""
    server = c.ServerConnection()
    server.initiate_connection()
    wire = c.PREFACE + SETTINGS0 + b"".join(frame(t, f, s, p) for t, f, s, p in frames)
    try:
        for i in range(0, len(wire), cut):
            server.receive_data(wire[i:i + cut])
    except c.ConnectionError:
        pass
    out = server.data_to_send()
    i = 0
    while i < len(out):
        i += 9 + int.from_bytes(out[i:i + 3], "big")
    assert i == len(out)


@pytest.mark.parametrize("declared, body, ok", [
    (b"2", [b"{}"], True),
    (b"2", [b"{", b"}"], True),
    (b"2", [b"{}x"], False),  # more than declared
    (b"3", [b"{}"], False),  # less, then END_STREAM
    (b"x", [b"{}"], False),  # not a number
])
def test_content_length_must_match_the_body(declared: bytes, body: list[bytes], ok: bool) -> None:
    """RFC 9113 section 8.1.1: a body other than its content-length is malformed: the stream
    is reset (PROTOCOL_ERROR, StreamReset with local=True), the connection lives on."""
    import hpack

    server = start()
    evs = server.receive_data(frame(c.HEADERS, c.END_HEADERS, 1,
                                    hpack.Encoder().encode(REQ + [(b"content-length", declared)])))
    for i, part in enumerate(body):
        evs += server.receive_data(frame(c.DATA, c.END_STREAM if i == len(body) - 1 else 0, 1, part))
    resets = [e for e in evs if isinstance(e, c.StreamReset)]
    out = server.data_to_send()
    if ok:
        assert not resets and isinstance(evs[-1], c.StreamEnded) and not _rst(out)
    else:
        assert (1, c.PROTOCOL_ERROR) in _rst(out) and 1 not in server.streams
        assert not any(isinstance(e, c.StreamEnded) for e in evs)
        # the caller hears of it when it knew the stream (an invalid header: it never did)
        assert [e.local for e in resets] == ([True] if declared.isdigit() else [])


def test_peer_header_table_size_is_capped() -> None:
    """A peer allowing a huge HPACK table does not make ours grow past 4096 bytes."""
    server = start()
    server.receive_data(frame(c.SETTINGS, 0, 0, b"\x00\x01\xff\xff\xff\xff"))
    assert server.encoder.header_table_size == 4096
    server.receive_data(frame(c.SETTINGS, 0, 0, b"\x00\x01\x00\x00\x01\x00"))
    assert server.encoder.header_table_size == 256


# -- differential: the h2 package's server side, fed the same bytes -------------------------

def _norm(ev: Any) -> tuple[Any, ...] | None:
    """The facts of an event both connections report (by class name: the classes differ)."""
    kind = type(ev).__name__
    if kind == "RequestReceived":
        return (kind, ev.stream_id, [(bytes(n), bytes(v)) for n, v in ev.headers])
    if kind == "TrailersReceived":
        return (kind, ev.stream_id, [(bytes(n), bytes(v)) for n, v in ev.headers])
    if kind == "DataReceived":
        return (kind, ev.stream_id, bytes(ev.data), ev.flow_controlled_length)
    if kind == "StreamEnded":
        return (kind, ev.stream_id)
    if kind == "StreamReset":
        return (kind, ev.stream_id, int(ev.error_code))
    if kind == "WindowUpdated":
        return (kind, ev.stream_id, ev.delta)
    if kind == "PingAckReceived":
        return (kind, bytes(ev.ping_data))
    if kind == "ConnectionTerminated":
        return (kind, int(ev.error_code), ev.last_stream_id)
    return None  # settings, PING (h2 reports it, we answer it silently), priority


actions = st.lists(st.one_of(
    st.tuples(st.just("request"), st.lists(st.tuples(st.sampled_from([b"x-a", b"x-b", b"accept", b"cookie"]),
                                                     st.binary(min_size=1, max_size=20).filter(
                                                         lambda v: v.strip(b" \t") == v and not set(v) & {0, 10, 13})),
                                           max_size=4),
              st.binary(max_size=300), st.booleans()),
    st.tuples(st.just("data"), st.integers(0, 5), st.binary(max_size=300), st.booleans()),
    st.tuples(st.just("reset"), st.integers(0, 5), st.sampled_from([0, 8])),
    st.tuples(st.just("ping"), st.binary(min_size=8, max_size=8)),
    st.tuples(st.just("window"), st.integers(1, 1000)),
    st.tuples(st.just("trailers"), st.integers(0, 5)),
), max_size=25)


@settings(max_examples=300, deadline=None)
@given(steps=actions)
def test_same_events_as_the_h2_package(steps: list[Any]) -> None:
    """What a real client (h2's client side) sends, our connection reports as the h2
    package's server side does: the same requests, bodies, ends, resets, window updates
    and PING answers, in the same order (both limited to 100 streams, 64 KiB windows)."""
    import h2.config as hc
    import h2.settings as hs

    ours = c.ServerConnection(initial_window_size=65535)
    ours.initiate_connection()
    ref = h2.connection.H2Connection(hc.H2Configuration(client_side=False, header_encoding=None,
                                                        normalize_inbound_headers=False))  # cookies: check_request
    ref.local_settings = hs.Settings(client=False, initial_values={
        hs.SettingCodes.MAX_CONCURRENT_STREAMS: 100, hs.SettingCodes.MAX_HEADER_LIST_SIZE: 64 * 1024,
        hs.SettingCodes.INITIAL_WINDOW_SIZE: 65535, hs.SettingCodes.ENABLE_PUSH: 0})
    ref.initiate_connection()
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    client.receive_data(ours.data_to_send())
    ref.data_to_send()
    got: list[Any] = []
    want: list[Any] = []
    open_: list[int] = []

    def pump() -> None:
        out = client.data_to_send()
        if out:
            got.extend(e for e in map(_norm, ours.receive_data(out)) if e)
            want.extend(e for e in map(_norm, ref.receive_data(out)) if e)
        back = ours.data_to_send()
        ref.data_to_send()
        if back:
            client.receive_data(back)

    pump()
    for step in steps:
        kind = step[0]
        try:
            if kind == "request":
                sid = client.get_next_available_stream_id()
                client.send_headers(sid, REQ + step[1], end_stream=not step[2] and step[3])
                if step[2]:
                    client.send_data(sid, step[2], end_stream=step[3])
                if not step[3]:
                    open_.append(sid)
            elif kind == "data" and open_:
                sid = open_[step[1] % len(open_)]
                client.send_data(sid, step[2], end_stream=step[3])
                if step[3]:
                    open_.remove(sid)
            elif kind == "trailers" and open_:
                sid = open_.pop(step[1] % len(open_))
                client.send_headers(sid, [(b"x-trailer", b"t")], end_stream=True)
            elif kind == "reset" and open_:
                sid = open_.pop(step[1] % len(open_))
                client.reset_stream(sid, step[2])
            elif kind == "ping":
                client.ping(step[1])
            elif kind == "window":
                client.increment_flow_control_window(step[1])
        except h2.exceptions.FlowControlError:
            continue  # the client itself will not send past the window
        pump()
    assert got == want

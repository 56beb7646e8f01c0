"""Our HTTP/2 server connection (streamcore._h2conn): any bytes after the
connection preface and an empty SETTINGS, fed whole or in pieces, give events
or ConnectionError (never another exception), the same events in both cases
up to the error, and the connection writes only whole frames."""

from __future__ import annotations

import _common

with _common.instrumented():
    from streamcore import _h2conn as c

START = c.PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def run(pieces: list[bytes]) -> tuple[list[str], str | None, bytes]:
    conn = c.ServerConnection(max_concurrent_streams=4, max_header_list_size=4096, max_continuation_frames=3)
    conn.initiate_connection()
    events: list[str] = []
    error = None
    try:
        for p in pieces:
            for ev in conn.receive_data(p):
                events.append(repr(ev))
                if isinstance(ev, c.DataReceived) and ev.flow_controlled_length:
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
    except c.ConnectionError as exc:
        error = f"{exc.error_code}"
    return events, error, conn.data_to_send()


def whole_frames(out: bytes) -> bool:
    i = 0
    while i < len(out):
        i += 9 + int.from_bytes(out[i:i + 3], "big")
    return i == len(out)


def target(data: bytes) -> None:
    whole = run([START + data])
    split = run([START] + _common.cuts(data))
    assert whole_frames(whole[2]) and whole_frames(split[2])
    assert whole[1] == split[1], (whole[1], split[1])  # the same verdict
    if whole[1] is None:
        assert whole[0] == split[0]  # and the same events


if __name__ == "__main__":
    _common.main(target, "h2conn")

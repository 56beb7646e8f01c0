"""The HTTP/1.1 engine: any bytes, whole or in pieces, give the same events or
Http11Error (never another exception), from both twins alike (the same
events, the same error status), and every RequestHead it returns has a valid
target form."""

from __future__ import annotations

import _common

with _common.instrumented():
    from streamcore.http11 import END, NEED_DATA, PAUSED, Http11Error, RequestHead
    TWINS = _common.twins("http11")


CLOSED_NAME = "CLOSED"


def run(pieces: list[bytes], mod: object = None) -> list[object]:
    conn = (mod or TWINS[0]).Http11Connection(max_head_size=4096)  # type: ignore[attr-defined]
    events: list[object] = []
    try:
        for p in [*pieces, b""]:
            conn.receive_data(p)
            for _ in range(10_000):
                ev = conn.next_event()
                if ev is NEED_DATA:
                    break
                if ev is PAUSED:
                    # answer and go on, as the adapter does
                    conn.response_head(200, [(b"content-length", b"0")])
                    conn.response_end()
                    if not conn.keep_alive or not conn.request_complete:
                        return events + ["closed"]
                    conn.start_next_cycle()
                    events.append("cycle")
                    continue
                if repr(ev) == CLOSED_NAME:
                    return events + ["eof"]
                if isinstance(ev, RequestHead):
                    assert ev.target_form in ("origin", "absolute", "authority", "asterisk")
                    events.append(("head", ev.method, ev.target, tuple(ev.headers)))
                elif isinstance(ev, bytes):
                    if events and isinstance(events[-1], bytes):
                        events[-1] += ev
                    else:
                        events.append(ev)
                elif ev is END:
                    events.append("end")
            else:
                raise AssertionError("no progress")
    except Http11Error as exc:
        return events + [("error", exc.status_hint)]
    return events


def target(data: bytes) -> None:
    for mod in TWINS[1:]:  # the compiled twin behaves as the pure one, whole and in pieces
        assert run([data], mod) == run([data]), data
        assert run(_common.cuts(data), mod) == run(_common.cuts(data)), data
    whole = run([data])
    split = run(_common.cuts(data))
    failed = [isinstance(r[-1], tuple) and r[-1][0] == "error" if r else False for r in (whole, split)]
    # Fed in pieces, body bytes before a bad one are delivered before the error
    # is seen; otherwise cutting the input changes nothing.
    assert failed[0] == failed[1], (whole, split)
    if failed[0]:
        assert whole[-1] == split[-1], (whole, split)
    else:
        assert whole == split, (whole, split)


if __name__ == "__main__":
    _common.main(target, "http11")

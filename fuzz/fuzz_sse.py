"""SSE decoder: any bytes, fed whole or in pieces, give the same events from
both twins, or SseDecodeError from both (never another exception)."""

from __future__ import annotations

import _common

with _common.instrumented():
    from streamcore.sse import SseDecodeError
    TWINS = _common.twins("sse")




def run(mod, pieces: list[bytes]) -> object:
    dec = mod.SseDecoder(max_line_size=4096, max_event_size=16384)
    out: list = []
    try:
        for p in pieces:
            out += dec.feed(p)
        out += dec.close()
    except SseDecodeError:
        return ("error", [(e.data, e.event, e.id, e.retry) for e in out])
    return [(e.data, e.event, e.id, e.retry) for e in out]


def target(data: bytes) -> None:
    whole = [run(m, [data]) for m in TWINS]
    split = [run(m, _common.cuts(data)) for m in TWINS]
    assert all(r == whole[0] for r in whole), whole  # the twins agree, whole ...
    assert all(r == split[0] for r in split), split  # ... and in pieces
    if not isinstance(whole[0], tuple) and not isinstance(split[0], tuple):
        assert whole[0] == split[0], (whole, split)  # cutting changes nothing


if __name__ == "__main__":
    _common.main(target, "sse")

"""Chunked decoder: any bytes give the same body from both twins, fed whole or
in pieces, or ChunkedDecodeError from both (never another exception)."""

from __future__ import annotations

import _common

with _common.instrumented():
    from streamcore.chunked import ChunkedDecodeError
    TWINS = _common.twins("chunked")




def run(mod, pieces: list[bytes]) -> object:
    dec = mod.ChunkedDecoder(max_chunk_ext_size=256, max_trailer_size=1024, max_chunk_size=1 << 20)
    out = b""
    try:
        for p in pieces:
            out += dec.feed(p)
            if dec.done:
                break
    except ChunkedDecodeError as exc:
        return ("error", exc.status_hint)
    return (out, dec.done, bytes(dec.unused_data) if dec.done else b"")


def target(data: bytes) -> None:
    whole = [run(m, [data]) for m in TWINS]
    split = [run(m, _common.cuts(data)) for m in TWINS]
    assert all(r == whole[0] for r in whole), whole
    assert all(r == split[0] for r in split), split
    if whole[0][0] != "error" and split[0][0] != "error" and whole[0][1]:
        assert whole[0][0] == split[0][0], (whole, split)


if __name__ == "__main__":
    _common.main(target, "chunked")

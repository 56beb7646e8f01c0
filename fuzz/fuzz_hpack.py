"""HPACK decoder: any bytes, cut into header blocks decoded one after another on
one context (cut at ``SEPARATOR``), give the same lists from both twins, or HpackDecodeError from both
(never another exception); what decodes re-encodes (our encoder) to a block the
``hpack`` package decodes to the same list; check_request on a decoded list
gives the same verdict from both twins."""

from __future__ import annotations

import _common

with _common.instrumented():
    from streamcore.hpack import HpackDecodeError, MalformedHeaders
    TWINS = _common.twins("hpack")

try:
    import hpack as reference
except ImportError:  # pragma: no cover - the http2 extra is not installed
    reference = None


def run(mod, blocks: list[bytes]) -> object:
    dec = mod.Decoder(max_header_list_size=8192)
    out: list = []
    for b in blocks:
        try:
            out.append(dec.decode(b))
        except HpackDecodeError as exc:
            out.append(("error", type(exc).__name__))
            break
    return out


def verdict(mod, headers: list) -> object:
    try:
        return mod.check_request(headers)
    except MalformedHeaders:
        return "malformed"


SEPARATOR = b"\x00\xff"  # between header blocks (rare inside a real one)


def target(data: bytes) -> None:
    blocks = data.split(SEPARATOR)
    results = [run(m, blocks) for m in TWINS]
    assert all(r == results[0] for r in results), results  # the twins agree
    for m in TWINS:
        enc = m.Encoder()
        ref = reference.Decoder(max_header_list_size=1 << 20) if reference else None
        for hs in results[0]:
            if isinstance(hs, tuple):
                continue
            verdicts = [verdict(t, hs) for t in TWINS]
            assert all(v == verdicts[0] for v in verdicts), verdicts
            block = enc.encode(hs)
            if ref is not None:
                assert [(bytes(n), bytes(v)) for n, v in ref.decode(block, raw=True)] == hs


if __name__ == "__main__":
    _common.main(target, "hpack")

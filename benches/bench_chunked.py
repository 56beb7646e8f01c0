"""Chunked codec benchmarks against h11 and httptools, in one run.

Run::

    python -m pytest benches/bench_chunked.py --benchmark-min-rounds=5 \\
        --benchmark-warmup=on --benchmark-columns=min,median,ops -q

Decode: an 8 MiB body (seeded random bytes) framed in 200 B, 2 KiB and 64 KiB
chunks, read in 1460 B (one TCP segment) and 64 KiB pieces. Each round makes
a fresh decoder and feeds every piece, counting body bytes:

* ours (``impl``: the pure and the compiled twin): ``ChunkedDecoder.feed``;
* h11: a server ``h11.Connection`` fed the request head, then the same
  pieces, pulling events and counting ``Data`` (the public API, so it includes
  h11's event objects and receive buffer, as an h11 user would pay);
* httptools: ``HttpRequestParser`` fed the head once, then the same pieces,
  with an ``on_body`` callback that counts bytes.

Encode: per-call cost of framing one 200 B or 2 KiB payload; 1000 calls per
timed round (so the table's times are per 1000 chunks). h11 is
``Connection.send(h11.Data(...))`` after a chunked response head.
"""

from __future__ import annotations

import random

import h11
import httptools
import pytest

CODEC = "chunked"

BODY = random.Random(8).randbytes(8 << 20)
HEAD = b"POST /mcp HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNKS = {"200B": 200, "2KiB": 2048, "64KiB": 65536}
READS = {"1460B": 1460, "64KiB": 65536}


def _stream(chunk: int) -> bytes:
    parts = []
    for i in range(0, len(BODY), chunk):
        piece = BODY[i : i + chunk]
        parts.append(b"%x\r\n%b\r\n" % (len(piece), piece))
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


_PIECES: dict[tuple[str, str], list[bytes]] = {}


def pieces(chunk: str, read: str) -> list[bytes]:
    key = (chunk, read)
    if key not in _PIECES:
        s = _stream(CHUNKS[chunk])
        n = READS[read]
        _PIECES[key] = [s[i : i + n] for i in range(0, len(s), n)]
    return _PIECES[key]


def decode_ours(impl, ps: list[bytes]) -> int:
    dec = impl.ChunkedDecoder()
    feed = dec.feed
    n = 0
    for p in ps:
        n += len(feed(p))
    assert dec.done
    return n


def decode_h11(ps: list[bytes]) -> int:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(HEAD)
    assert isinstance(conn.next_event(), h11.Request)
    n = 0
    done = False
    for p in ps:
        conn.receive_data(p)
        while True:
            ev = conn.next_event()
            if type(ev) is h11.Data:
                n += len(ev.data)
            elif ev is h11.NEED_DATA:
                break
            elif type(ev) is h11.EndOfMessage:
                done = True
                break
    assert done
    return n


class _Counter:
    __slots__ = ("n", "done")

    def __init__(self) -> None:
        self.n = 0
        self.done = False

    def on_body(self, body: bytes) -> None:
        self.n += len(body)

    def on_message_complete(self) -> None:
        self.done = True


def decode_httptools(ps: list[bytes]) -> int:
    proto = _Counter()
    parser = httptools.HttpRequestParser(proto)
    parser.feed_data(HEAD)
    for p in ps:
        parser.feed_data(p)
    assert proto.done
    return proto.n


CASES = [(c, r) for c in CHUNKS for r in READS]


@pytest.mark.parametrize(("chunk", "read"), CASES)
def test_decode_streamcore(benchmark, impl, chunk, read):
    """streamcore ChunkedDecoder (this twin)."""
    benchmark.group = f"chunked-decode chunk={chunk} read={read}"
    ps = pieces(chunk, read)
    assert benchmark(decode_ours, impl, ps) == len(BODY)


@pytest.mark.parametrize(("chunk", "read"), CASES)
def test_decode_h11(benchmark, chunk, read):
    """h11 server Connection, counting Data events."""
    benchmark.group = f"chunked-decode chunk={chunk} read={read}"
    ps = pieces(chunk, read)
    assert benchmark(decode_h11, ps) == len(BODY)


@pytest.mark.parametrize(("chunk", "read"), CASES)
def test_decode_httptools(benchmark, chunk, read):
    """httptools HttpRequestParser with an on_body callback."""
    benchmark.group = f"chunked-decode chunk={chunk} read={read}"
    ps = pieces(chunk, read)
    assert benchmark(decode_httptools, ps) == len(BODY)


PAYLOADS = {"200B": BODY[:200], "2KiB": BODY[:2048]}


def encode_ours_1000(encode_chunk, payload: bytes) -> None:
    for _ in range(1000):
        encode_chunk(payload)


def _h11_chunked_server() -> h11.Connection:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"GET /mcp HTTP/1.1\r\nHost: example\r\n\r\n")
    conn.next_event()
    conn.next_event()
    conn.send(h11.Response(status_code=200, headers=[(b"Transfer-Encoding", b"chunked")]))
    return conn


def encode_h11_1000(conn: h11.Connection, payload: bytes) -> None:
    send = conn.send
    Data = h11.Data
    for _ in range(1000):
        send(Data(data=payload))


@pytest.mark.parametrize("size", list(PAYLOADS))
def test_encode_streamcore(benchmark, impl, size):
    """streamcore encode_chunk, 1000 calls."""
    benchmark.group = f"chunked-encode {size} x1000"
    payload = PAYLOADS[size]
    assert impl.encode_chunk(payload) == b"%x\r\n%b\r\n" % (len(payload), payload)
    benchmark(encode_ours_1000, impl.encode_chunk, payload)


@pytest.mark.parametrize("size", list(PAYLOADS))
def test_encode_h11(benchmark, size):
    """h11 Connection.send(Data(...)) on a chunked response, 1000 calls."""
    benchmark.group = f"chunked-encode {size} x1000"
    payload = PAYLOADS[size]
    conn = _h11_chunked_server()
    assert conn.send(h11.Data(data=payload)) == b"%x\r\n%b\r\n" % (len(payload), payload)
    benchmark(encode_h11_1000, conn, payload)


def empty_loop_1000(payload: bytes) -> None:
    for _ in range(1000):
        pass


def test_encode_loop_overhead(benchmark):
    """The bare 1000-iteration loop, to subtract from the per-call encode figures."""
    benchmark.group = "chunked-encode loop overhead x1000"
    benchmark(empty_loop_1000, b"")

"""SSE codec benchmarks: our twins against httpx-sse (decode) and sse-starlette (encode).

Run: ``python -m pytest benches/bench_sse.py --benchmark-min-rounds=5
--benchmark-warmup=on --benchmark-columns=min,median,ops -q``

Payloads are seeded, realistic JSON-RPC messages (a ``tools/call`` result
with text content) of about 200 B, 2 KB and 64 KB, each sent as one SSE
event with an id, as an MCP server does. Decoding is timed from a list of
reads (64 B, 1460 B = one TCP segment, 64 KB) to a list of events; the
split is done outside the timer. ``extra_info["bytes"]`` is the stream size,
so throughput is bytes / time.

Peers, each on its real bytes->events path:

* ``httpx_sse``: ``EventSource(httpx.Response(...)).iter_sse()``, i.e. what
  ``connect_sse`` users run: httpx's UTF-8 text decoding, then httpx-sse's
  ``SSELineDecoder`` and ``SSEDecoder``.
* ``httpx_sse_core``: the same two httpx-sse classes fed by a bare
  incremental UTF-8 decoder, without httpx's response machinery: the
  cheapest way anyone could run httpx-sse's code.
* ``sse_starlette``: ``ServerSentEvent(data, id=...).encode()``.
"""

from __future__ import annotations

import codecs
import json
import random

import httpx
import pytest
from httpx_sse import EventSource
from httpx_sse._decoders import SSEDecoder, SSELineDecoder
from sse_starlette.event import ServerSentEvent

from streamcore._codecs import _sse_py

CODEC = "sse"

SIZES = {"200B": 200, "2KB": 2048, "64KB": 65536}
READS = {"r64": 64, "r1460": 1460, "r64K": 65536}
# about 1 MiB of stream per case, so one round is long enough to time well
STREAM_BYTES = 1 << 20


def jsonrpc_message(size: int, rnd: random.Random, i: int) -> bytes:
    """A compact JSON-RPC response of about ``size`` bytes (ASCII text, like most tool output)."""
    words = ["alpha", "beta", "gamma", "delta", "tool", "result", "stream", "event", "42", "\\n"]
    text = []
    budget = max(size - 90, 8)
    n = 0
    while n < budget:
        w = rnd.choice(words)
        text.append(w)
        n += len(w) + 1
    body = {"jsonrpc": "2.0", "id": i, "result": {"content": [{"type": "text", "text": " ".join(text)}],
                                                  "isError": False}}
    return json.dumps(body, separators=(",", ":")).encode()


def make_stream(size: int) -> tuple[bytes, int]:
    rnd = random.Random(size)
    parts = [_sse_py.encode_priming("s1-0", retry=1000)]
    total = 0
    i = 0
    while total < STREAM_BYTES or i < 4:
        i += 1
        ev = _sse_py.encode_event(jsonrpc_message(size, rnd, i), id=f"s1-{i}")
        parts.append(ev)
        total += len(ev)
    return b"".join(parts), i + 1


STREAMS = {name: make_stream(size) for name, size in SIZES.items()}


def split(stream: bytes, n: int) -> list[bytes]:
    return [stream[i : i + n] for i in range(0, len(stream), n)]


CASES = [(s, r) for s in SIZES for r in READS]
IDS = [f"{s}-{r}" for s, r in CASES]


def _ours(impl, reads):
    dec = impl.SseDecoder()
    n = 0
    for r in reads:
        n += len(dec.feed(r))
    return n


def _httpx_sse(reads):
    resp = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(reads))
    n = 0
    for _ in EventSource(resp).iter_sse():
        n += 1
    return n


def _httpx_sse_core(reads):
    text = codecs.getincrementaldecoder("utf-8")("replace")
    lines = SSELineDecoder()
    dec = SSEDecoder()
    n = 0
    for r in reads:
        for line in lines.decode(text.decode(r)):
            if dec.decode(line) is not None:
                n += 1
    return n


@pytest.mark.benchmark(group="sse-decode")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_decode_streamcore(benchmark, impl, case):
    size, read = case
    stream, count = STREAMS[size]
    reads = split(stream, READS[read])
    benchmark.extra_info["bytes"] = len(stream)
    assert benchmark(_ours, impl, reads) == count


@pytest.mark.benchmark(group="sse-decode")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_decode_httpx_sse(benchmark, case):
    size, read = case
    stream, count = STREAMS[size]
    reads = split(stream, READS[read])
    benchmark.extra_info["bytes"] = len(stream)
    assert benchmark(_httpx_sse, reads) == count


@pytest.mark.benchmark(group="sse-decode")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_decode_httpx_sse_core(benchmark, case):
    size, read = case
    stream, count = STREAMS[size]
    reads = split(stream, READS[read])
    benchmark.extra_info["bytes"] = len(stream)
    assert benchmark(_httpx_sse_core, reads) == count


ENC = {name: jsonrpc_message(size, random.Random(size + 1), 7) for name, size in SIZES.items()}
# Encoders are timed over a batch of BATCH events per call, so the harness's
# per-call overhead (~0.2 us) does not swamp a ~0.1 us encode; divide by BATCH.
BATCH = 100
IDS_BATCH = [f"s1-{i}" for i in range(BATCH)]


def _batch(fn, data):
    for i in IDS_BATCH:
        fn(data, id=i)


@pytest.mark.benchmark(group="sse-encode")
@pytest.mark.parametrize("size", list(SIZES))
def test_encode_streamcore_bytes(benchmark, impl, size):
    data = ENC[size]
    benchmark.extra_info["bytes"] = len(data) * BATCH
    benchmark(_batch, impl.encode_event, data)
    assert impl.encode_event(data, id="s1-42") == b"id: s1-42\ndata: " + data + b"\n\n"


@pytest.mark.benchmark(group="sse-encode")
@pytest.mark.parametrize("size", list(SIZES))
def test_encode_streamcore_str(benchmark, impl, size):
    data = ENC[size].decode()
    benchmark.extra_info["bytes"] = len(data) * BATCH
    benchmark(_batch, impl.encode_event, data)


@pytest.mark.benchmark(group="sse-encode")
@pytest.mark.parametrize("size", list(SIZES))
def test_encode_streamcore_chunk(benchmark, impl, size):
    data = ENC[size]
    benchmark.extra_info["bytes"] = len(data) * BATCH
    benchmark(_batch, impl.encode_event_chunk, data)
    assert impl.encode_event_chunk(data, id="s1-42").endswith(b"\n\n\r\n")


def _starlette(data, id):
    return ServerSentEvent(data, id=id).encode()


@pytest.mark.benchmark(group="sse-encode")
@pytest.mark.parametrize("size", list(SIZES))
def test_encode_sse_starlette(benchmark, size):
    data = ENC[size].decode()
    benchmark.extra_info["bytes"] = len(data) * BATCH
    benchmark(_batch, _starlette, data)
    assert _starlette(data, "s1-42").startswith(b"id: s1-42")

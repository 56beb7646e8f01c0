"""JSON-RPC parse benchmarks: streamcore's twins against the real peers, one run.

Peers per payload: ``json.loads``, ``orjson.loads``, ``msgspec.json.decode``
(JSON decoding only, no JSON-RPC validation) and the official ``mcp`` SDK's
per-POST path (``mcp.server.streamable_http``, mcp 2.3.0:
``pydantic_core.from_json(body)`` then
``jsonrpc_message_adapter.validate_python(raw, by_name=False)``).
Ours is the full parse with validation (``impl.parse``); ``lazy`` is the
gateway envelope parse (``parse(..., lazy=True)``).

    python -m pytest benches/bench_jsonrpc.py --benchmark-min-rounds=5 \\
        --benchmark-warmup=on --benchmark-columns=min,median,ops -q
"""

from __future__ import annotations

import json
import random

import msgspec
import orjson
import pydantic_core
import pytest
from mcp_types import jsonrpc_message_adapter

CODEC = "jsonrpc"

_rng = random.Random(20261125)
_WORDS = ["alpha", "beta", "gamma", "delta", "weather", "Paris", "température", "résumé", "line", "\n"]


def _text(size: int) -> str:
    out: list[str] = []
    n = 0
    while n < size:
        w = _rng.choice(_WORDS)
        out.append(w)
        n += len(w) + 1
    return " ".join(out)[:size]


def _result(msg_id: int, size: int) -> bytes:
    # realistic tools/call result (MCP CallToolResult), compact like the SDKs send it
    body = {"jsonrpc": "2.0", "id": msg_id, "result": {"content": [{"type": "text", "text": ""}], "isError": False}}
    overhead = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    text = _text(max(0, size - overhead))
    while True:  # non-ASCII letters and escaped newlines take more than one byte
        body["result"]["content"][0]["text"] = text
        out = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        if len(out) <= size:
            return out
        text = text[: len(text) - max(1, (len(out) - size) // 2)]


TOOLS_CALL = (
    b'{"jsonrpc":"2.0","id":42,"method":"tools/call",'
    b'"params":{"name":"get_weather","arguments":{"city":"Paris","units":"metric"}}}'
)
BATCH_100 = b"[" + b",".join(
    b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"c%d"}}}'
    % (i, i)
    for i in range(100)
) + b"]"
PAYLOADS = {
    "tools_call_100B": TOOLS_CALL,
    "batch_100": BATCH_100,
    "result_200B": _result(7, 200),
    "result_2KB": _result(7, 2048),
    "result_64KB": _result(7, 64 * 1024),
}
NAMES = list(PAYLOADS)


def _mcp_sdk(body: bytes) -> object:
    # exactly what mcp.server.streamable_http does per POST body
    return jsonrpc_message_adapter.validate_python(pydantic_core.from_json(body), by_name=False)


def _mcp_sdk_batch(body: bytes) -> object:
    # mcp 2.3.0 refuses batches; validate each element the same way for a fair number
    return [jsonrpc_message_adapter.validate_python(m, by_name=False) for m in pydantic_core.from_json(body)]


def test_payload_sizes() -> None:
    """The payloads have the advertised sizes and are valid for every contender."""
    assert 90 <= len(TOOLS_CALL) <= 130  # "~100 B"
    assert 190 <= len(PAYLOADS["result_200B"]) <= 210
    assert abs(len(PAYLOADS["result_64KB"]) - 65536) < 64
    for name, body in PAYLOADS.items():
        (_mcp_sdk_batch if name == "batch_100" else _mcp_sdk)(body)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.benchmark(group="jsonrpc-parse")
def test_streamcore(benchmark, impl, name):
    """streamcore full parse and validation."""
    body = PAYLOADS[name]
    allow_batch = name == "batch_100"
    parsed = benchmark(impl.parse, body, allow_batch=allow_batch)
    assert type(parsed.messages[0]) in (impl.Request, impl.Response)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.benchmark(group="jsonrpc-parse")
def test_streamcore_lazy(benchmark, impl, name):
    """streamcore envelope-only parse (params/result kept as RawJson)."""
    body = PAYLOADS[name]
    parsed = benchmark(impl.parse, body, allow_batch=name == "batch_100", lazy=True)
    assert type(parsed.messages[0]) in (impl.Request, impl.Response)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.benchmark(group="jsonrpc-parse")
def test_json_loads(benchmark, name):
    """stdlib json.loads (decoding only)."""
    benchmark(json.loads, PAYLOADS[name])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.benchmark(group="jsonrpc-parse")
def test_orjson_loads(benchmark, name):
    """orjson.loads (decoding only)."""
    benchmark(orjson.loads, PAYLOADS[name])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.benchmark(group="jsonrpc-parse")
def test_msgspec_decode(benchmark, name):
    """msgspec.json.decode (decoding only)."""
    benchmark(msgspec.json.decode, PAYLOADS[name])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.benchmark(group="jsonrpc-parse")
def test_mcp_sdk(benchmark, name):
    """The mcp SDK's per-POST validation path."""
    benchmark(_mcp_sdk_batch if name == "batch_100" else _mcp_sdk, PAYLOADS[name])


@pytest.mark.benchmark(group="jsonrpc-encode")
def test_encode_result_raw(benchmark, impl):
    """encode_result splicing a pre-encoded 2 KB result (RawJson)."""
    raw = impl.RawJson(json.dumps(json.loads(PAYLOADS["result_2KB"])["result"]).encode())
    benchmark(impl.encode_result, 42, raw)


@pytest.mark.benchmark(group="jsonrpc-encode")
def test_encode_result_object(benchmark, impl):
    """encode_result of a 2 KB result given as Python objects."""
    result = json.loads(PAYLOADS["result_2KB"])["result"]
    benchmark(impl.encode_result, 42, result)


@pytest.mark.benchmark(group="jsonrpc-encode")
def test_encode_orjson_dumps(benchmark):
    """orjson.dumps of the same 2 KB response (peer)."""
    msg = json.loads(PAYLOADS["result_2KB"])
    benchmark(orjson.dumps, msg)

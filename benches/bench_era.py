"""Cost of the era classifier per request (``streamcore._era.classify``).

Run: ``python -m pytest benches/bench_era.py --benchmark-columns=min,median,ops -q``

Cases, each one realistic POST as a client sends it:

* ``modern_call``: a 2026-07-28 ``tools/call`` with ``Mcp-Name`` and two
  annotated ``Mcp-Param-*`` headers checked against ``param_headers``;
* ``modern_call_base64``: the same with a non-ASCII tool argument in the
  Base64 sentinel form;
* ``legacy_call``: a 2025-11-25 ``tools/call`` inside a session (the body is
  parsed to look for modern ``_meta``, then handed on);
* ``head_only``: a gateway deciding from the head alone (no body).

The body parse dominates; ``extra_info["bytes"]`` is the body size.
"""

from __future__ import annotations

import json

import pytest

from streamcore._era import classify, encode_header_value

V = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": V,
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1.0.0"},
    "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
}
PH = {"execute_sql": {"Region": ("region",), "Limit": ("opts", "limit")}}


def _body(region: str, meta: dict | None) -> bytes:
    params: dict = {"name": "execute_sql", "arguments": {
        "region": region, "opts": {"limit": 100}, "query": "SELECT * FROM users WHERE id > 42 ORDER BY id"}}
    if meta is not None:
        params["_meta"] = meta
    return json.dumps({"jsonrpc": "2.0", "id": 17, "method": "tools/call", "params": params}).encode()


def _modern_headers(region: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"host", b"127.0.0.1:8000"), (b"accept", b"application/json, text/event-stream"),
        (b"content-type", b"application/json"), (b"mcp-protocol-version", V.encode()),
        (b"mcp-method", b"tools/call"), (b"mcp-name", b"execute_sql"),
        (b"mcp-param-region", encode_header_value(region).encode()), (b"mcp-param-limit", b"100"),
    ]


CASES = {
    "modern_call": ("POST", _modern_headers("us-west1"), _body("us-west1", META)),
    "modern_call_base64": ("POST", _modern_headers("Zürich-1"), _body("Zürich-1", META)),
    "legacy_call": ("POST", [
        (b"host", b"127.0.0.1:8000"), (b"accept", b"application/json, text/event-stream"),
        (b"content-type", b"application/json"), (b"mcp-protocol-version", b"2025-11-25"),
        (b"mcp-session-id", b"Jx3v0cS1rM2q9YwTnq0w1vK7ZC2P5sQe"),
    ], _body("us-west1", None)),
    "head_only": ("POST", _modern_headers("us-west1"), None),
}


@pytest.mark.benchmark(group="era-classify")
@pytest.mark.parametrize("case", list(CASES))
def test_classify(benchmark, case):
    method, headers, body = CASES[case]
    v = classify(method.encode(), headers, body, param_headers=PH)
    assert v.accepted, v
    benchmark.extra_info["bytes"] = len(body or b"")
    benchmark(classify, method.encode(), headers, body, param_headers=PH)

"""Issue 11's transport errors, through the dual-era endpoint (sans-IO).

Each test names the conformance check (alpha.12, ``--spec-version
2026-07-28``) or requirement it mirrors.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from _server_harness import Harness
from streamcore.events import RequestReceived
from streamcore.server import complete_result_for_era, discover_result
from streamcore.era import LEGACY_VERSIONS, MODERN_VERSIONS

MODERN = "2026-07-28"
CAPS = "io.modelcontextprotocol/clientCapabilities"
PV = "io.modelcontextprotocol/protocolVersion"
ALL = sorted(set(LEGACY_VERSIONS) | set(MODERN_VERSIONS), reverse=True)


def modern(method: str, params: dict[str, Any] | None = None, *, id_: Any = 1, meta: Any = "default",
           version: str = MODERN) -> tuple[dict[str, Any], list[tuple[bytes, bytes]]]:
    p = dict(params or {})
    if meta == "default":
        p["_meta"] = {PV: version, CAPS: {}}
    elif meta is not None:
        p["_meta"] = meta
    hdrs = [(b"mcp-method", method.encode())]
    if method == "tools/call":
        hdrs.append((b"mcp-name", p["name"].encode()))
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": p}, hdrs


def test_unknown_version_the_2026_way_gets_32022_with_every_served_version() -> None:
    """SRV-VER-06, sep-2575-server-unsupported-version-error: header and _meta name a version
    newer than any we know: 400, -32022, data.supported lists both eras, data.requested echoes it,
    and the id is echoed (sep-2575-http-server-error-jsonrpc-id)."""
    h = Harness()
    body, hdrs = modern("server/discover", meta={PV: "v999.0.0", CAPS: {}}, id_=301)
    r = h.post(body, version="v999.0.0", headers=hdrs)
    assert r.status == 400
    msg = r.json()
    assert msg["id"] == 301 and msg["error"]["code"] == -32022
    assert msg["error"]["data"] == {"supported": ALL, "requested": "v999.0.0"}


def test_unknown_version_on_a_modern_only_server_lists_only_modern() -> None:
    """SRV-VER-06: data.supported is what this endpoint serves (a modern-only server: 2026-07-28)."""
    h = Harness(legacy=False)
    body, hdrs = modern("tools/list", meta={PV: "2030-01-01", CAPS: {}}, id_=7)
    r = h.post(body, version="2030-01-01", headers=hdrs)
    assert r.status == 400 and r.json()["error"]["code"] == -32022
    assert r.json()["error"]["data"] == {"supported": [MODERN], "requested": "2030-01-01"}
    assert r.json()["id"] == 7


def test_unknown_version_in_the_session_era_gets_32022() -> None:
    """SRV-VER-02, SRV-VER-06: an unknown MCP-Protocol-Version on a session-era POST, GET or DELETE
    is 400 with -32022 and the same data (the id echoed when the body was read)."""
    h = Harness()
    sid = h.initialize()
    r = h.post({"jsonrpc": "2.0", "id": 9, "method": "ping"}, session=sid, version="2024-01-01")
    assert r.status == 400
    assert r.json() == {"jsonrpc": "2.0", "id": 9, "error": {
        "code": -32022, "message": r.json()["error"]["message"],
        "data": {"supported": ALL, "requested": "2024-01-01"}}}
    g = h.send(b"GET", session=sid, version="2024-01-01", accept=b"text/event-stream")
    assert g.status == 400 and g.json()["error"]["code"] == -32022 and g.json()["id"] is None
    assert g.json()["error"]["data"]["requested"] == "2024-01-01"


def test_session_era_errors_echo_the_request_id() -> None:
    """sep-2575-http-server-error-jsonrpc-id (both eras): an error answering a request whose body
    parsed carries that request's id, not null."""
    h = Harness()
    r = h.post({"jsonrpc": "2.0", "id": 42, "method": "tools/list"})  # no session
    assert r.status == 400 and r.json()["id"] == 42
    gone = h.post({"jsonrpc": "2.0", "id": 43, "method": "tools/list"}, session="nope", version="2025-11-25")
    assert gone.status == 404 and gone.json()["id"] == 43 and gone.json()["error"]["code"] == -32001
    sid = h.initialize()
    again = h.post({"jsonrpc": "2.0", "id": 44, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}},
                   session=sid, version="2025-11-25")
    assert again.status == 400 and again.json()["id"] == 44


def test_full_session_table_echoes_the_initialize_id() -> None:
    """503 for the initialize past max_sessions carries its id."""
    h = Harness(max_sessions=0)
    r = h.post({"jsonrpc": "2.0", "id": "init-1", "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {}}})
    assert r.status == 503 and r.json()["id"] == "init-1"


@pytest.mark.parametrize("meta", [None, {CAPS: {}}], ids=["missing-meta", "missing-protocol-version"])
def test_missing_meta_or_its_version_is_invalid_params(meta: Any) -> None:
    """sep-2575-request-meta-invalid-*: a 2026-07-28 request without _meta, or whose _meta lacks
    the protocol version, gets 400 -32602 (as the suite and the Python SDK expect), id echoed."""
    h = Harness()
    body, hdrs = modern("server/discover", meta=meta, id_=101)
    r = h.post(body, version=MODERN, headers=hdrs)
    assert r.status == 400
    assert r.json()["id"] == 101 and r.json()["error"]["code"] == -32602


def test_missing_header_with_meta_is_still_header_mismatch() -> None:
    """SRV-VER-07, SRV-HDR-02: _meta present but no MCP-Protocol-Version header: 400 -32020."""
    h = Harness(legacy=False)
    body, hdrs = modern("tools/list", id_=5)
    r = h.post(body, headers=hdrs)
    assert r.status == 400 and r.json()["error"]["code"] == -32020 and r.json()["id"] == 5


@pytest.mark.parametrize("method", ["initialize", "ping", "logging/setLevel", "resources/subscribe",
                                    "resources/unsubscribe"])
def test_removed_methods_are_404_in_2026(method: str) -> None:
    """sep-2575-http-server-method-not-found-404-*: methods 2026-07-28 removed get 404 -32601 from
    the core itself; the application never sees them."""
    h = Harness()
    body, hdrs = modern(method, id_=500)
    r = h.post(body, version=MODERN, headers=hdrs)
    assert r.status == 404
    assert r.json()["id"] == 500 and r.json()["error"]["code"] == -32601
    assert h.take(RequestReceived) == []


def test_undeclared_tool_capability_is_32021_with_400() -> None:
    """sep-2575-server-rejects-undeclared-capability, sep-2575-missing-capability-http-400: a tool
    that needs a client capability the request did not declare gets 400, -32021 and
    data.requiredCapabilities as a ClientCapabilities object; declared, it reaches the app."""
    h = Harness(tool_capabilities={"test_missing_capability": {"sampling": {}}})
    body, hdrs = modern("tools/call", {"name": "test_missing_capability", "arguments": {}}, id_=401)
    r = h.post(body, version=MODERN, headers=hdrs)
    assert r.status == 400
    err = r.json()["error"]
    assert r.json()["id"] == 401 and err["code"] == -32021
    assert err["data"]["requiredCapabilities"] == {"sampling": {}}
    body, hdrs = modern("tools/call", {"name": "test_missing_capability", "arguments": {}},
                        meta={PV: MODERN, CAPS: {"sampling": {}}}, id_=402)
    h.post(body, version=MODERN, headers=hdrs)
    (req,) = h.take(RequestReceived)
    assert req.message.id == 402


def test_app_raised_32021_is_400() -> None:
    """SRV-VER-11: an application's own -32021 answer goes out with HTTP 400."""
    h = Harness()
    body, hdrs = modern("tools/call", {"name": "x", "arguments": {}}, id_=3)
    r = h.post(body, version=MODERN, headers=hdrs)
    (req,) = h.take(RequestReceived)
    h.respond(req.handle, error=(-32021, "needs sampling", {"requiredCapabilities": {"sampling": {}}}))
    assert r.status == 400 and r.json()["error"]["code"] == -32021


SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:x", "$anchor": "root", "type": "object",
    "$defs": {"pos": {"$anchor": "pos", "type": "integer", "exclusiveMinimum": 0}},
    "properties": {"n": {"$ref": "#pos"}, "mode": {"enum": ["a", "b"]},
                   "tags": {"type": "array", "prefixItems": [{"type": "string"}], "unevaluatedItems": False}},
    "allOf": [{"required": ["n"]}],
    "if": {"properties": {"mode": {"const": "a"}}}, "then": {"required": ["tags"]}, "else": {},
    "dependentRequired": {"mode": ["n"]}, "unevaluatedProperties": False,
}


def test_list_results_get_cache_fields_and_schemas_pass_untouched() -> None:
    """SEP-2549: a 2026-07-28 tools/list result the app gives without ttlMs/cacheScope gets them;
    2020-12 keywords in inputSchema arrive exactly as the app wrote them."""
    h = Harness()
    tools = {"tools": [{"name": "t", "inputSchema": SCHEMA_2020_12}]}
    body, hdrs = modern("tools/list", id_=202)
    r = h.post(body, version=MODERN, headers=hdrs)
    (req,) = h.take(RequestReceived)
    h.respond(req.handle, tools)
    res = r.json()["result"]
    assert res["ttlMs"] == 0 and res["cacheScope"] == "private" and res["resultType"] == "complete"
    assert res["tools"][0]["inputSchema"] == SCHEMA_2020_12
    assert json.dumps(res["tools"][0]["inputSchema"], sort_keys=True) == json.dumps(SCHEMA_2020_12, sort_keys=True)
    assert "ttlMs" not in tools  # the app's dict is not touched


def test_session_era_list_results_are_left_alone() -> None:
    """The session era has no caching fields: its list results go out as given."""
    h = Harness()
    sid = h.initialize()
    r = h.post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session=sid, version="2025-11-25")
    (req,) = h.take(RequestReceived)
    h.respond(req.handle, {"tools": []})
    assert r.messages() == [{"jsonrpc": "2.0", "id": 2, "result": {"tools": []}}]


def test_complete_result_for_era() -> None:
    """The seam helper: cacheable methods get ttlMs/cacheScope in 2026-07-28 only; what the app
    set wins; other methods and eras are returned as they are."""
    assert complete_result_for_era("tools/list", {"tools": []}, MODERN) == {
        "tools": [], "resultType": "complete", "ttlMs": 0, "cacheScope": "private"}
    mine = {"prompts": [], "ttlMs": 60000, "cacheScope": "public"}
    assert complete_result_for_era("prompts/list", mine, MODERN)["ttlMs"] == 60000
    assert complete_result_for_era("prompts/list", mine, MODERN)["cacheScope"] == "public"
    assert complete_result_for_era("tools/call", {"content": []}, MODERN) == {"content": [], "resultType": "complete"}
    assert complete_result_for_era("tools/list", {"tools": []}, "2025-11-25") == {"tools": []}
    for m in ("resources/list", "resources/templates/list", "resources/read"):
        assert "ttlMs" in complete_result_for_era(m, {}, MODERN)


def test_discover_is_answered_from_declared_server_info() -> None:
    """SRV-VER-10: with ServerConfig(server_info=..., capabilities=...) the core answers
    server/discover itself, listing every served version; the app never sees it."""
    h = Harness(server_info={"name": "s", "version": "1"}, capabilities={"tools": {}}, instructions="hi")
    body, hdrs = modern("server/discover", id_=201)
    r = h.post(body, version=MODERN, headers=hdrs)
    assert h.take(RequestReceived) == []
    res = r.json()["result"]
    assert r.status == 200 and r.json()["id"] == 201
    assert res["supportedVersions"] == ALL and res["capabilities"] == {"tools": {}}
    assert res["_meta"]["io.modelcontextprotocol/serverInfo"] == {"name": "s", "version": "1"}
    assert res["instructions"] == "hi" and res["ttlMs"] == 0 and res["resultType"] == "complete"
    assert discover_result(res["supportedVersions"], {"tools": {}}, server_info={"name": "s", "version": "1"},
                           instructions="hi") == res


def test_without_server_info_discover_goes_to_the_app() -> None:
    """No declared server info: server/discover is an ordinary request for the application."""
    h = Harness()
    body, hdrs = modern("server/discover", id_=1)
    h.post(body, version=MODERN, headers=hdrs)
    (req,) = h.take(RequestReceived)
    assert req.message.method == "server/discover"

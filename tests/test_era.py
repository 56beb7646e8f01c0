"""The era classifier and the request-metadata header rules (spec 2.11, 2.12, 2.15; T-19).

Each test names the requirement it checks. The classifier is pure, so every
case is one call: (method, headers, body) -> Verdict.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamcore.jsonrpc import INVALID_PARAMS
from streamcore.era import (
    HEADER_MISMATCH,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    UNSUPPORTED_PROTOCOL_VERSION,
    Verdict,
    classify,
    decode_header_value,
    encode_header_value,
    error_response,
    needs_encoding,
    param_headers_from_tools,
    valid_x_mcp_header,
    x_mcp_header_problems,
    x_mcp_headers,
)

V = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientCapabilities": {}}


def req(method: str = "tools/call", id: Any = 1, version: str | None = V, meta: dict | None = None, **params: Any) -> bytes:
    """A modern request body; ``version`` None leaves the protocolVersion key out of _meta."""
    m = dict(META if meta is None else meta)
    if version is None:
        m.pop("io.modelcontextprotocol/protocolVersion", None)
    else:
        m["io.modelcontextprotocol/protocolVersion"] = version
    return json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": {"_meta": m, **params}}).encode()


def hdrs(method: str = "tools/call", name: str | bytes | None = "get_weather", version: str | bytes | None = V,
         **extra: str | bytes) -> list[tuple[bytes, bytes]]:
    """Modern request headers; pass None to leave one out."""
    h: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
    if version is not None:
        h.append((b"mcp-protocol-version", version if isinstance(version, bytes) else version.encode()))
    if method is not None:
        h.append((b"mcp-method", method.encode()))
    if name is not None:
        h.append((b"mcp-name", name if isinstance(name, bytes) else encode_header_value(name).encode()))
    for k, v in extra.items():
        h.append((k.replace("_", "-").encode(), v if isinstance(v, bytes) else v.encode()))
    return h


CALL = req(name="get_weather", arguments={"location": "Seattle, WA"})


def assert_reject(v: Verdict, status: int, code: int) -> None:
    assert (v.status, v.code) == (status, code), v
    assert v.error_body()  # always encodable


# --- accepted -------------------------------------------------------------------------


def test_modern_tools_call_accepted():
    """CLI-HDR-01/SRV-HDR-01: matching MCP-Protocol-Version, Mcp-Method and Mcp-Name pass."""
    v = classify(b"POST", hdrs(), CALL)
    assert v.accepted and v.era == "modern" and v.protocol_version == V and v.body_checked
    assert v.message_obj.method == "tools/call" and v.request_id == 1


@pytest.mark.parametrize("method,field,value", [
    ("tools/call", "name", "get_weather"),
    ("prompts/get", "name", "code_review"),
    ("resources/read", "uri", "file:///projects/myapp/config.json"),
])
def test_mcp_name_sources(method, field, value):
    """CLI-HDR-01: Mcp-Name mirrors params.name (tools/call, prompts/get) or params.uri (resources/read)."""
    v = classify(b"POST", hdrs(method, value), req(method, **{field: value}))
    assert v.accepted, v
    v = classify(b"POST", hdrs(method, value + "x"), req(method, **{field: value}))
    assert_reject(v, 400, HEADER_MISMATCH)


def test_mcp_name_not_required_for_other_methods():
    """CLI-HDR-01: tools/list needs no Mcp-Name."""
    assert classify(b"POST", hdrs("tools/list", None), req("tools/list")).accepted


def test_modern_notification_accepted():
    """SRV-POST-08: no header rules for notification POSTs; a modern notification is accepted (202 later)."""
    body = json.dumps({"jsonrpc": "2.0", "method": "notifications/x", "params": {"_meta": META}}).encode()
    v = classify(b"POST", [], body)
    assert v.accepted and v.era == "modern" and v.protocol_version == V


def test_header_names_case_insensitive():
    """HDR-04: header names compare case-insensitively."""
    h = [(b"MCP-Protocol-Version", V.encode()), (b"MCP-METHOD", b"tools/call"), (b"Mcp-Name", b"get_weather")]
    assert classify(b"POST", h, CALL).accepted


def test_header_values_case_sensitive():
    """HDR-04: header values are case-sensitive (Mcp-Method: Tools/Call is a mismatch)."""
    assert_reject(classify(b"POST", hdrs("Tools/Call"), CALL), 400, HEADER_MISMATCH)
    assert_reject(classify(b"POST", hdrs(name="Get_Weather"), CALL), 400, HEADER_MISMATCH)


def test_str_headers_are_served():
    """Header fields given as str (not bytes) are read the same way."""
    h = [("mcp-protocol-version", V), ("mcp-method", "tools/call"), ("mcp-name", "get_weather")]
    assert classify("POST", h, CALL).accepted


# --- MCP-Protocol-Version (SRV-VER-05/06/07) --------------------------------------------


def test_ver05_header_body_mismatch():
    """SRV-VER-05: header 2026-07-28, body _meta another version: 400 + -32020."""
    v = classify(b"POST", hdrs(), req(version="2027-01-01", name="get_weather"))
    assert_reject(v, 400, HEADER_MISMATCH)
    assert v.request_id == 1 and b'"id":1' in v.error_body()


def test_ver05_legacy_header_modern_body():
    """SRV-VER-05: a legacy version in the header does not win over modern _meta: mismatch."""
    v = classify(b"POST", hdrs(version="2025-11-25"), CALL)
    assert v.era == "modern"
    assert_reject(v, 400, HEADER_MISMATCH)


def test_ver06_unsupported_version():
    """SRV-VER-06, T-19: same unknown version in header and body: 400 + -32022 with data.supported/requested."""
    v = classify(b"POST", hdrs(version="1900-01-01"), req(version="1900-01-01", name="get_weather"))
    assert_reject(v, 400, UNSUPPORTED_PROTOCOL_VERSION)
    assert v.data == {"supported": ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"], "requested": "1900-01-01"}
    body = json.loads(v.error_body())
    assert body["error"]["data"]["supported"][0] == "2026-07-28" and body["id"] == 1


def test_ver06_modern_only_lists_only_modern():
    """SRV-VER-06: a modern-only server lists only what it supports."""
    v = classify(b"POST", hdrs(version="1900-01-01"), req(version="1900-01-01", name="get_weather"), supported_legacy=())
    assert v.data["supported"] == ["2026-07-28"]


def test_ver06_legacy_version_in_modern_meta():
    """SRV-VER-06: a legacy revision in per-request _meta is not a modern version we implement: -32022."""
    v = classify(b"POST", hdrs(version="2025-11-25"), req(version="2025-11-25", name="get_weather"))
    assert_reject(v, 400, UNSUPPORTED_PROTOCOL_VERSION)
    assert v.data["requested"] == "2025-11-25"


def test_ver07_missing_version_header():
    """SRV-VER-07, SRV-HDR-02: modern body without MCP-Protocol-Version header: 400 + -32020."""
    assert_reject(classify(b"POST", hdrs(version=None), CALL), 400, HEADER_MISMATCH)


def test_ver07_modern_header_no_meta():
    """A modern header whose body has no protocolVersion in _meta: -32602 (_meta is required
    params; the conformance suite's sep-2575-request-meta-invalid-* and the Python SDK agree)."""
    v = classify(b"POST", hdrs(), req(version=None, name="get_weather"))
    assert v.era == "modern"
    assert_reject(v, 400, INVALID_PARAMS)


# --- Mcp-Method / Mcp-Name / characters (SRV-HDR-01/02) ------------------------------------


@pytest.mark.parametrize("which", ["method", "name"])
def test_hdr02_missing_standard_header(which):
    """SRV-HDR-02: a missing Mcp-Method or Mcp-Name (where required) is 400 + -32020."""
    h = hdrs(**{which: None})
    assert_reject(classify(b"POST", h, CALL), 400, HEADER_MISMATCH)


def test_hdr01_method_mismatch():
    """SRV-HDR-01: Mcp-Method differs from body method: 400 + -32020."""
    assert_reject(classify(b"POST", hdrs("tools/list"), CALL), 400, HEADER_MISMATCH)


def test_hdr01_repeated_header_is_mismatch():
    """SRV-HDR-01: two Mcp-Method fields join to 'a, b', which equals no method."""
    h = hdrs() + [(b"mcp-method", b"tools/call")]
    assert_reject(classify(b"POST", h, CALL), 400, HEADER_MISMATCH)


@pytest.mark.parametrize("name,value", [
    (b"mcp-method", b"tools/\x01call"),
    (b"mcp-method", b"tools/call\x7f"),
    (b"mcp-name", "get_wéather".encode()),
    (b"mcp-protocol-version", b"2026-07-28\x00"),
])
def test_hdr02_invalid_characters(name, value):
    """SRV-HDR-02, HTTP-04: a standard header with a control or non-ASCII byte: 400 + -32020."""
    h = [(n, value if n == name else v) for n, v in hdrs()]
    assert_reject(classify(b"POST", h, CALL), 400, HEADER_MISMATCH)


def test_hdr01_base64_name_decoded_before_compare():
    """SRV-HDR-01, CLI-HDR-02: Mcp-Name in the sentinel form is decoded, then compared."""
    body = req(name="météo")
    assert classify(b"POST", hdrs(name="météo"), body).accepted
    assert hdrs(name="météo")[3][1].startswith(b"=?base64?")
    assert_reject(classify(b"POST", hdrs(name="meteo"), body), 400, HEADER_MISMATCH)


def test_hdr01_bad_base64_name():
    """SRV-HDR-02: a sentinel whose payload is not Base64 of UTF-8 is an invalid value: -32020."""
    for bad in (b"=?base64?***?=", b"=?base64?/w==?="):  # not Base64; Base64 of 0xFF (not UTF-8)
        assert_reject(classify(b"POST", hdrs(name=bad), CALL), 400, HEADER_MISMATCH)


def test_hdr01_sentinel_markers_are_case_sensitive():
    """CLI-HDR-02: '=?BASE64?...?=' is not the sentinel; it is a plain value compared as is."""
    plain = "=?BASE64?Z2V0X3dlYXRoZXI=?="
    assert classify(b"POST", hdrs(name=plain.encode()), req(name=plain)).accepted


# --- Mcp-Param-* (SRV-HDR-01/02/03) --------------------------------------------------------

PH = {"execute_sql": {"Region": ("region",), "Limit": ("opts", "limit"), "Dry": "dry"}}


def call(**arguments: Any) -> bytes:
    return req(name="execute_sql", arguments=arguments)


def phdrs(**params: str | bytes) -> list[tuple[bytes, bytes]]:
    return hdrs(name="execute_sql") + [
        (b"mcp-param-" + k.lower().encode(), v if isinstance(v, bytes) else v.encode()) for k, v in params.items()
    ]


def test_hdr_param_match():
    """SRV-HDR-01: annotated parameters mirrored in Mcp-Param-* pass (name matched case-insensitively)."""
    h = phdrs(Region="us-west1", Limit="10", Dry="true")
    v = classify(b"POST", h, call(region="us-west1", opts={"limit": 10}, dry=True), param_headers=PH)
    assert v.accepted, v


def test_hdr_param_value_mismatch():
    """SRV-HDR-01: a Mcp-Param value that differs from the body: 400 + -32020."""
    v = classify(b"POST", phdrs(Region="us-east1"), call(region="us-west1"), param_headers=PH)
    assert_reject(v, 400, HEADER_MISMATCH)


def test_hdr02_param_missing_header():
    """SRV-HDR-02: the body has a value for an annotated parameter but no header: 400 + -32020."""
    v = classify(b"POST", phdrs(), call(region="us-west1"), param_headers=PH)
    assert_reject(v, 400, HEADER_MISMATCH)


def test_hdr02_param_null_or_absent_needs_no_header():
    """SRV-HDR-02 table: null or absent value: the server must not expect the header."""
    assert classify(b"POST", phdrs(), call(region=None), param_headers=PH).accepted
    assert classify(b"POST", phdrs(), call(), param_headers=PH).accepted


def test_hdr01_param_header_without_body_value():
    """SRV-HDR-01: a header for a parameter the body does not carry does not match it."""
    v = classify(b"POST", phdrs(Region="us-west1"), call(), param_headers=PH)
    assert_reject(v, 400, HEADER_MISMATCH)


@pytest.mark.parametrize("header,body", [("42", 42), ("42.0", 42), ("42", 42.0), ("4.2e1", 42), ("-7", -7)])
def test_hdr03_integers_compare_numerically(header, body):
    """SRV-HDR-03: integer parameters compare numerically (42 == 42.0)."""
    v = classify(b"POST", phdrs(Limit=header), call(opts={"limit": body}), param_headers=PH)
    assert v.accepted, v


@pytest.mark.parametrize("header", ["43", "42x", "0x2a", "", "true"])
def test_hdr03_integer_mismatch(header):
    """SRV-HDR-03: a different or non-numeric header value is a mismatch."""
    v = classify(b"POST", phdrs(Limit=header), call(opts={"limit": 42}), param_headers=PH)
    assert_reject(v, 400, HEADER_MISMATCH)


def test_hdr_param_boolean_and_base64():
    """CLI-HDR-03: booleans travel as true/false; strings may use the sentinel (decoded first)."""
    v = classify(b"POST", phdrs(Dry="false", Region=encode_header_value(" padded ")),
                 call(dry=False, region=" padded "), param_headers=PH)
    assert v.accepted, v
    v = classify(b"POST", phdrs(Dry="False"), call(dry=False), param_headers=PH)
    assert_reject(v, 400, HEADER_MISMATCH)


def test_hdr02_param_invalid_characters():
    """SRV-HDR-02: a recognised Mcp-Param header with invalid characters: 400 + -32020."""
    v = classify(b"POST", phdrs(Region=b"us\x01west"), call(region="us\x01west"), param_headers=PH)
    assert_reject(v, 400, HEADER_MISMATCH)


def test_int_hdr05_unrecognised_param_headers_ignored():
    """INT-HDR-05: Mcp-Param-* headers for parameters not annotated are ignored."""
    v = classify(b"POST", phdrs(Other=b"\x01junk"), call(region=None), param_headers=PH)
    assert v.accepted
    assert classify(b"POST", phdrs(Region="x"), call(region="y")).accepted  # no param_headers: unchecked


# --- capabilities (SRV-VER-11) --------------------------------------------------------------


def test_ver11_missing_required_capability():
    """SRV-VER-11: a method needing an undeclared client capability: 400 + -32021 with data.requiredCapabilities."""
    need = {"tools/call": {"elicitation": {}}}
    v = classify(b"POST", hdrs(), CALL, required_capabilities=need)
    assert_reject(v, 400, MISSING_REQUIRED_CLIENT_CAPABILITY)
    assert v.data == {"requiredCapabilities": {"elicitation": {}}}
    meta = dict(META, **{"io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}}})
    assert classify(b"POST", hdrs(), req(meta=meta, name="get_weather"), required_capabilities=need).accepted


def test_client_capabilities_required_in_meta():
    """Spec 5.2: _meta MUST carry clientCapabilities; without it the request is invalid (-32602)."""
    meta = {"io.modelcontextprotocol/protocolVersion": V}
    assert_reject(classify(b"POST", hdrs(), req(meta=meta, name="get_weather")), 400, -32602)


# --- era selection (SRV-COMPAT-06/07/08, T-19) ----------------------------------------------


def test_initialize_selects_legacy():
    """SRV-COMPAT-08: an initialize request selects the legacy era."""
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}).encode()
    v = classify(b"POST", [], body)
    assert v.accepted and v.era == "legacy"


def test_modern_only_rejects_initialize_naming_versions():
    """SRV-COMPAT-07: a modern-only server names its supported versions in the error to initialize."""
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}).encode()
    v = classify(b"POST", [], body, supported_legacy=())
    assert_reject(v, 400, UNSUPPORTED_PROTOCOL_VERSION)
    assert "2026-07-28" in v.message and v.data == {"supported": ["2026-07-28"], "requested": "2025-11-25"}


@pytest.mark.parametrize("extra", [
    [(b"mcp-session-id", b"abc")],
    [(b"last-event-id", b"1.4")],
    [(b"mcp-session-id", b"abc"), (b"last-event-id", b"1.4")],
])
def test_t19_session_and_last_event_id_ignored(extra):
    """SRV-COMPAT-06, T-19: a modern request stays modern with Mcp-Session-Id or Last-Event-ID present."""
    v = classify(b"POST", hdrs() + extra, CALL)
    assert v.accepted and v.era == "modern"


def test_session_header_selects_legacy():
    """SRV-COMPAT-08: a POST with Mcp-Session-Id and no modern _meta is legacy traffic."""
    body = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}).encode()
    v = classify(b"POST", [(b"mcp-session-id", b"abc"), (b"mcp-protocol-version", b"2025-11-25")], body)
    assert v.accepted and v.era == "legacy"


@pytest.mark.parametrize("method", [b"GET", b"DELETE"])
def test_t19_get_delete(method):
    """SRV-COMPAT-06, SRV-GET-07/08, T-19: GET/DELETE are legacy; a modern-only server gives 405 with Allow: POST."""
    assert classify(method, [(b"mcp-session-id", b"s")]).era == "legacy"
    v = classify(method, [], supported_legacy=())
    assert v.status == 405 and dict(v.headers)[b"allow"] == b"POST"
    status, headers, body = error_response(v)
    assert status == 405 and (b"allow", b"POST") in headers and b"mcp-session-id" not in dict(headers)


def test_other_http_methods_405():
    """HTTP-01: PUT gets 405 with Allow listing what the endpoint serves."""
    assert dict(classify(b"PUT", []).headers)[b"allow"] == b"GET, POST, DELETE"
    assert dict(classify(b"PUT", [], supported_legacy=()).headers)[b"allow"] == b"POST"


def test_post_response_is_400_in_modern():
    """SRV-POST-07: a modern POST carrying a JSON-RPC response: 400."""
    body = b'{"jsonrpc":"2.0","id":5,"result":{}}'
    v = classify(b"POST", hdrs(), body)
    assert v.era == "modern"
    assert_reject(v, 400, -32600)
    assert classify(b"POST", [(b"mcp-session-id", b"s")], body).era == "legacy"  # answers to server requests


def test_batch_is_legacy_or_400():
    """SRV-POST-06: an array is an R1 batch (legacy); with a modern header it is 400."""
    body = b'[' + CALL + b']'
    assert classify(b"POST", [], body).era == "legacy"
    assert_reject(classify(b"POST", hdrs(), body), 400, -32600)


def test_parse_error_modern():
    """SRV-POST-02: an unreadable body with a modern header: 400 + -32700; without one the legacy server decides."""
    assert_reject(classify(b"POST", hdrs(), b"{nope"), 400, -32700)
    assert classify(b"POST", [], b"{nope").era == "legacy"


def test_legacy_client_to_modern_only_server():
    """versioning.mdx matrix (Legacy -> Modern): a request with no headers and no _meta is 400 + -32020."""
    body = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}).encode()
    assert_reject(classify(b"POST", [], body, supported_legacy=()), 400, HEADER_MISMATCH)


# --- head-only decisions (gateway use) ------------------------------------------------------


def test_head_only():
    """docs/eras.md: without a body the era comes from the head; None when it cannot be told."""
    v = classify(b"POST", hdrs())
    assert v.era == "modern" and v.accepted and not v.body_checked
    assert classify(b"POST", [(b"mcp-session-id", b"s")]).era == "legacy"
    assert classify(b"POST", [(b"mcp-protocol-version", b"2025-06-18")]).era == "legacy"
    assert classify(b"POST", []).era is None
    assert classify(b"POST", [(b"mcp-protocol-version", b"2099-01-01")]).era is None
    assert_reject(classify(b"POST", hdrs(method=None)), 400, HEADER_MISMATCH)
    assert_reject(classify(b"POST", hdrs(method="tools/\x00")), 400, HEADER_MISMATCH)
    assert_reject(classify(b"POST", [(b"mcp-session-id", b"s")], supported_legacy=()), 400, HEADER_MISMATCH)


def test_t19_scenarios():
    """T-19 (classifier part): GET 405; DELETE 405; session/Last-Event-ID ignored; mismatch -32020; version -32022."""
    modern_only = dict(supported_legacy=())
    assert classify(b"GET", [], **modern_only).status == 405
    assert classify(b"DELETE", [], **modern_only).status == 405
    assert classify(b"POST", hdrs() + [(b"mcp-session-id", b"x"), (b"last-event-id", b"9")], CALL, **modern_only).accepted
    assert classify(b"POST", hdrs(name="nope"), CALL, **modern_only).code == HEADER_MISMATCH
    v = classify(b"POST", hdrs(version="1999-01-01"), req(version="1999-01-01", name="get_weather"), **modern_only)
    assert (v.status, v.code, v.data["supported"]) == (400, UNSUPPORTED_PROTOCOL_VERSION, ["2026-07-28"])


# --- header value encoding (CLI-HDR-02/03) ---------------------------------------------------


@pytest.mark.parametrize("value,encoded", [
    ("us-west1", "us-west1"),
    ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
    (" padded ", "=?base64?IHBhZGRlZCA=?="),
    ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
    ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
])
def test_cli_hdr02_upstream_examples(value, encoded):
    """CLI-HDR-02: the Value Encoding table of streamable-http.mdx, both ways."""
    assert encode_header_value(value) == encoded
    assert decode_header_value(encoded) == value
    assert decode_header_value(encoded.encode()) == value


def test_cli_hdr02_sentinel_looking_plain_value():
    """CLI-HDR-02: a plain value matching the sentinel pattern is itself encoded, so it round-trips."""
    for plain in ("=?base64?SGk=?=", "=?base64??=", "=?base64?=", "=?base64?x?="):
        enc = encode_header_value(plain)
        assert enc != plain and decode_header_value(enc) == plain
    assert decode_header_value("=?base64?=") is None  # overlapping markers: malformed
    assert encode_header_value("=?base64") == "=?base64"  # no suffix: plain


def test_cli_hdr02_tab_and_controls_encoded():
    """CLI-HDR-02: control characters (TAB, DEL) force the Base64 form; empty too (our choice)."""
    assert needs_encoding("a\tb") and needs_encoding("a\x7fb") and needs_encoding("")
    assert not needs_encoding("a b")


def test_cli_hdr03_types():
    """CLI-HDR-03: integers in decimal, booleans as true/false; other types get no header."""
    assert encode_header_value(42) == "42" and encode_header_value(-7) == "-7"
    assert encode_header_value(True) == "true" and encode_header_value(False) == "false"
    with pytest.raises(ValueError):
        encode_header_value(2**53)
    for bad in (None, 1.5, {}, []):
        with pytest.raises(TypeError):
            encode_header_value(bad)  # type: ignore[arg-type]


def test_decode_rejects_bad_characters():
    """SRV-HDR-02: received values with controls or non-ASCII bytes are malformed (None)."""
    assert decode_header_value(b"a\x00b") is None
    assert decode_header_value("é") is None
    assert decode_header_value(b"\xc3\xa9") is None
    assert decode_header_value(b"a\tb") == "a\tb"  # HTAB is a legal field character


@given(st.text())
def test_prop_header_value_round_trip(value):
    """CLI-HDR-02: decode(encode(s)) == s for every string (lone surrogates excluded by UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return
    enc = encode_header_value(value)
    assert enc.isascii() and all(0x20 <= ord(c) <= 0x7E for c in enc)
    assert enc == enc.strip()
    assert decode_header_value(enc) == value


@given(st.integers(-(2**53 - 1), 2**53 - 1))
def test_prop_integer_header_matches_numerically(n):
    """SRV-HDR-03: an encoded integer matches the body's integer and its float form."""
    h = encode_header_value(n)
    for body in (n, float(n)) if abs(n) < 2**52 else (n,):
        v = classify(b"POST", phdrs(Limit=h), call(opts={"limit": body}), param_headers=PH)
        assert v.accepted, (h, body, v)


# --- x-mcp-header schemas (CLI-HDR-04) -----------------------------------------------------

GOOD = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "opts": {"type": "object", "properties": {"limit": {"type": "integer", "x-mcp-header": "Limit"}}},
        "dry": {"type": ["boolean", "null"], "x-mcp-header": "Dry"},
        "query": {"type": "string"},
    },
}


def test_hdr04_valid_schema():
    """CLI-HDR-04: annotations on primitives reached through properties are valid; paths are extracted."""
    assert valid_x_mcp_header(GOOD)
    assert x_mcp_headers(GOOD) == {"Region": ("region",), "Limit": ("opts", "limit"), "Dry": ("dry",)}


@pytest.mark.parametrize("schema,why", [
    ({"type": "object", "properties": {"a": {"type": "string", "x-mcp-header": ""}}}, "empty"),
    ({"type": "object", "properties": {"a": {"type": "string", "x-mcp-header": "Re gion"}}}, "token"),
    ({"type": "object", "properties": {"a": {"type": "string", "x-mcp-header": "A\r\nB"}}}, "token"),
    ({"type": "object", "properties": {"a": {"type": "string", "x-mcp-header": "X"},
                                       "b": {"type": "string", "x-mcp-header": "x"}}}, "duplicates"),
    ({"type": "object", "properties": {"a": {"type": "number", "x-mcp-header": "A"}}}, "non-primitive"),
    ({"type": "object", "properties": {"a": {"type": "object", "x-mcp-header": "A"}}}, "non-primitive"),
    ({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string", "x-mcp-header": "A"}}}}, "reachable"),
    ({"type": "object", "properties": {"a": {"oneOf": [{"type": "string", "x-mcp-header": "A"}]}}}, "reachable"),
    ({"type": "object", "$defs": {"d": {"type": "string", "x-mcp-header": "A"}}}, "reachable"),
    ({"type": "object", "properties": {"a": {"type": "integer", "maximum": 2**60, "x-mcp-header": "A"}}}, "safe"),
])
def test_hdr04_invalid_schemas(schema, why):
    """CLI-HDR-04: each invalid annotation is reported, and the schema is refused."""
    problems = x_mcp_header_problems(schema)
    assert problems and why in " ".join(problems), problems
    assert not valid_x_mcp_header(schema)
    with pytest.raises(ValueError):
        x_mcp_headers(schema)


def test_param_headers_from_tools_skips_invalid():
    """CLI-HDR-04: param_headers_from_tools keeps valid annotated tools and drops invalid ones."""
    tools = [
        {"name": "ok", "inputSchema": GOOD},
        {"name": "bad", "inputSchema": {"type": "object", "properties": {"a": {"type": "number", "x-mcp-header": "A"}}}},
        {"name": "plain", "inputSchema": {"type": "object"}},
        {"inputSchema": GOOD},
    ]
    assert param_headers_from_tools(tools) == {"ok": x_mcp_headers(GOOD)}


# --- totality -------------------------------------------------------------------------------

_names = st.sampled_from([
    b"mcp-protocol-version", b"MCP-Protocol-Version", b"mcp-method", b"mcp-name", b"mcp-param-region",
    b"mcp-param-limit", b"mcp-session-id", b"last-event-id", b"content-type", b"x-other",
])
_values = st.one_of(
    st.sampled_from([b"2026-07-28", b"2025-11-25", b"tools/call", b"get_weather", b"=?base64?Z2V0X3dlYXRoZXI=?=", b"42"]),
    st.binary(max_size=20),
)
_bodies = st.one_of(
    st.none(),
    st.binary(max_size=60),
    st.sampled_from([CALL, call(region="x", opts={"limit": 1}), b"[]", b"{}", b"null", b'{"jsonrpc":"2.0","id":1,"result":{}}']),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(
            st.sampled_from(["jsonrpc", "id", "method", "params", "_meta", "name", "uri", "arguments", "region",
                             "io.modelcontextprotocol/protocolVersion", "io.modelcontextprotocol/clientCapabilities"]),
            c, max_size=5),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode()),
)


@given(st.sampled_from([b"POST", b"GET", b"DELETE", b"PUT", b"", b"post"]),
       st.lists(st.tuples(_names, _values), max_size=8), _bodies)
def test_prop_classifier_total(method, headers, body):
    """The classifier never raises: any method, headers and body give a Verdict whose error (if any) encodes."""
    v = classify(method, headers, body, param_headers=PH, required_capabilities={"tools/call": {"roots": {}}})
    assert isinstance(v, Verdict)
    assert v.era in ("legacy", "modern", None)
    if not v.accepted:
        status, hs, out = error_response(v)
        assert 400 <= status < 500 and json.loads(out)["error"]["code"] == v.code


# --- remaining branches ------------------------------------------------------------------------


def test_modern_invalid_message():
    """AMB-17: a modern request whose params is an array is answered 400 with the parser's -32602 and its id."""
    body = b'{"jsonrpc":"2.0","id":8,"method":"tools/list","params":[1]}'
    v = classify(b"POST", hdrs("tools/list", None), body)
    assert_reject(v, 400, -32602)
    assert v.request_id == 8


def test_notification_version_rules():
    """SRV-POST-08, SRV-VER-05/06: a notification's header may not contradict its _meta; an unknown version is -32022."""
    def note(version: str) -> bytes:
        meta = dict(META, **{"io.modelcontextprotocol/protocolVersion": version})
        return json.dumps({"jsonrpc": "2.0", "method": "notifications/x", "params": {"_meta": meta}}).encode()
    assert_reject(classify(b"POST", [(b"mcp-protocol-version", b"2026-07-28")], note("2027-01-01")), 400, HEADER_MISMATCH)
    v = classify(b"POST", [(b"mcp-protocol-version", b"2027-01-01")], note("2027-01-01"))
    assert_reject(v, 400, UNSUPPORTED_PROTOCOL_VERSION)
    assert v.request_id is None and b'"id":null' in v.error_body()


def test_nested_required_capabilities():
    """SRV-VER-11: required sub-capabilities must be declared too; a non-object declaration does not count."""
    need = {"tools/call": {"sampling": {"tools": {}}}}
    for caps, ok in (({"sampling": {"tools": {}}}, True), ({"sampling": {}}, False), ({"sampling": True}, False)):
        meta = dict(META, **{"io.modelcontextprotocol/clientCapabilities": caps})
        v = classify(b"POST", hdrs(), req(meta=meta, name="get_weather"), required_capabilities=need)
        assert v.accepted is ok, (caps, v)


def test_odd_header_types_and_unannotated_tool():
    """Totality: bytearray/memoryview header values are read; a tool without annotations needs no Mcp-Param."""
    h = [(n, bytearray(v)) for n, v in hdrs()]
    assert classify(b"POST", h, CALL).accepted
    assert classify(b"POST", [(b"mcp-protocol-version", memoryview(V.encode()))] + hdrs(version=None), CALL).accepted
    assert classify(b"POST", phdrs(), req(name="execute_sql", arguments=[1]), param_headers=PH).accepted
    assert classify(b"POST", hdrs(), CALL, param_headers=PH).accepted  # get_weather has none


def test_accepted_verdict_has_no_error_body():
    """API: asking an accepted verdict for an error body is a caller error."""
    with pytest.raises(ValueError):
        classify(b"POST", hdrs(), CALL).error_body()


@pytest.mark.parametrize("header,body", [("1", "1"), ("true", 1), ("1", [1]), ("1", {"a": 1})])
def test_param_type_mismatch(header, body):
    """SRV-HDR-01: a header is compared by the body value's JSON type; arrays/objects never match."""
    v = classify(b"POST", phdrs(Region=header), call(region=body), param_headers=PH)
    assert v.accepted is (body == "1"), v


def test_escaped_meta_key_is_still_modern():
    """SRV-COMPAT-08: modern _meta written with a JSON escape ("\\/") is recognised (no byte-scan shortcut)."""
    body = CALL.replace(b"io.modelcontextprotocol/protocolVersion", b"io.modelcontextprotocol\\/protocolVersion")
    v = classify(b"POST", hdrs(), body)
    assert v.accepted and v.era == "modern"
    assert classify(b"POST", [(b"mcp-session-id", b"s")], body).era == "modern"


def test_legacy_fast_path():
    """SRV-COMPAT-08: a legacy body without the modern key is routed to legacy without being parsed."""
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
    v = classify(b"POST", [(b"mcp-session-id", b"s"), (b"mcp-protocol-version", b"2025-11-25")], body)
    assert v.accepted and v.era == "legacy" and v.message_obj is None
    # a modern header on such a body is not waved through (no _meta: invalid params)
    assert_reject(classify(b"POST", hdrs("tools/list", None), body), 400, INVALID_PARAMS)

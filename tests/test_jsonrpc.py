"""JSON-RPC codec: spec vectors JR-01..JR-30, limits, encoder (both twins).

"generic" means plain JSON-RPC 2.0 (``mcp=False``); "MCP" is the default.
"""

from __future__ import annotations

import json

import pytest

from streamcore._errors import JsonRpcDecodeError, LocalProtocolError, RemoteProtocolError

CODEC = "jsonrpc"


def one(impl, body, **kw):
    """The single message of a non-batch body."""
    kw.setdefault("allow_batch", False)
    parsed = impl.parse(body, **kw)
    assert parsed.is_batch is False and len(parsed.messages) == 1
    return parsed.messages[0]


def fails(impl, body, code, status=400, **kw):
    """Parse must raise JsonRpcDecodeError with this code and status."""
    kw.setdefault("allow_batch", False)
    with pytest.raises(JsonRpcDecodeError) as info:
        impl.parse(body, **kw)
    assert info.value.code_hint == code
    assert info.value.status_hint == status
    assert isinstance(info.value, RemoteProtocolError)
    return info.value


def test_jr01_positional_params(impl):
    """JR-01: array params are a request in generic mode, -32602 in MCP (AMB-17)."""
    body = b'{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}'
    assert one(impl, body, mcp=False) == impl.Request(1, "subtract", [42, 23])
    assert impl.encode_result(1, 19) == b'{"jsonrpc":"2.0","id":1,"result":19}'
    m = one(impl, body)
    assert m == impl.Invalid(impl.INVALID_PARAMS, m.message, 1, True)


def test_jr02_named_params(impl):
    """JR-02: named params are a request in both modes."""
    body = b'{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}'
    want = impl.Request(3, "subtract", {"subtrahend": 23, "minuend": 42})
    assert one(impl, body) == want
    assert one(impl, body, mcp=False) == want


def test_jr03_notification_never_answered(impl):
    """JR-03: a notification, never answered even when invalid for MCP."""
    body = b'{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}'
    assert one(impl, body, mcp=False) == impl.Notification("update", [1, 2, 3, 4, 5])
    m = one(impl, body)  # MCP: array params are invalid, but it is a notification
    assert type(m) is impl.Invalid and m.reply is False
    assert impl.reply_body(impl.parse(body, allow_batch=False), []) is None


def test_jr04_method_not_found_echoes_string_id(impl):
    """JR-04: a request with string id "1"; the -32601 reply echoes "1"."""
    m = one(impl, b'{"jsonrpc": "2.0", "method": "foobar", "id": "1"}')
    assert m == impl.Request("1", "foobar", None)
    out = json.loads(impl.encode_error(m.id, impl.METHOD_NOT_FOUND, "Method not found"))
    assert out["id"] == "1" and out["error"]["code"] == -32601


def test_jr05_invalid_json(impl):
    """JR-05: invalid JSON is -32700 (HTTP 400), answered with id null."""
    exc = fails(impl, b'{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]', -32700)
    body = json.loads(impl.error_body(exc))
    assert body["id"] is None and body["error"]["code"] == -32700


def test_jr06_method_not_a_string(impl):
    """JR-06: method 1 is -32600 with id null, and it is answered."""
    m = one(impl, b'{"jsonrpc": "2.0", "method": 1, "params": "bar"}')
    assert (m.code, m.id, m.reply) == (-32600, None, True)


def test_jr07_batch_with_invalid_json(impl):
    """JR-07: a batch that is not JSON gets a single -32700 object, not an array."""
    body = b'[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},{"jsonrpc": "2.0", "method"]'
    exc = fails(impl, body, -32700, allow_batch=True)
    assert impl.error_body(exc).startswith(b"{")


def test_jr08_empty_array(impl):
    """JR-08: [] is one -32600 object in R1/generic, and 400 when batches are refused."""
    exc = fails(impl, b"[]", -32600, allow_batch=True)
    assert json.loads(impl.error_body(exc))["error"]["code"] == -32600
    fails(impl, b"[]", -32600, allow_batch=True, mcp=False)
    fails(impl, b"[]", -32600, allow_batch=False)  # SRV-POST-06


def test_jr09_batch_of_one_scalar(impl):
    """JR-09: [1] gets an array holding one -32600 with id null."""
    parsed = impl.parse(b"[1]", allow_batch=True)
    assert parsed.is_batch and [(m.code, m.id) for m in parsed.messages] == [(-32600, None)]
    out = json.loads(impl.reply_body(parsed, []))
    assert isinstance(out, list) and len(out) == 1 and out[0]["id"] is None


def test_jr10_batch_of_three_scalars(impl):
    """JR-10: [1,2,3] gets three -32600, each with id null."""
    parsed = impl.parse(b"[1,2,3]", allow_batch=True)
    out = json.loads(impl.reply_body(parsed, []))
    assert [(r["error"]["code"], r["id"]) for r in out] == [(-32600, None)] * 3


JR11 = b"""[
    {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
    {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
    {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
    {"foo": "boo"},
    {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
    {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
]"""


def test_jr11_mixed_batch(impl):
    """JR-11: five responses (ids "1", "2", null, "5", "9"), none for the notification."""
    parsed = impl.parse(JR11, allow_batch=True, mcp=False)
    kinds = [type(m).__name__ for m in parsed.messages]
    assert kinds == ["Request", "Notification", "Request", "Invalid", "Request", "Request"]
    replies = []
    for m in parsed.messages:
        if type(m) is impl.Request:
            if m.method == "foo.get":
                replies.append(impl.encode_error(m.id, impl.METHOD_NOT_FOUND, "Method not found"))
            else:
                replies.append(impl.encode_result(m.id, 7))
    out = json.loads(impl.reply_body(parsed, replies))
    assert sorted(str(r["id"]) for r in out) == sorted(["1", "2", "None", "5", "9"])
    assert {r["id"]: r["error"]["code"] for r in out if "error" in r} == {"5": -32601, None: -32600}


def test_jr12_batch_of_notifications(impl):
    """JR-12: only notifications: no body at all, never []."""
    body = b'[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b","params":{}}]'
    parsed = impl.parse(body, allow_batch=True)
    assert all(type(m) is impl.Notification for m in parsed.messages)
    assert impl.reply_body(parsed, []) is None
    with pytest.raises(LocalProtocolError):
        impl.encode_batch([])


def test_jr13_null_id_is_a_request(impl):
    """JR-13: "id": null is a request, not a notification; MCP refuses it (-32600)."""
    body = b'{"jsonrpc":"2.0","method":"ping","id":null}'
    assert one(impl, body, mcp=False) == impl.Request(None, "ping", None)
    m = one(impl, body)
    assert (type(m), m.code, m.id, m.reply) == (impl.Invalid, -32600, None, True)


def test_jr14_string_and_integer_ids_differ(impl):
    """JR-14: "7" and 7 are distinct ids and each echo keeps its type."""
    a = one(impl, b'{"jsonrpc":"2.0","method":"x","id":"7"}')
    b = one(impl, b'{"jsonrpc":"2.0","method":"x","id":7}')
    assert a.id == "7" and b.id == 7 and a != b
    assert b'"id":"7"' in impl.encode_result(a.id, {})
    assert b'"id":7,' in impl.encode_result(b.id, {})


@pytest.mark.parametrize("lexeme", [b"1.5", b"1.0", b"1e2", b"-0", b"-1.5E+03"])
def test_jr15_non_integer_ids(impl, lexeme):
    """JR-15, AMB-16: MCP refuses fraction/exponent ids (and -0); generic echoes the lexeme."""
    body = b'{"jsonrpc":"2.0","method":"x","id":' + lexeme + b"}"
    m = one(impl, body)
    assert (type(m), m.code, m.id) == (impl.Invalid, -32600, None)
    m = one(impl, body, mcp=False)
    assert m == impl.Request(impl.RawJson(lexeme), "x", None)
    assert impl.encode_result(m.id, {}) == b'{"jsonrpc":"2.0","id":' + lexeme + b',"result":{}}'


def test_jr16_big_integer_id_exact(impl):
    """JR-16: 9007199254740993 stays exact (no float round trip) and is echoed so."""
    m = one(impl, b'{"jsonrpc":"2.0","method":"x","id":9007199254740993}')
    assert m.id == 9007199254740993 and type(m.id) is int
    assert b'"id":9007199254740993,' in impl.encode_result(m.id, {})
    huge = 10**40 + 1
    m = one(impl, b'{"jsonrpc":"2.0","method":"x","id":%d}' % huge)
    assert m.id == huge


@pytest.mark.parametrize("lexeme,value", [(b'""', ""), (b"0", 0), (b"-1", -1)])
def test_jr17_edge_ids_valid(impl, lexeme, value):
    """JR-17: "", 0 and -1 are valid ids, echoed unchanged."""
    m = one(impl, b'{"jsonrpc":"2.0","method":"x","id":' + lexeme + b"}")
    assert m == impl.Request(value, "x", None) and type(m.id) is type(value)
    assert impl.encode_result(m.id, {}) == b'{"jsonrpc":"2.0","id":' + lexeme + b',"result":{}}'


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}}',
        b'{"jsonrpc":"2.0","id":1}',
    ],
)
def test_jr18_response_needs_exactly_one_of_result_error(impl, body):
    """JR-18: both or neither of result/error: an invalid message, never a result."""
    for mcp in (True, False):
        m = one(impl, body, mcp=mcp)
        assert type(m) is impl.Invalid and m.code == -32600


@pytest.mark.parametrize(
    "error",
    [b'{"code":-32600.5,"message":"m"}', b'{"code":"-32600","message":"m"}', b'{"code":-32600}', b"[]",
     b'{"code":true,"message":"m"}', b'{"code":1,"message":5}'],
)
def test_jr19_bad_error_object(impl, error):
    """JR-19: code must be an integer, message a string: else an invalid message."""
    m = one(impl, b'{"jsonrpc":"2.0","id":1,"error":' + error + b"}")
    assert (type(m), m.code, m.id, m.reply) == (impl.Invalid, -32600, 1, False)


def test_jr20_error_id_null_or_absent(impl):
    """JR-20, AMB-03: an error with id null or without id: both "id unknown"."""
    for body in (
        b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}',
        b'{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"}}',
    ):
        for mcp in (True, False):
            assert one(impl, body, mcp=mcp) == impl.ErrorResponse(None, -32700, "Parse error", None)
    assert impl.encode_error(None, -32700, "x") == b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}'
    assert impl.encode_error(None, -32700, "x", omit_null_id=True) == (
        b'{"jsonrpc":"2.0","error":{"code":-32700,"message":"x"}}'
    )


@pytest.mark.parametrize(
    "body",
    [b'{"jsonrpc":"1.0","method":"x","id":1}', b'{"method":"x","id":1}', b'{"jsonrpc":2.0,"method":"x","id":1}'],
)
def test_jr21_bad_jsonrpc_member(impl, body):
    """JR-21: jsonrpc "1.0", missing, or the number 2.0: -32600 (id still echoed)."""
    for mcp in (True, False):
        m = one(impl, body, mcp=mcp)
        assert (type(m), m.code, m.id) == (impl.Invalid, -32600, 1)


@pytest.mark.parametrize("params", [b"5", b'"bar"', b"null"])
def test_jr22_unstructured_params(impl, params):
    """JR-22: params 5, "bar", null: -32600 in both modes, lazy too."""
    body = b'{"jsonrpc":"2.0","method":"x","id":1,"params":' + params + b"}"
    for mcp in (True, False):
        for lazy in (True, False):
            m = one(impl, body, mcp=mcp, lazy=lazy)
            assert (type(m), m.code) == (impl.Invalid, -32600)


def test_jr23_member_names_case_sensitive(impl):
    """JR-23: JSONRPC/Method are unknown members, so jsonrpc is missing: -32600."""
    m = one(impl, b'{"JSONRPC":"2.0","Method":"ping","id":1}')
    assert (type(m), m.code, m.id) == (impl.Invalid, -32600, 1)


def test_jr24_duplicate_members(impl):
    """JR-24: a duplicate member is -32600, also nested and for unknown names."""
    for body in (
        b'{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}',
        b'{"jsonrpc":"2.0","id":1,"method":"a","x":1,"x":2}',
        b'{"jsonrpc":"2.0","id":1,"method":"a","params":{"k":1,"k":1}}',
    ):
        m = one(impl, body)
        assert (type(m), m.code, m.id) == (impl.Invalid, -32600, 1)
    m = one(impl, b'{"jsonrpc":"2.0","id":1,"id":2,"method":"a"}')
    assert (m.code, m.id) == (-32600, None)  # which id? neither
    # escapes name the same member: "\u006dethod" is "method"
    m = one(impl, b'{"jsonrpc":"2.0","id":1,"method":"a","\\u006dethod":"b"}')
    assert m.code == -32600 and "duplicate" in m.message


@pytest.mark.parametrize("body", [b"42", b'"x"', b"null", b"true"])
def test_jr25_top_level_scalar(impl, body):
    """JR-25: a scalar body is -32600 (whole body)."""
    fails(impl, body, -32600)
    fails(impl, body, -32600, allow_batch=True, lazy=True)


@pytest.mark.parametrize(
    "body",
    [b'{"jsonrpc":"2.0","method":"ping","id":1} {"jsonrpc":"2.0","method":"ping","id":2}',
     b'{"jsonrpc":"2.0","method":"ping","id":1}x', b"[1]]", b"{}}"],
)
def test_jr26_trailing_data(impl, body):
    """JR-26: non-whitespace after the value is -32700."""
    fails(impl, body, -32700, allow_batch=True)
    fails(impl, body, -32700, allow_batch=True, lazy=True)


def test_jr27_bom_utf8_surrogates(impl):
    """JR-27: BOM accepted (configurable); invalid UTF-8 and lone surrogates are -32700."""
    valid = b'{"jsonrpc":"2.0","method":"ping","id":1}'
    assert one(impl, b"\xef\xbb\xbf" + valid) == impl.Request(1, "ping", None)
    fails(impl, b"\xef\xbb\xbf" + valid, -32700, allow_bom=False)
    fails(impl, b'{"jsonrpc":"2.0","method":"p\xffing","id":1}', -32700)
    fails(impl, b'{"jsonrpc":"2.0","method":"ping","id":1,"params":{"a":"\xff"}}', -32700)
    for esc in (b"\\ud800", b"\\udc00", b"\\ud800\\u0041", b"\\uDBFF\\uDBFF"):
        fails(impl, b'{"jsonrpc":"2.0","method":"p' + esc + b'","id":1}', -32700)
    # a proper pair is fine
    m = one(impl, b'{"jsonrpc":"2.0","method":"\\ud83d\\ude00","id":1}')
    assert m.method == "\U0001F600"
    # lazy mode defers the params' string contents to decode time
    lazy = one(impl, b'{"jsonrpc":"2.0","method":"m","id":1,"params":{"a":"\\ud800\xff"}}', lazy=True)
    with pytest.raises(JsonRpcDecodeError) as info:
        impl.decode_value(lazy.params.raw)
    assert info.value.code_hint == -32700


def test_jr28_deep_nesting_bounded(impl):
    """JR-28: 100 000 nested [ gives a bounded error, never RecursionError.

    -32700 (depth) when arrays are allowed; -32600 at the first byte when they
    are refused (SRV-POST-06).
    """
    for body in (b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000):
        for allow_batch in (True, False):
            for lazy in (True, False):
                code = -32600 if body[:1] == b"[" and not allow_batch else -32700
                fails(impl, body, code, allow_batch=allow_batch, lazy=lazy)


def test_jr29_reserved_method_and_extra_member(impl):
    """JR-29: rpc.discover is a plain request (the server answers -32601); extras are ignored."""
    assert one(impl, b'{"jsonrpc":"2.0","method":"rpc.discover","id":1}') == impl.Request(1, "rpc.discover", None)
    assert one(impl, b'{"jsonrpc":"2.0","method":"ping","id":1,"extra":true}') == impl.Request(1, "ping", None)


def test_jr30_result_type(impl):
    """JR-30: no resultType reads as "complete"; an unknown one is invalid."""
    m = one(impl, b'{"jsonrpc":"2.0","id":1,"result":{}}')
    assert m == impl.Response(1, {}) and impl.result_type(m.result) == "complete"
    m = one(impl, b'{"jsonrpc":"2.0","id":1,"result":{"resultType":"weird"}}')
    with pytest.raises(JsonRpcDecodeError):
        impl.result_type(m.result)
    assert impl.result_type({"resultType": "input_required"}) == "input_required"


# --- beyond the vectors -------------------------------------------------------


def test_mcp_result_must_be_object(impl):
    """Spec 5.2: an MCP result is an object; generic JSON-RPC allows any value."""
    body = b'{"jsonrpc":"2.0","id":1,"result":[1]}'
    assert one(impl, body).code == -32600
    assert one(impl, body, mcp=False) == impl.Response(1, [1])


def test_success_response_needs_id(impl):
    """A success response with id null or no id is invalid (only errors may lack one)."""
    for body in (b'{"jsonrpc":"2.0","result":{}}', b'{"jsonrpc":"2.0","id":null,"result":{}}'):
        for mcp in (True, False):
            m = one(impl, body, mcp=mcp)
            assert (type(m), m.code, m.reply) == (impl.Invalid, -32600, False)


def test_method_with_result_is_ambiguous(impl):
    """A message with both method and result is no request and no response."""
    m = one(impl, b'{"jsonrpc":"2.0","id":1,"method":"x","result":{}}')
    assert (m.code, m.id) == (-32600, 1)


def test_error_data_kept(impl):
    """An error's data member is decoded (lazy mode too)."""
    body = b'{"jsonrpc":"2.0","id":"a","error":{"code":-32022,"message":"m","data":{"supported":["x"]}}}'
    for lazy in (True, False):
        assert one(impl, body, lazy=lazy) == impl.ErrorResponse("a", -32022, "m", {"supported": ["x"]})


def test_lazy_spans_are_raw_and_decode_on_demand(impl):
    """Lazy mode keeps params/result byte-exact as RawJson; decode() gives the full value."""
    params = b'{ "name" : "t", "arguments" : {"x": [1, 2.5, "\\u00e9"]} }'
    body = b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":' + params + b"}"
    m = one(impl, body, lazy=True)
    assert type(m.params) is impl.RawJson and m.params.raw == params
    assert impl.decode_value(m.params.raw) == one(impl, body).params
    assert m.params.value == json.loads(params)
    assert impl.encode_request(m.id, m.method, m.params) == (
        b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":' + params + b"}"
    )
    r = one(impl, b'{"jsonrpc":"2.0","id":5,"result":{"content":[]}}', lazy=True)
    assert r == impl.Response(5, impl.RawJson(b'{"content":[]}'))


def test_lazy_checks_structure(impl):
    """Lazy mode still refuses broken structure and unterminated strings in skipped parts."""
    for params in (b'{"a":[1,2}', b'{"a":"x}', b'{"a" 1}', b'{"a":tru}', b'{"a":01}', b'{"a":1,}', b'{"a":NaN}'):
        body = b'{"jsonrpc":"2.0","id":1,"method":"m","params":' + params + b"}"
        fails(impl, body, -32700, lazy=True)


def test_bodies_of_other_buffer_types(impl):
    """bytearray and memoryview bodies parse like bytes; str is a TypeError."""
    body = b'{"jsonrpc":"2.0","method":"ping","id":1}'
    want = impl.Request(1, "ping", None)
    assert one(impl, bytearray(body)) == want
    assert one(impl, memoryview(body)) == want
    assert one(impl, memoryview(body), lazy=True) == want
    with pytest.raises(TypeError):
        impl.parse(body.decode(), allow_batch=False)


def test_batch_allowed_only_for_2025_03_26(impl):
    """Spec 5.2: batches only in 2025-03-26 (R1); R2+ refuse arrays (SRV-POST-06)."""
    assert impl.batch_allowed("2025-03-26")
    for v in ("2024-11-05", "2025-06-18", "2025-11-25", "2026-07-28", None):
        assert not impl.batch_allowed(v)
    fails(impl, b'[{"jsonrpc":"2.0","method":"x"}]', -32600, allow_batch=False)


# --- limits ---------------------------------------------------------------------


def test_limit_body_size_boundary(impl):
    """Body size: exactly max_body_size parses, one byte more is 413."""
    body = b'{"jsonrpc":"2.0","method":"ping","id":1}'
    assert one(impl, body, max_body_size=len(body)) == impl.Request(1, "ping", None)
    fails(impl, body + b" ", -32700, status=413, max_body_size=len(body))
    fails(impl, b"x" * (impl.DEFAULT_MAX_BODY_SIZE + 1), -32700, status=413)
    assert impl.DEFAULT_MAX_BODY_SIZE == 4 * 1024 * 1024


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("max_depth", [2, 5, None])
def test_limit_depth_boundary(impl, lazy, max_depth):
    """Depth: the message object is level 1; exactly max_depth passes, +1 is -32700."""
    limit = impl.DEFAULT_MAX_DEPTH if max_depth is None else max_depth
    kw = {} if max_depth is None else {"max_depth": max_depth}

    def body(levels: int, batch: bool = False) -> bytes:
        k = levels - (2 if batch else 1)  # containers inside params
        params = b"[" * k + b"]" * k
        msg = b'{"jsonrpc":"2.0","id":1,"method":"m","params":' + params + b"}" if k else b'{"jsonrpc":"2.0","id":1,"method":"m"}'
        return b"[" + msg + b"]" if batch else msg

    m = one(impl, body(limit), mcp=False, lazy=lazy, **kw)
    assert type(m) is impl.Request
    fails(impl, body(limit + 1), -32700, mcp=False, lazy=lazy, **kw)
    parsed = impl.parse(body(limit, True), allow_batch=True, mcp=False, lazy=lazy, **kw)
    assert type(parsed.messages[0]) is impl.Request
    fails(impl, body(limit + 1, True), -32700, allow_batch=True, mcp=False, lazy=lazy, **kw)


def test_limit_depth_decode_value(impl):
    """decode_value: exactly max_depth levels pass, one more is -32700."""
    assert impl.decode_value(b"[" * 7 + b"]" * 7, max_depth=7) == [[[[[[[]]]]]]]
    with pytest.raises(JsonRpcDecodeError):
        impl.decode_value(b"[" * 8 + b"]" * 8, max_depth=7)
    d = impl.MAX_DEPTH_CEILING
    assert impl.decode_value(b"[" * d + b"]" * d, max_depth=d) is not None


def test_limit_settings_validated(impl):
    """Nonsensical limits are a caller error (ValueError), not a peer error."""
    for kw in ({"max_depth": 0}, {"max_depth": impl.MAX_DEPTH_CEILING + 1}, {"max_batch_length": 0},
               {"max_body_size": -1}):
        with pytest.raises(ValueError):
            impl.parse(b"{}", allow_batch=True, **kw)


def test_refusals_stop_reading_early(impl):
    """Refused arrays and over-long batches fail before the rest is read (no work on garbage)."""
    fails(impl, b"[1,", -32600, allow_batch=False)  # SRV-POST-06, before the syntax error
    fails(impl, b"[1,2,3,\xff", -32600, allow_batch=True, max_batch_length=2)
    fails(impl, b"[1,2,\xff", -32700, allow_batch=True, max_batch_length=2)


def test_limit_batch_length_boundary(impl):
    """Batch length: exactly max_batch_length elements pass, one more is -32600."""
    el = b'{"jsonrpc":"2.0","method":"n"}'
    assert len(impl.parse(b"[" + b",".join([el] * 3) + b"]", allow_batch=True, max_batch_length=3).messages) == 3
    fails(impl, b"[" + b",".join([el] * 4) + b"]", -32600, allow_batch=True, max_batch_length=3)
    n = impl.DEFAULT_MAX_BATCH_LENGTH
    assert len(impl.parse(b"[" + b",".join([b"1"] * n) + b"]", allow_batch=True).messages) == n
    fails(impl, b"[" + b",".join([b"1"] * (n + 1)) + b"]", -32600, allow_batch=True)


# --- encoder --------------------------------------------------------------------


def test_encode_compact_utf8(impl):
    """Encoding is compact UTF-8: no spaces, non-ASCII kept as text, no BOM."""
    out = impl.encode(impl.Request("é", "tools/call", {"a": [1, "ü"], "b": None}))
    assert out == '{"jsonrpc":"2.0","id":"é","method":"tools/call","params":{"a":[1,"ü"],"b":null}}'.encode()
    assert impl.encode(impl.Notification("n")) == b'{"jsonrpc":"2.0","method":"n"}'
    assert impl.encode(impl.Response(1, {"ok": True})) == b'{"jsonrpc":"2.0","id":1,"result":{"ok":true}}'
    assert impl.encode(impl.ErrorResponse(2, -1, "m", [1])) == (
        b'{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"m","data":[1]}}'
    )
    inv = impl.Invalid(-32600, "bad", None, True)
    assert impl.encode(inv, omit_null_id=True) == b'{"jsonrpc":"2.0","error":{"code":-32600,"message":"bad"}}'


def test_encode_raw_json_spliced(impl):
    """A RawJson result is spliced without re-encoding."""
    raw = impl.RawJson(b'{"content":[{"type":"text","text":"hi"}],"isError":false}')
    assert impl.encode_result(3, raw) == b'{"jsonrpc":"2.0","id":3,"result":' + raw.raw + b"}"


def test_encode_batch(impl):
    """encode_batch makes an array of messages or pre-encoded bytes."""
    out = impl.encode_batch([impl.Response(1, {}), b'{"jsonrpc":"2.0","id":2,"result":{}}'])
    assert json.loads(out) == [{"jsonrpc": "2.0", "id": 1, "result": {}}, {"jsonrpc": "2.0", "id": 2, "result": {}}]


@pytest.mark.parametrize(
    "call",
    [
        lambda impl: impl.encode_result(1, float("nan")),
        lambda impl: impl.encode_result(1, "\ud800"),
        lambda impl: impl.encode_result(1.5, {}),
        lambda impl: impl.encode_result(1, object()),
        lambda impl: impl.encode_error(1, "x", "m"),
        lambda impl: impl.encode_error(1, 1, None),
        lambda impl: impl.encode_request(1, 5),
        lambda impl: impl.encode("not a message"),
    ],
)
def test_encode_refuses_bad_input(impl, call):
    """Encoding what JSON-RPC cannot carry is a LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        call(impl)


def test_reply_body_single_and_batch(impl):
    """reply_body: one object for a single message, an array for a batch."""
    single = impl.parse(b'{"jsonrpc":"2.0","method":"m","id":1}', allow_batch=False)
    assert impl.reply_body(single, [impl.Response(1, {})]) == b'{"jsonrpc":"2.0","id":1,"result":{}}'
    bad = impl.parse(b'{"jsonrpc":"2.0","method":5,"id":1}', allow_batch=False)
    assert json.loads(impl.reply_body(bad, []))["error"]["code"] == -32600
    with pytest.raises(LocalProtocolError):
        impl.reply_body(single, [impl.Response(1, {}), impl.Response(1, {})])
    batch = impl.parse(b'[{"jsonrpc":"2.0","method":"m","id":1}]', allow_batch=True)
    assert impl.reply_body(batch, [impl.Response(1, {})]) == b'[{"jsonrpc":"2.0","id":1,"result":{}}]'


def test_messages_compare_by_type(impl):
    """Messages are tuples, but a Request never equals another type with equal fields."""
    assert impl.Response(1, 2) != impl.Notification(1, 2)
    assert impl.Response(1, 2) == impl.Response(1, 2)
    assert hash(impl.Response(1, 2)) == hash(impl.Response(1, 2))


def test_selector_module():
    """streamcore.jsonrpc exposes the twin in use."""
    import streamcore.jsonrpc as j

    assert j.IMPLEMENTATION in ("compiled", "pure")
    assert j.parse is j._impl.parse
    assert j.RawJson(b"[1]").value == [1]


def test_raw_json_api(impl):
    """RawJson: bytes, len, equality by content, hash, short repr, first byte."""
    body = b'{"jsonrpc":"2.0","id":1,"result":{"a":1}}'
    m = one(impl, body, lazy=True)
    r = m.result
    assert bytes(r) == b'{"a":1}' and len(r) == 7 and r.first_byte() == ord("{")
    assert r == impl.RawJson(b'{"a":1}') and hash(r) == hash(impl.RawJson(bytearray(b'{"a":1}')))
    assert r != b'{"a":1}'  # a RawJson is not bytes
    assert repr(impl.RawJson(b"1" * 100)).endswith("...')")
    assert impl.RawJson(b"").first_byte() == -1
    with pytest.raises(JsonRpcDecodeError) as info:
        impl.decode_value(b'{"a":1,"a":2}')
    assert info.value.code_hint == -32600

"""JSON-RPC 2.0 body parser, pure-Python twin (the reference).

How a body is read (``_jsonrpc_c`` does exactly the same in one pass):

1. size: more than ``max_body_size`` bytes -> 413 before anything else;
2. an optional UTF-8 BOM is dropped (RFC 8259 section 8.1), if allowed;
3. the body is walked over its bytes by a small RFC 8259 tokenizer that checks
   the grammar outside strings, finds each string's closing quote and limits
   the nesting depth. Message objects are walked member by member (so ids keep
   their lexeme and duplicate envelope members are seen);
4. every value that is decoded goes through ``_decode`` (UTF-8, escapes,
   control characters, lone surrogates, numbers) -- in full mode that is every
   value, in lazy mode only ``jsonrpc``, ``id``, ``method``, ``error`` and the
   member names; ``params``, ``result`` and unknown members stay ``RawJson``
   spans whose string *contents* are checked only when decoded;
5. any failure in 3-4 raises ``JsonRpcDecodeError`` -32700. Two shape checks
   come first because they stop work early: an array when batches are refused,
   and a batch growing past ``max_batch_length`` (-32600). After the whole
   body is read, a scalar or ``[]`` is -32600, and each message is classified
   (``_Walker.classify``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .._errors import JsonRpcDecodeError
from ._jsonrpc_common import (
    register_decoder,
    BATCH_PROTOCOL_VERSIONS,
    DEFAULT_MAX_BATCH_LENGTH,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_DEPTH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MAX_DEPTH_CEILING,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    R_AMBIGUOUS,
    R_BOTH,
    R_DUPLICATE,
    R_ERROR,
    R_ID,
    R_JSONRPC,
    R_METHOD,
    R_NO_KIND,
    R_NOT_OBJECT,
    R_PARAMS,
    R_PARAMS_ARRAY,
    R_RESULT,
    ErrorResponse,
    Invalid,
    Notification,
    Parsed,
    RawJson,
    Request,
    Response,
    as_bytes,
    batch_allowed,
    check_limits,
    encode,
    encode_batch,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
    error_body,
    reply_body,
    result_type,
)

__all__ = [
    "parse",
    "decode_value",
    "encode",
    "encode_batch",
    "encode_request",
    "encode_notification",
    "encode_result",
    "encode_error",
    "error_body",
    "reply_body",
    "result_type",
    "batch_allowed",
    "RawJson",
    "Request",
    "Notification",
    "Response",
    "ErrorResponse",
    "Invalid",
    "Parsed",
    "PARSE_ERROR",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "INVALID_PARAMS",
    "INTERNAL_ERROR",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_BATCH_LENGTH",
    "MAX_DEPTH_CEILING",
    "BATCH_PROTOCOL_VERSIONS",
]

_MISSING: Any = object()

# One token outside strings (RFC 8259 sections 2-7). Group 1: opening quote;
# 2: number; 3: literal; 4: structural character. ASCII digits only.
_TOKEN = re.compile(
    rb"[ \t\n\r]*(?:(\")|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"
    rb"|(true|false|null)|([\[\]{},:]))"
)
# The rest of a string after its opening quote: up to the first quote not
# escaped by a backslash. Contents are checked by _decode, not here.
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_WS = re.compile(rb"[ \t\n\r]*")
# An escape; group 1 is set for a surrogate escape not part of a valid pair.
_ESCAPE = re.compile(
    r"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|(u[dD][89a-fA-F][0-9a-fA-F]{2})|.)",
    re.S,
)


class _Syntax(Exception):
    """Internal: the text is not JSON (becomes -32700)."""


def _no_constant(name: str) -> Any:
    raise _Syntax(f"{name} is not JSON")  # RFC 8259 section 6: no NaN/Infinity


class _Decoder:
    """Strict stdlib decoding of one value's text, noting duplicate member names."""

    __slots__ = ("dup", "scan")

    def __init__(self) -> None:
        self.dup = False
        dec = json.JSONDecoder(object_pairs_hook=self._pairs, parse_constant=_no_constant, strict=True)
        self.scan = dec.scan_once  # type: ignore[attr-defined]  # CPython's JSONDecoder has it

    def _pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        d = dict(pairs)
        if len(d) != len(pairs):
            self.dup = True  # RFC 8259 section 4: names SHOULD be unique; we reject
        return d

    def decode(self, b: bytes, start: int, end: int) -> Any:
        try:
            text = b[start:end].decode("utf-8")  # spec 5.3: UTF-8 only
        except UnicodeDecodeError:
            raise _Syntax("invalid UTF-8") from None
        if "\\" in text:
            for m in _ESCAPE.finditer(text):
                if m.group(1) is not None:
                    # Policy (JR-27): a lone surrogate is no Unicode scalar value
                    # and cannot be re-encoded as UTF-8, so the text is refused.
                    raise _Syntax("lone surrogate escape")
        try:
            value, stop = self.scan(text, 0)
        except (StopIteration, ValueError, RecursionError) as exc:
            # ValueError covers JSONDecodeError and ints beyond
            # sys.get_int_max_str_digits().
            raise _Syntax(str(exc)) from None
        if stop != len(text):  # the tokenizer already found the end
            raise _Syntax("trailing data")
        return value


class _Walker:
    """One parse: tokenizer state and options."""

    __slots__ = ("b", "n", "max_depth", "lazy", "mcp", "dec")

    def __init__(self, b: bytes, max_depth: int, lazy: bool, mcp: bool) -> None:
        self.b = b
        self.n = len(b)
        self.max_depth = max_depth
        self.lazy = lazy
        self.mcp = mcp
        self.dec = _Decoder()

    def ws(self, i: int) -> int:
        return _WS.match(self.b, i).end()  # type: ignore[union-attr]

    def string_end(self, i: int) -> int:
        # i is just after the opening quote
        m = _STRING_REST.match(self.b, i)
        if m is None:
            raise _Syntax("unterminated string")
        return m.end()

    def skip(self, i: int, depth: int) -> tuple[int, int]:
        """Check one value at or after ``i`` (``depth`` open containers around it).

        Returns (start, end) of the value's text. The grammar outside strings is
        checked fully; string contents are not (see module docstring).
        """
        b = self.b
        stack: list[int] = []  # 0: array, 1: object
        # states: 0 value, 1 value or ']', 2 key or '}', 3 key, 4 ':', 5 ',' or close
        state = 0
        start = -1
        while True:
            m = _TOKEN.match(b, i)
            if m is None:
                raise _Syntax("unexpected byte")
            tok_start = m.start(m.lastindex)  # type: ignore[arg-type]
            if start < 0:
                start = tok_start
            i = m.end()
            kind = m.lastindex
            if kind == 4:
                c = b[tok_start]
                if c == 0x5B or c == 0x7B:  # '[' '{'
                    if state > 1:
                        raise _Syntax("unexpected bracket")
                    if depth + len(stack) + 1 > self.max_depth:
                        raise _Syntax("nesting too deep")
                    stack.append(c == 0x7B)
                    state = 2 if c == 0x7B else 1
                    continue
                if c == 0x5D:  # ']'
                    if not (state == 1 or (state == 5 and stack[-1] == 0)):
                        raise _Syntax("unexpected ]")
                    stack.pop()
                elif c == 0x7D:  # '}'
                    if not (state == 2 or (state == 5 and stack[-1] == 1)):
                        raise _Syntax("unexpected }")
                    stack.pop()
                elif c == 0x2C:  # ','
                    if state != 5:
                        raise _Syntax("unexpected ,")
                    state = 3 if stack[-1] else 0
                    continue
                else:  # ':'
                    if state != 4:
                        raise _Syntax("unexpected :")
                    state = 0
                    continue
            elif kind == 1:
                i = self.string_end(i)
                if state == 2 or state == 3:
                    state = 4
                    continue
                if state > 1:
                    raise _Syntax("unexpected string")
            else:
                if state > 1:
                    raise _Syntax("unexpected value")
            # a whole value ended at i
            if not stack:
                return start, i
            state = 5

    def value(self, i: int, depth: int, decode: bool) -> tuple[Any, int, int]:
        """Check one value; decode it if asked. Returns (value, start, end)."""
        s, e = self.skip(i, depth)
        if decode:
            return self.dec.decode(self.b, s, e), s, e
        return _MISSING, s, e

    def element(self, i: int, depth: int) -> tuple[Any, int]:
        """One message (top level or batch element). Returns (message, end)."""
        i = self.ws(i)
        if i < self.n and self.b[i] == 0x7B:
            return self.envelope(i, depth)
        # not an object: checked (and decoded in full mode, so that the text is
        # validated as thoroughly as any other), then refused
        _, _, e = self.value(i, depth, not self.lazy)
        return _MISSING, e

    def envelope(self, i: int, depth: int) -> tuple[Any, int]:
        """Walk a message object member by member; returns (classified message, end)."""
        b = self.b
        if depth + 1 > self.max_depth:
            raise _Syntax("nesting too deep")
        inner = depth + 1
        lazy = self.lazy
        dec = self.dec
        dec.dup = False
        seen: set[str] = set()
        f: dict[str, Any] = {}
        id_lexeme = b""
        dup = dupid = False
        i += 1
        m = _TOKEN.match(b, i)
        if m is None:
            raise _Syntax("unexpected byte")
        if m.lastindex == 4 and b[m.start(4)] == 0x7D:
            return self.classify(f, False, False, False, id_lexeme), m.end()
        while True:
            if m is None or m.lastindex != 1:
                raise _Syntax("expected a member name")
            ks = m.start(1)
            ke = self.string_end(m.end())
            key = dec.decode(b, ks, ke)  # names are always fully decoded
            m = _TOKEN.match(b, ke)
            if m is None or m.lastindex != 4 or b[m.start(4)] != 0x3A:
                raise _Syntax("expected :")
            full = not lazy or key in ("jsonrpc", "id", "method", "error")
            v, vs, ve = self.value(m.end(), inner, full)
            if key in seen:
                dup = True  # RFC 8259 section 4; spec 5.3 rejects (JR-24)
                if key == "id":
                    dupid = True
            else:
                seen.add(key)
                if key in ("jsonrpc", "id", "method", "params", "result", "error"):
                    if not full:
                        v = RawJson._slice(b, vs, ve)
                    f[key] = v
                    if key == "id":
                        id_lexeme = b[vs:ve]
            m = _TOKEN.match(b, ve)
            if m is None or m.lastindex != 4:
                raise _Syntax("expected , or }")
            c = b[m.start(4)]
            if c == 0x7D:
                return self.classify(f, "id" in seen, dup or dec.dup, dupid, id_lexeme), m.end()
            if c != 0x2C:
                raise _Syntax("expected , or }")
            m = _TOKEN.match(b, m.end())

    def classify(self, f: dict[str, Any], has_id: bool, dup: bool, dupid: bool, id_lexeme: bytes) -> Any:
        """Turn one message object's members into a message (spec 5.1, 5.2)."""
        mcp = self.mcp
        has_method = "method" in f
        has_result = "result" in f
        has_error = "error" in f
        jsonrpc = f.get("jsonrpc", _MISSING)
        method = f.get("method", _MISSING)
        # id: (value, kind) with kind 0 str/int, 1 null, 2 non-integer lexeme, 3 bad
        ident: Any
        idv = f.get("id", _MISSING)
        if idv is _MISSING:
            ident, kind = None, 3
        elif type(idv) is str or type(idv) is int:
            if id_lexeme == b"-0":
                ident, kind = RawJson(id_lexeme), 2  # AMB-16: -0 is no exact int echo
            else:
                ident, kind = idv, 0
        elif idv is None:
            ident, kind = None, 1
        elif type(idv) is float:
            ident, kind = RawJson(id_lexeme), 2
        else:
            ident, kind = None, 3
        if dupid:
            ident, kind = None, 3
        ok_id = kind == 0 or (not mcp and kind != 3)
        detected = ident if ok_id else None
        if has_method:
            reply = not (jsonrpc == "2.0" and type(jsonrpc) is str and type(method) is str and not has_id)
        else:
            reply = not (has_result or has_error)
        # checks, in this order (both twins)
        if dup:
            return Invalid(INVALID_REQUEST, R_DUPLICATE, detected, reply)
        if type(jsonrpc) is not str or jsonrpc != "2.0":
            return Invalid(INVALID_REQUEST, R_JSONRPC, detected, reply)
        if has_method:
            if has_result or has_error:
                return Invalid(INVALID_REQUEST, R_AMBIGUOUS, detected, reply)
            if type(method) is not str:
                return Invalid(INVALID_REQUEST, R_METHOD, detected, reply)
            if has_id and not ok_id:
                return Invalid(INVALID_REQUEST, R_ID, None, reply)
            params = f.get("params", _MISSING)
            if params is not _MISSING:
                pk = _kind(params)
                if pk == 2:
                    return Invalid(INVALID_REQUEST, R_PARAMS, detected, reply)
                if pk == 1 and mcp:
                    return Invalid(INVALID_PARAMS, R_PARAMS_ARRAY, detected, reply)  # AMB-17
            else:
                params = None
            if has_id:
                return Request(ident, method, params)
            return Notification(method, params)
        if has_result and has_error:
            return Invalid(INVALID_REQUEST, R_BOTH, detected, reply)
        if has_result:
            # a success response needs a real id, never null
            if not has_id or kind == 1 or not ok_id:
                return Invalid(INVALID_REQUEST, R_ID, None, reply)
            result = f["result"]
            if mcp and _kind(result) != 0:
                return Invalid(INVALID_REQUEST, R_RESULT, detected, reply)  # MCP: result is an object
            return Response(ident, result)
        if has_error:
            if has_id and kind != 1 and not ok_id:
                return Invalid(INVALID_REQUEST, R_ID, None, reply)
            err = f["error"]
            if type(err) is not dict:
                return Invalid(INVALID_REQUEST, R_ERROR, detected, reply)
            code = err.get("code", _MISSING)
            message = err.get("message", _MISSING)
            if type(code) is not int or type(message) is not str:
                return Invalid(INVALID_REQUEST, R_ERROR, detected, reply)  # JR-19
            return ErrorResponse(ident, code, message, err.get("data"))
        return Invalid(INVALID_REQUEST, R_NO_KIND, detected, reply)


def _kind(v: Any) -> int:
    """0 object, 1 array, 2 anything else (RawJson judged by its first byte)."""
    t = type(v)
    if t is dict:
        return 0
    if t is list:
        return 1
    if t is RawJson:
        c = v.first_byte()
        return 0 if c == 0x7B else 1 if c == 0x5B else 2
    return 2


def parse(
    body: bytes | bytearray | memoryview,
    *,
    allow_batch: bool,
    mcp: bool = True,
    lazy: bool = False,
    allow_bom: bool = True,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_batch_length: int = DEFAULT_MAX_BATCH_LENGTH,
) -> Parsed:
    """Parse a POST body into JSON-RPC messages.

    Whole-body failures raise ``JsonRpcDecodeError`` (``code_hint`` -32700 or
    -32600, ``status_hint`` 400, or 413 for size). Problems confined to one
    message become ``Invalid`` entries. See ``docs/jsonrpc.md``.
    """
    check_limits(max_body_size, max_depth, max_batch_length)
    b = as_bytes(body)
    n = len(b)
    if n > max_body_size:
        raise JsonRpcDecodeError(
            f"body of {n} bytes exceeds max_body_size={max_body_size}", code_hint=PARSE_ERROR, status_hint=413
        )
    i = 3 if allow_bom and b[:3] == b"\xef\xbb\xbf" else 0  # RFC 8259 section 8.1
    w = _Walker(b, max_depth, lazy, mcp)
    try:
        i = w.ws(i)
        if i < n and b[i] == 0x5B:  # '[': a batch (JSON-RPC 2.0 section 6)
            if not allow_batch:
                # refused before any further work, like an oversized body
                raise JsonRpcDecodeError(
                    "a batch (JSON array) is not allowed in this protocol revision",  # SRV-POST-06
                    code_hint=INVALID_REQUEST,
                    status_hint=400,
                )
            is_batch = True
            msgs: list[Any] = []
            m = _TOKEN.match(b, i + 1)
            if m is not None and m.lastindex == 4 and b[m.start(4)] == 0x5D:
                i = m.end()
            else:
                i += 1
                while True:
                    msg, i = w.element(i, 1)
                    msgs.append(msg)
                    if len(msgs) > max_batch_length:  # stop reading at once
                        raise JsonRpcDecodeError(
                            f"batch longer than max_batch_length={max_batch_length}",
                            code_hint=INVALID_REQUEST,
                            status_hint=400,
                        )
                    m = _TOKEN.match(b, i)
                    if m is None or m.lastindex != 4 or b[m.start(4)] not in b",]":
                        raise _Syntax("expected , or ]")
                    i = m.end()
                    if b[m.start(4)] == 0x5D:
                        break
        else:
            is_batch = False
            msg, i = w.element(i, 0)
            msgs = [msg]
        if w.ws(i) != n:
            raise _Syntax("trailing data")  # spec 5.3
    except _Syntax as exc:
        raise JsonRpcDecodeError(f"Parse error: {exc}", code_hint=PARSE_ERROR, status_hint=400) from None
    if is_batch:
        if not msgs:
            raise JsonRpcDecodeError("an empty batch", code_hint=INVALID_REQUEST, status_hint=400)  # JR-08
        for k, msg in enumerate(msgs):
            if msg is _MISSING:
                msgs[k] = Invalid(INVALID_REQUEST, R_NOT_OBJECT, None, True)  # JR-09
    elif msgs[0] is _MISSING:
        raise JsonRpcDecodeError("a JSON scalar or array is not a message", code_hint=INVALID_REQUEST, status_hint=400)
    return Parsed(msgs, is_batch)


def decode_value(data: bytes | bytearray | memoryview, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Decode one JSON text with the parser's policy (strict RFC 8259, UTF-8, no BOM).

    Raises ``JsonRpcDecodeError``: -32700 for text that is not JSON, -32600 for a
    duplicate member name anywhere.
    """
    check_limits(0, max_depth, 1)
    b = as_bytes(data)
    w = _Walker(b, max_depth, False, True)
    try:
        v, _, e = w.value(0, 0, True)
        if w.ws(e) != len(b):
            raise _Syntax("trailing data")
    except _Syntax as exc:
        raise JsonRpcDecodeError(f"Parse error: {exc}", code_hint=PARSE_ERROR, status_hint=400) from None
    if w.dec.dup:
        raise JsonRpcDecodeError("duplicate member name", code_hint=INVALID_REQUEST, status_hint=400)
    return v


# RawJson.decode falls back to this twin when used without the selector.
register_decoder(decode_value, replace=False)

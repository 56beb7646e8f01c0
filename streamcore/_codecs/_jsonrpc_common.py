"""Pieces of the JSON-RPC codec shared by both twins (pure Python).

The message classes, the error codes, the limits and the encoder live here, so
that ``isinstance`` checks, equality and the bytes we write are the same
whichever twin parsed the body. Only ``parse`` and ``decode_value`` differ
between ``_jsonrpc_py`` (the reference) and ``_jsonrpc_c``.

Spec: JSON-RPC 2.0 (2013-01-04) sections 4-7; MCP overlay and parser policy in
``spec/streamable-http.md`` sections 5.1-5.3.
"""

from __future__ import annotations

import json
from typing import Any, Callable, NamedTuple, Union

from .._errors import LocalProtocolError

__all__ = [
    "register_decoder",
    "PARSE_ERROR",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "INVALID_PARAMS",
    "INTERNAL_ERROR",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_DEPTH",
    "MAX_DEPTH_CEILING",
    "DEFAULT_MAX_BATCH_LENGTH",
    "BATCH_PROTOCOL_VERSIONS",
    "RawJson",
    "Request",
    "Notification",
    "Response",
    "ErrorResponse",
    "Invalid",
    "Parsed",
    "Message",
    "Id",
    "batch_allowed",
    "check_limits",
    "as_bytes",
    "make_encoders",
    "py_value",
    "result_type",
    "KNOWN_RESULT_TYPES",
    "encode",
    "encode_batch",
    "encode_request",
    "encode_notification",
    "encode_result",
    "encode_error",
    "error_body",
    "reply_body",
    "R_NOT_OBJECT",
    "R_DUPLICATE",
    "R_JSONRPC",
    "R_AMBIGUOUS",
    "R_METHOD",
    "R_ID",
    "R_PARAMS",
    "R_PARAMS_ARRAY",
    "R_NO_KIND",
    "R_BOTH",
    "R_RESULT",
    "R_ERROR",
]

# JSON-RPC 2.0 section 5.1 error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

#: Largest body accepted, in bytes (413 beyond). 4 MiB matches the server's
#: default POST limit; the MCP TypeScript SDK caps JSON bodies at 4 MB too.
DEFAULT_MAX_BODY_SIZE = 4 * 1024 * 1024
#: Deepest nesting of arrays and objects (the batch array and the message object
#: count). 128 is serde_json's default recursion limit; MCP tool schemas stay far
#: below it, and it keeps the pure twin well inside Python's recursion limit.
DEFAULT_MAX_DEPTH = 128
#: ``max_depth`` may not exceed this: the stdlib decoder used by the pure twin
#: recurses once per level and would hit ``RecursionError`` near 1000.
MAX_DEPTH_CEILING = 512
#: Most elements in one batch (R1 only). JSON-RPC sets no bound; 1000 is the
#: common batch cap of JSON-RPC gateways (e.g. geth's ``BatchRequestLimit``).
DEFAULT_MAX_BATCH_LENGTH = 1000

#: Protocol revisions whose Streamable HTTP transport accepts batches (spec 5.2:
#: only R1; R2+ removed JSON-RPC batching).
BATCH_PROTOCOL_VERSIONS = frozenset({"2025-03-26"})

# Reasons carried by ``Invalid.message``; identical text from both twins.
R_NOT_OBJECT = "Invalid Request: not a JSON object"
R_DUPLICATE = "Invalid Request: duplicate member name"
R_JSONRPC = 'Invalid Request: "jsonrpc" must be exactly "2.0"'
R_AMBIGUOUS = 'Invalid Request: "method" together with "result" or "error"'
R_METHOD = 'Invalid Request: "method" must be a string'
R_ID = 'Invalid Request: bad "id"'
R_PARAMS = 'Invalid Request: "params" must be an object or an array'
R_PARAMS_ARRAY = 'Invalid params: MCP "params" must be an object'
R_NO_KIND = "Invalid Request: neither a request nor a response"
R_BOTH = 'Invalid Request: a response needs exactly one of "result" and "error"'
R_RESULT = 'Invalid Request: bad "result"'
R_ERROR = 'Invalid Request: bad "error" object'


# The twin whose ``decode_value`` RawJson.decode uses. Each twin registers
# itself when imported (the pure one only if none is registered yet); the
# selector ``streamcore.jsonrpc`` registers the twin it picked. A registry
# rather than an import of the selector keeps the layers acyclic: this
# module sits below both twins and below the selector.
_DECODER: list[Any] = [None]


def register_decoder(decode_value: Any, *, replace: bool = True) -> None:
    """Make ``decode_value`` the function behind :meth:`RawJson.decode`."""
    if replace or _DECODER[0] is None:
        _DECODER[0] = decode_value


class RawJson:
    """JSON text that is already encoded: spliced verbatim by the encoders.

    Lazy parsing returns ``params`` and ``result`` as ``RawJson`` views on the
    body (no copy for a ``bytes`` body). ``raw`` gives the bytes, ``decode()``
    (or ``value``) decodes them with the same policy as a full parse. The body
    is not re-validated when you build one yourself: you vouch for it.
    """

    __slots__ = ("_buf", "_start", "_end")

    def __init__(self, raw: bytes | bytearray | memoryview) -> None:
        buf = bytes(raw)
        self._buf = buf
        self._start = 0
        self._end = len(buf)

    @classmethod
    def _slice(cls, buf: bytes, start: int, end: int) -> RawJson:
        # Codec-built: a view on the body, no copy, no re-validation.
        self = object.__new__(cls)
        self._buf = buf
        self._start = start
        self._end = end
        return self

    @property
    def raw(self) -> bytes:
        """The JSON text, as bytes."""
        if self._start == 0 and self._end == len(self._buf):
            return self._buf
        return self._buf[self._start : self._end]

    def __bytes__(self) -> bytes:
        return self.raw

    def __len__(self) -> int:
        return self._end - self._start

    def first_byte(self) -> int:
        """The first byte of the text (``ord('{')`` for an object), or -1 if empty."""
        return self._buf[self._start] if self._end > self._start else -1

    def decode(self, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
        """Decode the text with the parser's policy (see ``decode_value``).

        Errors deferred by lazy parsing surface here as ``JsonRpcDecodeError``:
        -32700 for invalid UTF-8, bad escapes or control characters, -32600 for a
        duplicate member name.
        """
        decode = _DECODER[0]
        if decode is None:  # pragma: no cover - every twin registers itself on import
            raise LocalProtocolError("no JSON-RPC twin is loaded")
        return decode(self.raw, max_depth=max_depth)

    @property
    def value(self) -> Any:
        """``decode()`` with the default limits."""
        return self.decode()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RawJson):
            return self.raw == other.raw
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        raw = self.raw
        shown = raw if len(raw) <= 60 else raw[:57] + b"..."
        return f"RawJson({shown!r})"


#: A request id: ``str`` or ``int`` (exact, any size); in generic mode also
#: ``None`` (``"id": null``) or a ``RawJson`` keeping a non-integer lexeme.
Id = Union[str, int, RawJson, None]


def _typed_eq(self: tuple[Any, ...], other: object) -> bool:
    # Tuples compare equal across classes; messages must not (a Request is never
    # equal to an Invalid that happens to hold the same three values).
    return type(self) is type(other) and tuple.__eq__(self, other)  # type: ignore[arg-type,unused-ignore]


def _typed_ne(self: tuple[Any, ...], other: object) -> bool:
    return not _typed_eq(self, other)


def _typed_hash(self: tuple[Any, ...]) -> int:
    return hash((type(self).__name__, tuple(self)))


class Request(NamedTuple):
    """A request: has an ``id`` member (JSON-RPC 2.0 section 4)."""

    id: Id
    method: str
    params: dict[str, Any] | list[Any] | RawJson | None = None


class Notification(NamedTuple):
    """A request without an ``id`` member: never answered (section 4.1)."""

    method: str
    params: dict[str, Any] | list[Any] | RawJson | None = None


class Response(NamedTuple):
    """A success response (section 5)."""

    id: Id
    result: Any


class ErrorResponse(NamedTuple):
    """An error response (section 5.1). ``id`` is None when null or absent (AMB-03).

    ``data`` is None when absent; ``"data": null`` reads the same.
    """

    id: Id
    code: int
    message: str
    data: Any = None


class Invalid(NamedTuple):
    """One message that is not valid JSON-RPC (or MCP); answer it with ``code``.

    ``id`` is the request id when it could be read, else None. ``reply`` is False
    when the element looked like a notification or a response: those are never
    answered (JSON-RPC 2.0 section 4.1), only surfaced.
    """

    code: int
    message: str
    id: Id = None
    reply: bool = True


for _cls in (Request, Notification, Response, ErrorResponse, Invalid):
    _cls.__eq__ = _typed_eq  # type: ignore[method-assign]
    _cls.__ne__ = _typed_ne  # type: ignore[method-assign,assignment]
    _cls.__hash__ = _typed_hash  # type: ignore[method-assign]

Message = Union[Request, Notification, Response, ErrorResponse, Invalid]


class Parsed(NamedTuple):
    """What ``parse`` returns: the messages in body order, and whether the body was an array."""

    messages: list[Any]
    is_batch: bool


def batch_allowed(protocol_version: str | None) -> bool:
    """Whether a body for this protocol revision may be a JSON-RPC batch.

    Only 2025-03-26 (R1) accepts batches; R2+ answer an array with 400
    (SRV-POST-06). ``None`` (no header: the server assumes its default, which is
    never R1 for a new deployment) is False.
    """
    return protocol_version in BATCH_PROTOCOL_VERSIONS


#: ``resultType`` values a modern (R4) client understands (spec 5.2).
KNOWN_RESULT_TYPES = frozenset({"complete", "input_required"})


def result_type(result: Any, known: frozenset[str] = KNOWN_RESULT_TYPES) -> str:
    """The R4 ``resultType`` of a decoded ``result`` object (JR-30).

    Absent means ``"complete"`` (an older server); a value outside ``known``
    raises ``JsonRpcDecodeError`` (-32600): the client MUST treat it as invalid.
    """
    from .._errors import JsonRpcDecodeError

    if type(result) is not dict:
        raise JsonRpcDecodeError("result is not an object", code_hint=INVALID_REQUEST)
    rt = result.get("resultType", "complete")
    if type(rt) is not str or rt not in known:
        raise JsonRpcDecodeError(f"unknown resultType {rt!r}", code_hint=INVALID_REQUEST)
    return rt


def as_bytes(body: Any) -> bytes:
    """The body as ``bytes``: itself if it is ``bytes``, else one copy (TypeError for non-buffers)."""
    if type(body) is bytes:
        return body
    if isinstance(body, (bytes, bytearray, memoryview)):
        mv = memoryview(body)
        if not mv.c_contiguous:
            raise TypeError("body must be a contiguous buffer")
        return mv.tobytes()
    raise TypeError(f"body must be bytes, bytearray or memoryview, not {type(body).__name__}")


def check_limits(max_body_size: int, max_depth: int, max_batch_length: int) -> None:
    """Reject nonsensical limit settings (a caller error, hence ``ValueError``)."""
    if max_body_size < 0:
        raise ValueError("max_body_size must be >= 0")
    if not 1 <= max_depth <= MAX_DEPTH_CEILING:
        raise ValueError(f"max_depth must be between 1 and {MAX_DEPTH_CEILING}")
    if max_batch_length < 1:
        raise ValueError("max_batch_length must be >= 1")


# --- encoding ---------------------------------------------------------------
#
# Compact UTF-8 JSON: no spaces, no BOM (spec 5.3), ensure_ascii=False so text
# stays text. One json.dumps call per Python value; ids, RawJson and the
# envelope are spliced as bytes so ids stay exact (JR-16) and pre-encoded
# results are never re-encoded.

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def py_value(obj: Any) -> bytes:
    if type(obj) is RawJson:
        return obj.raw
    try:
        return _dumps(obj).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as exc:
        # ValueError: NaN/Infinity (RFC 8259 section 6 has no such numbers);
        # UnicodeEncodeError: a lone surrogate cannot be UTF-8 (section 8.1).
        raise LocalProtocolError(f"cannot encode as JSON: {exc}") from None


def make_encoders(_value: Callable[[Any], bytes]) -> dict[str, Any]:
    """The encoder functions, built around ``_value`` (one Python value -> JSON bytes).

    The pure twin uses ``_value`` below (the stdlib encoder); the compiled twin
    passes its own, which must give byte-identical output (tested).
    """

    def _id(id: Id) -> bytes:
        t = type(id)
        if t is int:
            return str(id).encode()  # exact at any size (JR-16)
        if t is str:
            return _value(id)
        if id is None:
            return b"null"
        if t is RawJson:
            return id.raw  # type: ignore[union-attr]
        raise LocalProtocolError(f"a JSON-RPC id is a str, an int, None or RawJson, not {t.__name__}")


    def encode_request(id: Id, method: str, params: Any = None) -> bytes:
        """``{"jsonrpc":"2.0","id":...,"method":...[,"params":...]}``."""
        if type(method) is not str:
            raise LocalProtocolError("method must be a str")
        out = b'{"jsonrpc":"2.0","id":' + _id(id) + b',"method":' + _value(method)
        if params is not None:
            out += b',"params":' + _value(params)
        return out + b"}"


    def encode_notification(method: str, params: Any = None) -> bytes:
        """``{"jsonrpc":"2.0","method":...[,"params":...]}`` (no id)."""
        if type(method) is not str:
            raise LocalProtocolError("method must be a str")
        out = b'{"jsonrpc":"2.0","method":' + _value(method)
        if params is not None:
            out += b',"params":' + _value(params)
        return out + b"}"


    def encode_result(id: Id, result: Any) -> bytes:
        """A success response. ``result`` may be a Python value or ``RawJson`` (spliced)."""
        return b'{"jsonrpc":"2.0","id":' + _id(id) + b',"result":' + _value(result) + b"}"


    def encode_error(
        id: Id, code: int, message: str, data: Any = None, *, omit_null_id: bool = False
    ) -> bytes:
        """An error response. ``id`` None writes ``"id":null`` unless ``omit_null_id`` (AMB-03)."""
        if type(code) is not int:
            raise LocalProtocolError("error code must be an int")  # JSON-RPC 2.0 section 5.1
        if type(message) is not str:
            raise LocalProtocolError("error message must be a str")
        head = b'{"jsonrpc":"2.0",' if id is None and omit_null_id else b'{"jsonrpc":"2.0","id":' + _id(id) + b","
        out = head + b'"error":{"code":' + str(code).encode() + b',"message":' + _value(message)
        if data is not None:
            out += b',"data":' + _value(data)
        return out + b"}}"


    def encode(message: Message, *, omit_null_id: bool = False) -> bytes:
        """Encode one message object. An ``Invalid`` becomes its error response."""
        t = type(message)
        if t is Request:
            return encode_request(message.id, message.method, message.params)  # type: ignore[union-attr]
        if t is Notification:
            return encode_notification(message.method, message.params)  # type: ignore[union-attr]
        if t is Response:
            return encode_result(message.id, message.result)  # type: ignore[union-attr]
        if t is ErrorResponse:
            m = message
            return encode_error(m.id, m.code, m.message, m.data, omit_null_id=omit_null_id)  # type: ignore[union-attr]
        if t is Invalid:
            m = message
            return encode_error(m.id, m.code, m.message, omit_null_id=omit_null_id)  # type: ignore[union-attr]
        raise LocalProtocolError(f"not a JSON-RPC message: {t.__name__}")


    def encode_batch(messages: list[Any]) -> bytes:
        """An array of messages (JSON-RPC 2.0 section 6). An empty list is refused:
        an empty array is never a valid reply (section 6: "MUST NOT return an empty Array").
        """
        if not messages:
            raise LocalProtocolError("an empty batch is not valid JSON-RPC")
        return b"[" + b",".join(m if type(m) is bytes else encode(m) for m in messages) + b"]"


    def error_body(exc: Exception, *, omit_null_id: bool = False) -> bytes:
        """The single error object answering a whole-body failure (JR-05, JR-07, JR-08).

        ``exc`` is a ``JsonRpcDecodeError``; its ``code_hint`` becomes the code.
        """
        code = getattr(exc, "code_hint", PARSE_ERROR)
        msg = "Parse error" if code == PARSE_ERROR else "Invalid Request"
        return encode_error(None, code, msg, omit_null_id=omit_null_id)


    def reply_body(parsed: Parsed, replies: list[Any]) -> bytes | None:
        """The HTTP body answering ``parsed``, or None when nothing is to be sent.

        ``replies`` holds the responses the application produced (encoded bytes or
        message objects) for the requests; ``Invalid`` entries of ``parsed`` that
        want a reply are answered here. A batch gets an array (JSON-RPC 2.0 section 6,
        AMB-04) unless nothing is left (all notifications: None, JR-12); a single
        message gets its one object.
        """
        out = [m if type(m) is bytes else encode(m) for m in replies]
        for m in parsed.messages:
            if type(m) is Invalid and m.reply:
                out.append(encode(m))
        if not out:
            return None
        if parsed.is_batch:
            return b"[" + b",".join(out) + b"]"
        if len(out) != 1:
            raise LocalProtocolError("a single message gets exactly one reply")
        return out[0]

    return {
        "encode_request": encode_request,
        "encode_notification": encode_notification,
        "encode_result": encode_result,
        "encode_error": encode_error,
        "encode": encode,
        "encode_batch": encode_batch,
        "error_body": error_body,
        "reply_body": reply_body,
    }


_ENCODERS = make_encoders(py_value)
encode_request = _ENCODERS["encode_request"]
encode_notification = _ENCODERS["encode_notification"]
encode_result = _ENCODERS["encode_result"]
encode_error = _ENCODERS["encode_error"]
encode = _ENCODERS["encode"]
encode_batch = _ENCODERS["encode_batch"]
error_body = _ENCODERS["error_body"]
reply_body = _ENCODERS["reply_body"]

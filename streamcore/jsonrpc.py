"""JSON-RPC 2.0 codec with the MCP overlay: parse POST bodies, encode replies.

``parse(body, allow_batch=...)`` reads a body into request, notification,
response, error-response and ``Invalid`` messages (spec 5.1-5.3); whole-body
failures raise :class:`~streamcore._errors.JsonRpcDecodeError`. ``lazy=True``
keeps ``params``/``result`` as :class:`RawJson` spans for gateways. The
``encode*`` functions write compact UTF-8 JSON. See ``docs/jsonrpc.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import JsonRpcDecodeError
from ._ext import implementation_of, load_twin

from ._codecs._jsonrpc_common import register_decoder

_impl = load_twin("jsonrpc")
# RawJson.decode follows the twin picked here (see _jsonrpc_common._DECODER).
register_decoder(_impl.decode_value)
#: "compiled" or "pure"
IMPLEMENTATION = implementation_of(_impl)

if TYPE_CHECKING:
    from ._codecs._jsonrpc_py import (
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
        ErrorResponse,
        Invalid,
        Notification,
        Parsed,
        RawJson,
        Request,
        Response,
        batch_allowed,
        decode_value,
        encode,
        encode_batch,
        encode_error,
        encode_notification,
        encode_request,
        encode_result,
        error_body,
        parse,
        reply_body,
        result_type,
    )
else:
    parse = _impl.parse
    decode_value = _impl.decode_value
    encode = _impl.encode
    encode_batch = _impl.encode_batch
    encode_request = _impl.encode_request
    encode_notification = _impl.encode_notification
    encode_result = _impl.encode_result
    encode_error = _impl.encode_error
    error_body = _impl.error_body
    reply_body = _impl.reply_body
    result_type = _impl.result_type
    batch_allowed = _impl.batch_allowed
    RawJson = _impl.RawJson
    Request = _impl.Request
    Notification = _impl.Notification
    Response = _impl.Response
    ErrorResponse = _impl.ErrorResponse
    Invalid = _impl.Invalid
    Parsed = _impl.Parsed
    PARSE_ERROR = _impl.PARSE_ERROR
    INVALID_REQUEST = _impl.INVALID_REQUEST
    METHOD_NOT_FOUND = _impl.METHOD_NOT_FOUND
    INVALID_PARAMS = _impl.INVALID_PARAMS
    INTERNAL_ERROR = _impl.INTERNAL_ERROR
    DEFAULT_MAX_BODY_SIZE = _impl.DEFAULT_MAX_BODY_SIZE
    DEFAULT_MAX_DEPTH = _impl.DEFAULT_MAX_DEPTH
    DEFAULT_MAX_BATCH_LENGTH = _impl.DEFAULT_MAX_BATCH_LENGTH
    MAX_DEPTH_CEILING = _impl.MAX_DEPTH_CEILING
    BATCH_PROTOCOL_VERSIONS = _impl.BATCH_PROTOCOL_VERSIONS

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
    "JsonRpcDecodeError",
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
    "IMPLEMENTATION",
]

"""Which protocol era a POST belongs to, and whether its headers agree with its body.

Two eras share the MCP endpoint (spec 1.1, ``versioning.mdx`` "Backward
Compatibility"):

* **legacy** (2025-03-26, 2025-06-18, 2025-11-25): an ``initialize``
  handshake, ``Mcp-Session-Id``, GET streams, DELETE;
* **modern** (2026-07-28, "R4"): no handshake, no session; every request
  carries ``params._meta["io.modelcontextprotocol/protocolVersion"]`` and the
  request-metadata headers ``MCP-Protocol-Version``, ``Mcp-Method``,
  ``Mcp-Name`` and ``Mcp-Param-*`` (spec 2.11, 2.12).

:func:`classify` is a pure function of the request (method, header fields,
optionally the body): no server, no state, no clock. A gateway can call it to
route without running a server (``docs/eras.md``); the dual-era server calls it
to pick the component that serves the POST. It never raises on peer input: it
returns a :class:`Verdict` that either accepts the request or names the exact
HTTP status and JSON-RPC error to answer with.

How the era is decided (SRV-COMPAT-08), first match wins:

1. GET and DELETE are legacy (only the session era has them); a server that
   supports no legacy version answers 405 with ``Allow: POST`` (SRV-COMPAT-06).
2. A body with ``initialize`` is legacy; a JSON array (an R1 batch) is legacy.
3. A request whose ``params._meta`` carries the modern protocolVersion key is
   modern (``versioning.mdx``: "A request carrying modern per-request
   ``_meta`` is served statelessly"), whatever other headers say: R4 servers
   ignore ``Mcp-Session-Id`` and ``Last-Event-ID``.
4. Otherwise the headers decide: ``Mcp-Session-Id`` or a legacy
   ``MCP-Protocol-Version`` means legacy, a modern ``MCP-Protocol-Version``
   means modern; with neither, legacy if any legacy version is supported
   (R1 clients send no version header), else modern (and then rejected,
   because the headers are missing).

Without a body only step 1 and 4 can run; ``era`` is None when they cannot
decide.

Modern validation order (each failure is 400): parse errors (-32700/-32600);
invalid characters in a standard header (-32020); ``MCP-Protocol-Version``
missing or not equal to the body's (-32020, SRV-VER-05/07); version not
supported (-32022 with ``data.supported``/``data.requested``, SRV-VER-06);
``Mcp-Method`` and ``Mcp-Name`` missing or not equal (-32020, SRV-HDR-01/02);
annotated ``Mcp-Param-*`` (-32020, SRV-HDR-02/03); ``clientCapabilities``
missing (-32602) or lacking a capability the method or tool requires (-32021,
SRV-VER-11). A request whose body has no ``_meta`` protocol version under a
modern header is -32602 too (``_meta`` is required params; the conformance
suite and the Python SDK agree). Header names are matched case-insensitively, values
case-sensitively (HDR-04).

Also here: the header-value codec clients use for ``Mcp-Name`` and
``Mcp-Param-*`` (:func:`encode_header_value`, :func:`decode_header_value`,
CLI-HDR-02) and the ``x-mcp-header`` schema rules (:func:`x_mcp_header_problems`,
:func:`valid_x_mcp_header`, :func:`param_headers_from_tools`, CLI-HDR-04).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping, Sequence

from . import jsonrpc as _jr
from ._errors import JsonRpcDecodeError
from ._protocol import (
    HEADER_MISMATCH,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_PROTOCOL_VERSION,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from ._versions import LEGACY_VERSIONS, MODERN_VERSIONS, served_versions

__all__ = [
    "Verdict",
    "classify",
    "error_response",
    "MODERN_VERSIONS",
    "LEGACY_VERSIONS",
    "HEADER_MISMATCH",
    "MISSING_REQUIRED_CLIENT_CAPABILITY",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "META_PROTOCOL_VERSION",
    "META_CLIENT_CAPABILITIES",
    "META_CLIENT_INFO",
    "NAME_SOURCES",
    "encode_header_value",
    "decode_header_value",
    "needs_encoding",
    "x_mcp_header_problems",
    "valid_x_mcp_header",
    "x_mcp_headers",
    "param_headers_from_tools",
    "MAX_SAFE_INTEGER",
]


#: Methods whose ``Mcp-Name`` header mirrors a body field (CLI-HDR-01).
NAME_SOURCES: Mapping[str, str] = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}

#: 2**53 - 1: the largest integer an ``x-mcp-header`` parameter may carry (JavaScript's safe range).
MAX_SAFE_INTEGER = 2**53 - 1

_SENTINEL_PREFIX = "=?base64?"
_SENTINEL_SUFFIX = "?="
_PARAM_PREFIX = b"mcp-param-"
_ALLOW_MODERN = ((b"allow", b"POST"),)
_ALLOW_BOTH = ((b"allow", b"GET, POST, DELETE"),)
# The byte string that must occur in any body carrying modern _meta (unless
# escaped). Finding it is a fast scan; a legacy body without it is not parsed.
_META_KEY_BYTES = META_PROTOCOL_VERSION.encode()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`classify` decided about one HTTP request.

    ``era`` is ``"legacy"``, ``"modern"`` or None (undecidable without the
    body, or a request no era serves). ``status`` None means accepted; else
    answer with ``status``, the extra ``headers`` and a JSON-RPC error
    (``code``, ``message``, ``data``) whose id is ``request_id``, as
    :meth:`error_body` encodes it. ``message_obj`` is the parsed JSON-RPC
    message when the body was parsed (always for an accepted modern verdict,
    so the modern server need not parse again; None for a legacy body that
    the fast path recognised without parsing). ``body_checked`` is False when no body was given: the
    header checks passed, the header/body comparison has not been done.
    """

    era: str | None
    protocol_version: str | None = None
    status: int | None = None
    code: int | None = None
    message: str | None = None
    data: Any = None
    request_id: Any = None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    message_obj: Any = None
    body_checked: bool = False

    @property
    def accepted(self) -> bool:
        """True when nothing is wrong (so far, if ``body_checked`` is False)."""
        return self.status is None

    def error_body(self, *, omit_null_id: bool = False) -> bytes:
        """The JSON-RPC error response to send (only for a rejected verdict)."""
        if self.status is None or self.code is None:
            raise ValueError("an accepted verdict has no error body")
        body: bytes = _jr.encode_error(
            self.request_id, self.code, self.message or "", self.data, omit_null_id=omit_null_id
        )
        return body


def error_response(verdict: Verdict, *, omit_null_id: bool = False) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``(status, headers, body)`` answering a rejected verdict, ready to write.

    The headers are ``Content-Type``/``Content-Length`` plus the verdict's own
    (``Allow`` on a 405). Never carries ``Mcp-Session-Id`` (SRV-COMPAT-06).
    """
    body = verdict.error_body(omit_null_id=omit_null_id)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    headers.extend(verdict.headers)
    assert verdict.status is not None
    return verdict.status, headers, body


# --- header values (CLI-HDR-02, SRV-HDR-01) ---------------------------------------


def needs_encoding(value: str) -> bool:
    """Whether a string must travel as ``=?base64?...?=`` (CLI-HDR-02).

    True for anything outside printable ASCII (0x20-0x7E: non-ASCII, controls,
    TAB included), leading or trailing whitespace, a plain value that already
    looks like the sentinel, and the empty string (an empty field is dropped
    by some proxies; the spec leaves it open, so we choose the safe form).
    """
    if not value:
        return True
    if value[0] == " " or value[-1] == " ":
        return True
    if not value.isascii() or not value.isprintable():
        # isprintable() is False for every C0 control and DEL; isascii() rules out the rest.
        return True
    return value.startswith(_SENTINEL_PREFIX) and value.endswith(_SENTINEL_SUFFIX)


def encode_header_value(value: str | int | bool) -> str:
    """The ``Mcp-Name`` / ``Mcp-Param-*`` header value for a body value (CLI-HDR-02, CLI-HDR-03).

    Strings go as-is when safe, else Base64 of their UTF-8 in the sentinel;
    integers in decimal (within +-(2**53 - 1)); booleans as ``true``/``false``.
    Other types (None, floats, objects) raise ``TypeError``: they get no header.
    """
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is outside the safe range for a header")
        return str(value)
    if isinstance(value, str):
        if needs_encoding(value):
            return _SENTINEL_PREFIX + base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii") + _SENTINEL_SUFFIX
        return value
    raise TypeError(f"no header form for a {type(value).__name__}")


# RFC 9110 5.5 as the MCP Value Encoding section restates it: visible ASCII,
# SP and HTAB. (Leading/trailing whitespace is stripped by every HTTP parser,
# so it cannot be seen here.)
_FIELD_CHARS = bytes([0x09]) + bytes(range(0x20, 0x7F))


def _field_chars_ok(raw: bytes) -> bool:
    # translate() deleting every legal byte runs in C; anything left is
    # illegal. A Python loop over the bytes cost ~1 us per header.
    return not raw.translate(None, _FIELD_CHARS)


def decode_header_value(value: bytes | str) -> str | None:
    """The value an ``Mcp-Name`` / ``Mcp-Param-*`` header stands for, or None if malformed.

    Malformed means: characters outside visible ASCII, SP and HTAB; or a
    sentinel whose payload is not strict Base64 of UTF-8. The markers are
    case-sensitive (``=?BASE64?`` is a plain value).
    """
    if isinstance(value, str):
        try:
            raw = value.encode("ascii")
        except UnicodeEncodeError:
            return None
    else:
        raw = bytes(value)
    if not raw.isascii() or not _field_chars_ok(raw):
        return None
    text = raw.decode("ascii")
    if not (text.startswith(_SENTINEL_PREFIX) and text.endswith(_SENTINEL_SUFFIX)):
        return text
    if len(text) < len(_SENTINEL_PREFIX) + len(_SENTINEL_SUFFIX):
        return None  # "=?base64?=": prefix and suffix overlap
    payload = text[len(_SENTINEL_PREFIX) : -len(_SENTINEL_SUFFIX)]
    try:
        return base64.b64decode(payload, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _number(text: str) -> Decimal | None:
    if not _NUMBER_RE.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
        return None


_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _header_matches(header: str, body_value: Any) -> bool:
    """Does a decoded header value stand for ``body_value``? (SRV-HDR-01, SRV-HDR-03)."""
    t = type(body_value)
    if t is str:
        return bool(header == body_value)
    if t is bool:
        return header == ("true" if body_value else "false")
    if t is int or t is float:
        # SRV-HDR-03: numerically, so "42" matches 42.0 and "42.0" matches 42.
        h = _number(header)
        if h is None:
            return False
        try:
            return h == Decimal(body_value)
        except (InvalidOperation, ValueError):  # pragma: no cover - inf/nan never equal a finite literal
            return False
    return False


# --- x-mcp-header schemas (CLI-HDR-04) ----------------------------------------------

_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PRIMITIVES = frozenset({"string", "integer", "boolean"})


def _walk(node: Any, path: tuple[str, ...], reachable: bool, out: list[Any], problems: list[str]) -> None:
    if isinstance(node, dict):
        if "x-mcp-header" in node:
            name = node["x-mcp-header"]
            where = "/".join(path) or "<root>"
            if not reachable or not path:
                problems.append(f"x-mcp-header at {where} is not reachable through properties alone")
            else:
                out.append((name, path, node))
        for key, child in node.items():
            if key == "x-mcp-header":
                continue
            if key == "properties" and isinstance(child, dict):
                for pname, sub in child.items():
                    _walk(sub, path + (str(pname),), reachable, out, problems)
            else:
                # items, oneOf/anyOf/allOf/not, if/then/else, $defs, ...:
                # nothing below is statically reachable.
                _walk(child, path + (key,), False, out, problems)
    elif isinstance(node, list):
        for i, child in enumerate(node):
            _walk(child, path + (str(i),), False, out, problems)


def _type_ok(schema: dict[str, Any]) -> bool:
    t = schema.get("type")
    if isinstance(t, str):
        return t in _PRIMITIVES
    if isinstance(t, list):
        kinds = [k for k in t if k != "null"]
        return len(kinds) == 1 and kinds[0] in _PRIMITIVES and all(isinstance(k, str) for k in t)
    return False


def x_mcp_header_problems(input_schema: Any) -> list[str]:
    """Why a tool's ``inputSchema`` has invalid ``x-mcp-header`` annotations (empty: valid).

    CLI-HDR-04 (``streamable-http.mdx`` "Schema Extension"): a name is
    non-empty, an RFC 9110 token (so no CTL, CR, LF), case-insensitively
    unique; the property is ``string``, ``integer`` or ``boolean`` (optionally
    nullable; ``number`` is refused), with integer bounds inside
    +-(2**53 - 1) when given; and it is reached from the root through
    ``properties`` keys alone.
    """
    found: list[Any] = []
    problems: list[str] = []
    _walk(input_schema, (), True, found, problems)
    seen: dict[str, str] = {}
    for name, path, node in found:
        where = "/".join(path)
        if not isinstance(name, str) or not name:
            problems.append(f"x-mcp-header at {where} is empty or not a string")
            continue
        if not _TOKEN_RE.fullmatch(name):
            problems.append(f"x-mcp-header {name!r} at {where} is not an HTTP token")
            continue
        low = name.lower()
        if low in seen:
            problems.append(f"x-mcp-header {name!r} at {where} duplicates {seen[low]!r}")
        seen[low] = name
        if not _type_ok(node):
            problems.append(f"x-mcp-header {name!r} at {where} is on a non-primitive or number type")
        elif node.get("type") == "integer" or "integer" in (node.get("type") or ()):
            for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                b = node.get(bound)
                if isinstance(b, (int, float)) and not isinstance(b, bool) and abs(b) > MAX_SAFE_INTEGER + 1:
                    problems.append(f"x-mcp-header {name!r} at {where}: {bound} outside the safe integer range")
    return problems


def valid_x_mcp_header(input_schema: Any) -> bool:
    """True when every ``x-mcp-header`` in ``input_schema`` is valid (CLI-HDR-04)."""
    return not x_mcp_header_problems(input_schema)


def x_mcp_headers(input_schema: Any) -> dict[str, tuple[str, ...]]:
    """``{header suffix: argument path}`` for a valid schema; ``ValueError`` lists the problems."""
    problems = x_mcp_header_problems(input_schema)
    if problems:
        raise ValueError("; ".join(problems))
    found: list[Any] = []
    _walk(input_schema, (), True, found, [])
    return {name: path for name, path, _ in found}


def param_headers_from_tools(tools: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, tuple[str, ...]]]:
    """The ``param_headers`` argument of :func:`classify`, built from a ``tools/list`` result's tools.

    Tools whose annotations are invalid are left out (a conformant client
    excludes them too, so it never calls them with headers).
    """
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for tool in tools:
        name = tool.get("name")
        if not isinstance(name, str):
            continue
        try:
            headers = x_mcp_headers(tool.get("inputSchema") or {})
        except ValueError:
            continue
        if headers:
            out[name] = headers
    return out


# --- the classifier -------------------------------------------------------------------

_MISSING = object()


def _fields(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """Lower-cased names (HDR-04) -> value; repeats joined with ``, `` (so a
    repeated Mcp-Method can never equal a method name)."""
    f: dict[bytes, bytes] = {}
    for name, value in headers:
        if type(name) is not bytes:
            name = _as_bytes(name)
        if type(value) is not bytes:
            value = _as_bytes(value)
        n = name.lower()
        prev = f.get(n)
        f[n] = value if prev is None else prev + b", " + value
    return f


def _as_bytes(v: Any) -> bytes:
    # Adapters give bytes; a caller passing str (or a bytearray) is served too.
    # UTF-8 keeps non-ASCII visible as bytes > 0x7E, which the checks refuse.
    if isinstance(v, str):
        return v.encode("utf-8", "surrogatepass")
    try:
        return bytes(v)
    except Exception:  # noqa: BLE001 - never raise on peer input
        return str(v).encode("utf-8", "surrogatepass")


def _lookup(arguments: Any, path: Sequence[str] | str) -> Any:
    if isinstance(path, str):
        path = (path,)
    node = arguments
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


def _has_caps(declared: Any, required: Any) -> bool:
    """Does ``declared`` (ClientCapabilities) include everything in ``required``?"""
    if not isinstance(required, dict):
        return True
    if not isinstance(declared, dict):
        return False
    for key, sub in required.items():
        if key not in declared:
            return False
        if isinstance(sub, dict) and sub and not _has_caps(declared[key], sub):
            return False
    return True


def _supported_list(modern: Sequence[str], legacy: Sequence[str]) -> list[str]:
    # Newest first, as in the versioning.mdx example (["2026-07-28", "2025-11-25"]).
    return served_versions(list(legacy), list(modern))


def _show(raw: bytes) -> str:
    return raw.decode("latin-1")


def classify(
    method: bytes,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes | None = None,
    *,
    supported_modern: Sequence[str] = MODERN_VERSIONS,
    supported_legacy: Sequence[str] = LEGACY_VERSIONS,
    param_headers: Mapping[str, Mapping[str, Sequence[str] | str]] | None = None,
    required_capabilities: Mapping[str, Mapping[str, Any]] | None = None,
    tool_capabilities: Mapping[str, Mapping[str, Any]] | None = None,
) -> Verdict:
    """Decide the era of one HTTP request and check its modern headers (module docstring).

    (Long on purpose: the steps are a first-match-wins list in the order of
    SRV-COMPAT-08, each an early return; split up, the order would no longer
    be visible in one place.)

    ``method`` is the HTTP method; ``headers`` the header fields (names in any
    case); ``body`` the whole POST body, or None to decide from the head alone.
    ``param_headers`` maps a tool name to ``{header suffix: argument path}``
    (see :func:`param_headers_from_tools`): without it ``Mcp-Param-*`` headers
    are not checked. ``required_capabilities`` maps a method to the
    ClientCapabilities it needs, ``tool_capabilities`` a tool name to those
    its ``tools/call`` needs (-32021 when undeclared). Never raises for any
    peer input.
    """
    if isinstance(method, str):
        method = method.encode("latin-1")
    f = _fields(headers)
    legacy_ok = bool(supported_legacy)

    # 1. methods (SRV-COMPAT-06, SRV-GET-08, HTTP-01)
    if method == b"GET" or method == b"DELETE":
        if legacy_ok:
            return Verdict("legacy", _legacy_version(f, supported_legacy), body_checked=body is not None)
        return Verdict(
            "legacy", None, 405, -32000, "Method not allowed: this server speaks only "
            + ", ".join(supported_modern) + " (POST)", headers=_ALLOW_MODERN,
        )
    if method != b"POST":
        return Verdict(
            None, None, 405, -32000, "Method not allowed",
            headers=_ALLOW_BOTH if legacy_ok else _ALLOW_MODERN,
        )

    hv_raw = f.get(b"mcp-protocol-version")
    hv = hv_raw.decode("latin-1") if hv_raw is not None else None
    has_session = b"mcp-session-id" in f

    if body is None:
        return _from_head(f, hv, has_session, supported_modern, supported_legacy)

    if legacy_ok and _plainly_legacy(body, hv, has_session, supported_modern, supported_legacy):
        return Verdict("legacy", hv, body_checked=True)

    # 2-3. the body
    try:
        parsed = _jr.parse(body, allow_batch=True)
    except JsonRpcDecodeError as exc:
        era = _head_era(hv, has_session, supported_modern, supported_legacy)
        if era == "legacy":
            return Verdict("legacy", hv, body_checked=True)  # the legacy server answers it its own way
        return Verdict(era, hv, exc.status_hint, exc.code_hint, str(exc) or "Parse error", body_checked=True)
    except Exception as exc:  # noqa: BLE001 - never raise on peer input
        return Verdict(None, hv, 400, _jr.PARSE_ERROR, f"Parse error: {exc}", body_checked=True)
    if parsed.is_batch:
        if legacy_ok and (hv is None or hv in supported_legacy):
            return Verdict("legacy", hv, body_checked=True)
        return Verdict(
            "modern" if not legacy_ok or hv in supported_modern else None, hv, 400, _jr.INVALID_REQUEST,
            "Invalid Request: a POST body is exactly one JSON-RPC message", body_checked=True,
        )
    msg = parsed.messages[0]
    t = type(msg)
    meta = _meta(msg)
    modern_body = meta is not None and META_PROTOCOL_VERSION in meta
    if t is _jr.Request and msg.method == "initialize" and not modern_body:
        if legacy_ok:
            return Verdict("legacy", hv, message_obj=msg, body_checked=True)
        # SRV-COMPAT-07: a modern-only server names its versions in the error.
        params = msg.params if isinstance(msg.params, dict) else {}
        requested = params.get("protocolVersion")
        return Verdict(
            "legacy", hv, 400, UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version: this server has no initialize handshake; it speaks "
            + ", ".join(supported_modern),
            {"supported": _supported_list(supported_modern, ()),
             "requested": requested if isinstance(requested, str) else (hv or "")},
            request_id=msg.id, message_obj=msg, body_checked=True,
        )
    if not modern_body:
        era = _head_era(hv, has_session, supported_modern, supported_legacy)
        if era == "legacy" or (era is None and legacy_ok):
            return Verdict("legacy", hv, message_obj=msg, body_checked=True)
        # Else a modern header (or a modern-only server): the modern checks
        # reject it (the body lacks the _meta its header promises).
    return _check_modern(
        f, hv, msg, meta, supported_modern, supported_legacy, param_headers, required_capabilities,
        tool_capabilities,
    )


def _meta(msg: Any) -> dict[str, Any] | None:
    params = getattr(msg, "params", None)
    if type(params) is dict:
        meta = params.get("_meta")
        if type(meta) is dict:
            return meta
    return None


def _legacy_version(f: dict[bytes, bytes], legacy: Sequence[str]) -> str | None:
    hv = f.get(b"mcp-protocol-version")
    return hv.decode("latin-1") if hv is not None else None


def _plainly_legacy(body: bytes, hv: str | None, has_session: bool, modern: Sequence[str],
                    legacy: Sequence[str]) -> bool:
    """The fast path for legacy traffic (classify's first step, and the endpoint's on the
    fields its head policy picked already): a body that neither contains the modern
    _meta key nor any backslash (so the key cannot hide behind a JSON escape such as
    "\\u0070") cannot be modern, and a head that does not claim modern means legacy.
    Two byte scans instead of a parse; the legacy server parses the body its own way."""
    return _META_KEY_BYTES not in body and b"\\" not in body and \
        _head_era(hv, has_session, modern, legacy) != "modern"


def _head_era(hv: str | None, has_session: bool, modern: Sequence[str], legacy: Sequence[str]) -> str | None:
    if hv is not None and hv in modern:
        return "modern"
    if has_session or (hv is not None and hv in legacy):
        return "legacy" if legacy else "modern"
    if hv is None:
        return "legacy" if legacy else "modern"
    return None  # a version nobody here knows


def _from_head(
    f: dict[bytes, bytes], hv: str | None, has_session: bool, modern: Sequence[str], legacy: Sequence[str]
) -> Verdict:
    """Step 4 of the module docstring, plus the checks a head alone allows."""
    if hv is not None and hv in modern:
        bad = _bad_standard_header(f)
        if bad is not None:
            return Verdict("modern", hv, 400, HEADER_MISMATCH, f"Header mismatch: invalid characters in {bad}")
        if b"mcp-method" not in f:
            return Verdict("modern", hv, 400, HEADER_MISMATCH, "Header mismatch: Mcp-Method header is required")
        return Verdict("modern", hv)
    if has_session or (hv is not None and hv in legacy):
        if legacy:
            return Verdict("legacy", hv)
        return Verdict("modern", hv, 400, HEADER_MISMATCH,
                       "Header mismatch: MCP-Protocol-Version must name a supported version")
    return Verdict(None, hv)  # no header (initialize? R1? a broken modern client?), or an unknown version


def _bad_standard_header(f: dict[bytes, bytes]) -> str | None:
    for name in (b"mcp-protocol-version", b"mcp-method", b"mcp-name"):
        v = f.get(name)
        if v is not None and not _field_chars_ok(v):
            return _show(name)
    return None


def _check_modern(
    f: dict[bytes, bytes],
    hv: str | None,
    msg: Any,
    meta: dict[str, Any] | None,
    modern: Sequence[str],
    legacy: Sequence[str],
    param_headers: Mapping[str, Mapping[str, Sequence[str] | str]] | None,
    required_caps: Mapping[str, Mapping[str, Any]] | None,
    tool_caps: Mapping[str, Mapping[str, Any]] | None = None,
) -> Verdict:
    # Long on purpose: one check per line of the spec's validation order
    # (module docstring), each an early return; the order is the behaviour.
    t = type(msg)
    rid = msg.id if t is _jr.Request or t is _jr.Invalid else None

    def reject(status: int, code: int, text: str, data: Any = None, version: str | None = hv) -> Verdict:
        return Verdict("modern", version, status, code, text, data, request_id=rid, message_obj=msg, body_checked=True)

    if t is _jr.Invalid:
        return reject(400, msg.code, msg.message)
    if t is _jr.Response or t is _jr.ErrorResponse:
        return reject(400, _jr.INVALID_REQUEST, "Invalid Request: a client never sends responses in 2026-07-28")  # SRV-POST-07
    bad = _bad_standard_header(f)
    if bad is not None:
        return reject(400, HEADER_MISMATCH, f"Header mismatch: invalid characters in {bad}")  # SRV-HDR-02
    body_version = meta.get(META_PROTOCOL_VERSION, _MISSING) if meta is not None else _MISSING
    if t is _jr.Notification:
        # SRV-POST-08: no header rules are defined for notification POSTs;
        # only a header that contradicts the body is refused.
        if hv is not None and body_version is not _MISSING and hv != body_version:
            return reject(400, HEADER_MISMATCH, _mismatch("MCP-Protocol-Version", hv, body_version))
        version = body_version if isinstance(body_version, str) else hv
        if version is not None and version not in modern:
            return reject(400, UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version",
                          {"supported": _supported_list(modern, legacy), "requested": version}, version)
        return Verdict("modern", version, message_obj=msg, body_checked=True)

    # A request from here on.
    if hv is None:  # SRV-VER-07, SRV-HDR-02
        return reject(400, HEADER_MISMATCH, "Header mismatch: MCP-Protocol-Version header is required")
    if body_version is _MISSING:
        # A request without _meta, or whose _meta lacks the version, is
        # malformed params (schema: RequestParams._meta is required), not a
        # header mismatch: -32602, as the conformance suite
        # (sep-2575-request-meta-invalid-*) and the Python SDK answer.
        where = "params._meta" if meta is None else f"_meta {META_PROTOCOL_VERSION}"
        return reject(400, _jr.INVALID_PARAMS, f"Invalid params: {where} is required in {hv}")
    if body_version != hv:  # SRV-VER-05
        return reject(400, HEADER_MISMATCH, _mismatch("MCP-Protocol-Version", hv, body_version))
    if hv not in modern:  # SRV-VER-06
        return reject(400, UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version",
                      {"supported": _supported_list(modern, legacy), "requested": hv})
    method_h = f.get(b"mcp-method")
    if method_h is None:
        return reject(400, HEADER_MISMATCH, "Header mismatch: Mcp-Method header is required")
    if _show(method_h) != msg.method:  # SRV-HDR-01, HDR-04 (values are case-sensitive)
        return reject(400, HEADER_MISMATCH, _mismatch("Mcp-Method", _show(method_h), msg.method))
    params = msg.params if type(msg.params) is dict else {}
    source = NAME_SOURCES.get(msg.method)
    if source is not None:
        name_h = f.get(b"mcp-name")
        if name_h is None:
            return reject(400, HEADER_MISMATCH, "Header mismatch: Mcp-Name header is required for " + msg.method)
        decoded = decode_header_value(name_h)
        if decoded is None:
            return reject(400, HEADER_MISMATCH, "Header mismatch: invalid Mcp-Name header value")
        body_name = params.get(source, _MISSING)
        if type(body_name) is not str or decoded != body_name:
            return reject(400, HEADER_MISMATCH, _mismatch("Mcp-Name", decoded, body_name))
    if param_headers is not None and msg.method == "tools/call":
        problem = _check_params(f, params, param_headers)
        if problem is not None:
            return reject(400, HEADER_MISMATCH, problem)
    caps = meta.get(META_CLIENT_CAPABILITIES, _MISSING) if meta is not None else _MISSING
    if type(caps) is not dict:
        return reject(400, _jr.INVALID_PARAMS,
                      f"Invalid params: _meta {META_CLIENT_CAPABILITIES} must be an object")
    need = required_caps.get(msg.method) if required_caps is not None else None
    what = msg.method
    if not need and tool_caps is not None and msg.method == "tools/call":
        tool = params.get("name")
        need = tool_caps.get(tool) if isinstance(tool, str) else None
        what = f"tool {tool}"
    if need and not _has_caps(caps, need):  # SRV-VER-11, sep-2575-server-rejects-undeclared-capability
        return reject(400, MISSING_REQUIRED_CLIENT_CAPABILITY,
                      f"Missing required client capability for {what}", {"requiredCapabilities": dict(need)})
    return Verdict("modern", hv, request_id=rid, message_obj=msg, body_checked=True)


def _mismatch(header: str, header_value: Any, body_value: Any) -> str:
    shown = "(absent)" if body_value is _MISSING else body_value
    return f"Header mismatch: {header} header value '{header_value}' does not match body value '{shown}'"


def _check_params(
    f: dict[bytes, bytes], params: dict[str, Any], param_headers: Mapping[str, Mapping[str, Sequence[str] | str]]
) -> str | None:
    """SRV-HDR-01/02/03 for the annotated parameters of one tools/call."""
    tool = params.get("name")
    annotated = param_headers.get(tool) if isinstance(tool, str) else None
    if not annotated:
        return None  # unrecognised Mcp-Param-* headers are ignored (INT-HDR-05)
    arguments = params.get("arguments")
    for suffix, path in annotated.items():
        hname = _PARAM_PREFIX + suffix.lower().encode("latin-1", "replace")
        raw = f.get(hname)
        value = _lookup(arguments, path)
        shown = "Mcp-Param-" + suffix
        if raw is None:
            if value is _MISSING or value is None:
                continue  # null or absent: no header expected
            return f"Header mismatch: {shown} header is required (the body has a value)"
        decoded = decode_header_value(raw)
        if decoded is None:
            return f"Header mismatch: invalid {shown} header value"
        if value is _MISSING or value is None:
            return _mismatch(shown, decoded, _MISSING)
        if not _header_matches(decoded, value):
            return _mismatch(shown, decoded, value)
    return None

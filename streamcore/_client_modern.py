"""The per-request era of the client (2026-07-28, "R4"): no session, every request self-describing.

* CLI-POST-07, CLI-VER-04, CLI-HDR-01/02: every POST carries
  ``MCP-Protocol-Version`` (equal to ``params._meta`` protocolVersion),
  ``Mcp-Method`` and, for ``tools/call``/``prompts/get``/``resources/read``,
  ``Mcp-Name``; ``_meta`` carries protocolVersion, clientCapabilities, clientInfo.
* CLI-HDR-03/04: ``tools/list`` results are filtered (invalid ``x-mcp-header``
  annotations drop the tool, with a warning); annotated arguments go into
  ``Mcp-Param-{Name}``. CLI-HDR-05: a 400 -32020 about them refreshes the list
  and retries the call once.
* CLI-RESUME-09 / CLI-SUB-06: a broken response stream is re-issued under a new
  id (``max_reissue_attempts``), never resumed with ``Last-Event-ID``.
* CLI-COMPAT-03..05, CLI-VER-09: ``era="auto"`` tries ``server/discover`` first;
  -32022 with ``data.supported`` listing a version we speak is retried once with
  it; non-modern answers fall back to ``initialize``; the era is cached per origin.
* JR-30: absent ``resultType`` is ``"complete"``; unknown values fail the request.
* SEP-2322 (MRTR): ``input_required`` results become :class:`InputRequired`;
  :meth:`answer_input` retries with ``inputResponses`` and ``requestState``.
* CANCEL-06: cancelling a modern request closes its stream.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from . import jsonrpc
from ._client_base import NOTIFY, _Exchange, _Machinery, _Pending
from ._client_types import (
    MODERN_ERROR_CODES,
    SUPPORTED_VERSIONS,
    ClientState,
    ConnectionLost,
    Headers,
    HttpStatusError,
    Initialized,
    InputRequired,
    RequestFailed,
    StreamProtocolError,
    _build,
)
from ._era import NAME_SOURCES, encode_header_value, x_mcp_header_problems, x_mcp_headers
from ._errors import LocalProtocolError, McpError
from ._protocol import (
    HEADER_MISMATCH,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_PROTOCOL_VERSION,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from ._versions import MODERN_VERSIONS

__all__ = ["_ModernEra"]

_log = logging.getLogger("streamcore.client")
#: resultType values this client understands (JR-30); anything else is invalid.
_RESULT_TYPES = frozenset({"complete", "input_required"})
_ACCEPT = b"application/json, text/event-stream"


def _param_headers(annotated: dict[str, tuple[str, ...]], arguments: Any) -> Headers:
    """CLI-HDR-03: ``Mcp-Param-{Name}`` for each annotated argument that has a value."""
    out: Headers = []
    for suffix, path in annotated.items():
        node = arguments
        for key in path:
            if not isinstance(node, dict) or key not in node:
                node = None
                break
            node = node[key]
        if node is None:
            continue  # null or absent: no header
        if isinstance(node, float) and node.is_integer():
            node = int(node)  # 42.0 is the integer 42 (SRV-HDR-03's mirror)
        try:
            out.append((f"mcp-param-{suffix}".lower().encode("ascii"), encode_header_value(node).encode("ascii")))
        except (TypeError, ValueError):
            continue  # no header form (object, fraction, out of range): the server will say
    return out


def _about_params(message: str, data: Any) -> bool:
    """Is a -32020 about ``Mcp-Param-*`` (CLI-HDR-05)? Yes when it says so, and when it names
    none of the standard headers (which this client derives from the body, so they cannot
    disagree with it): servers word the message freely."""
    text = (message + " " + repr(data)).lower()
    if "mcp-param" in text:
        return True
    return not any(h in text for h in ("mcp-name", "mcp-method", "mcp-protocol-version"))


def _mutual(data: Any) -> tuple[list[str], list[str]]:
    """The modern and the session-era versions of a -32022's ``data.supported`` we speak."""
    supported = data.get("supported") if isinstance(data, dict) else None
    if not isinstance(supported, list):
        return [], []
    return [v for v in MODERN_VERSIONS if v in supported], [v for v in SUPPORTED_VERSIONS if v in supported]


class _ModernEra(_Machinery):
    """server/discover, request metadata, x-mcp-header, re-issue, MRTR."""

    #: CLI-HDR-03: tool name -> {header suffix: argument path}, from tools/list results
    tool_headers: dict[str, dict[str, tuple[str, ...]]]
    #: CLI-HDR-04: tools left out of tools/list results, name -> problems
    excluded_tools: dict[str, list[str]]

    # -- discovery ---------------------------------------------------------------

    def _start_discover(self, now: float, prev: _Pending | None = None, version: str | None = None) -> int:
        """POST ``server/discover`` in the modern form (CLI-COMPAT-03: the modern request first)."""
        self.state = ClientState.DISCOVERING
        self.session_id = None
        self.protocol_version = None
        rid = next(self._ids) if prev is None else prev.id
        t = self.config.request_timeout
        deadline = (None if t is None else now + t) if prev is None else prev.deadline
        p = _Pending(rid, "server/discover", {}, deadline, True)
        p.version = version or self.config.modern_version
        if prev is not None:
            p.version_retry = prev.version_retry
            p.modern = prev.modern  # a retry of a posted discover goes out under a new wire id
            p.wire = prev.wire
        self._pending[rid] = p
        self._init_id = rid
        if prev is None:
            self._deadline(p)
        self._post_modern(p)
        return rid

    def _discovered(self, p: _Pending, result: Any, error: Exception | None, now: float) -> None:
        auto = self.config.era == "auto"
        if error is not None:
            if auto and isinstance(error, McpError) and error.code not in MODERN_ERROR_CODES:
                self._fall_back(p, now)  # a JSON-RPC error at 2xx that no modern server sends to discover
                return
            self._init_failed(error)
            self._events.append(_build(RequestFailed, rid=p.id, error=error))
            return
        version = p.version or self.config.modern_version
        supported = result.get("supportedVersions") if isinstance(result, dict) else None
        if auto and not isinstance(supported, list):
            # a DiscoverResult always lists supportedVersions; a 2xx without it is a session-era
            # server answering any request with a result (the default era must not be fooled)
            self._fall_back(p, now)
            return
        if isinstance(supported, list) and version not in supported:
            modern, legacy = _mutual({"supported": supported})
            if modern and not p.version_retry:
                p.version_retry = True
                self._start_discover(now, p, modern[0])
                return
            if auto and legacy:
                self._legacy_version = legacy[-1]
                self._fall_back(p, now)
                return
            err = StreamProtocolError(f"server supports none of our versions: {supported!r}")
            self._init_failed(err)
            self._events.append(_build(RequestFailed, rid=p.id, error=err))
            return
        self._modern_ready(version, result)

    def _modern_ready(self, version: str, result: dict[str, Any]) -> None:
        self.state = ClientState.MODERN
        self.era = "modern"
        self.protocol_version = version
        self.server_result = result
        self._ever_ready = True
        self._init_id = None
        if self.config.era == "auto":
            self._era_cache.set(self.config.url, "modern")
        self._events.append(_build(Initialized, session_id=None, protocol_version=version, result=result,
                                   legacy=False, era="modern"))
        queued, self._queued = self._queued, []
        for kind, item in queued:
            if kind == "request":
                q = self._pending.get(item)
                if q is not None:
                    self._post_modern(q)
            elif kind == "notify":
                self._post_modern_notification(*item)
            # pre-encoded session-era messages (responses) have no modern form (CLI-POST-05)

    _legacy_version: str = ""

    if TYPE_CHECKING:  # the session part (_client_session) defines it
        def _start_initialize(self, now: float, prev: _Pending | None = None) -> int: ...

    def _fall_back(self, p: _Pending, now: float) -> None:
        """CLI-COMPAT-03/04: not a modern server; run ``initialize`` under the same request id."""
        self._pending.pop(p.id, None)
        self.stats["fallbacks"] += 1
        if self.config.era == "auto":
            self._era_cache.set(self.config.url, "legacy")
        self._start_initialize(now, p)

    # -- requests built -------------------------------------------------------------

    def _meta(self, params: Any, version: str, info: bool) -> dict[str, Any]:
        out = dict(params) if isinstance(params, dict) else {}
        meta = dict(out.get("_meta") or {})
        meta[META_PROTOCOL_VERSION] = version  # spec 5.2 (R4 RequestMetaObject)
        meta[META_CLIENT_CAPABILITIES] = self.config.capabilities
        if info:
            meta[META_CLIENT_INFO] = self.config.client_info
        out["_meta"] = meta
        return out

    def _modern_headers(self, method: str, params: Any, version: str) -> Headers:
        """CLI-POST-07: the request-metadata headers (CLI-VER-04, CLI-HDR-01/02/03)."""
        h: Headers = [(b"accept", _ACCEPT), (b"content-type", b"application/json"),
                      (b"mcp-protocol-version", version.encode("ascii")), (b"mcp-method", method.encode("latin-1"))]
        src = NAME_SOURCES.get(method)
        if src is not None and isinstance(params, dict):
            name = params.get(src)
            if isinstance(name, str):
                h.append((b"mcp-name", encode_header_value(name).encode("ascii")))  # CLI-HDR-02
                if method == "tools/call":
                    annotated = self.tool_headers.get(name)
                    if annotated:
                        h.extend(_param_headers(annotated, params.get("arguments")))
        h.extend(self._extra)  # AUTH-01
        return h

    def _modern_parts(self, p: _Pending) -> tuple[str, Headers, bytes]:
        version = p.version if p.version is not None else (self.protocol_version or self.config.modern_version)
        if p.modern:  # a re-issue or retry: a new request, a new id (CLI-RESUME-09, SEP-2322)
            self._alias.pop(p.wire, None)
            p.wire = next(self._ids)
            self._alias[p.wire] = p.id
        p.modern = True
        body = jsonrpc.encode_request(p.wire, p.method, self._meta(p.params, version, True))
        return self.config.url, self._modern_headers(p.method, p.params, version), body

    def _post_modern(self, p: _Pending) -> None:
        self._post(p, modern=True)  # also before the state is MODERN (server/discover)

    def _post_modern_notification(self, method: str, params: Any) -> None:
        version = self.protocol_version or self.config.modern_version
        params = self._meta(params, version, False)
        ex = self._new(NOTIFY)
        self._issue(ex, "POST", self.config.url, self._modern_headers(method, params, version),
                    jsonrpc.encode_notification(method, params))

    # -- results --------------------------------------------------------------------

    def _check_result(self, p: _Pending, result: Any) -> tuple[Any, Exception | None]:
        """JR-30: resultType absent -> "complete"; unknown -> invalid. CLI-HDR-04 for tools/list."""
        if not isinstance(result, dict):
            return None, StreamProtocolError(f"{p.method}: the result is not an object")
        rt = result.get("resultType", "complete")
        if rt not in _RESULT_TYPES:
            return None, StreamProtocolError(f"{p.method}: unknown resultType {rt!r} (JR-30)")
        if p.method == "tools/list" and isinstance(result.get("tools"), list):
            result = self._filter_tools(result)
        return result, None

    def _filter_tools(self, result: dict[str, Any]) -> dict[str, Any]:
        kept = []
        for tool in result["tools"]:
            if not isinstance(tool, dict):
                continue
            name = tool.get("name")
            problems = x_mcp_header_problems(tool.get("inputSchema") or {})
            if problems:  # CLI-HDR-04: MUST exclude, SHOULD warn
                _log.warning("tool %r excluded: invalid x-mcp-header: %s", name, "; ".join(problems))
                if isinstance(name, str):
                    self.excluded_tools[name] = problems
                    self.tool_headers.pop(name, None)
                continue
            if isinstance(name, str):
                self.excluded_tools.pop(name, None)
                headers = x_mcp_headers(tool.get("inputSchema") or {})
                if headers:
                    self.tool_headers[name] = headers
                else:
                    self.tool_headers.pop(name, None)
            kept.append(tool)
        if len(kept) == len(result["tools"]):
            return result
        return dict(result, tools=kept)

    # -- MRTR (SEP-2322) -------------------------------------------------------------

    def _input_required(self, p: _Pending, result: dict[str, Any], now: float) -> None:
        """Keep the request, ask the caller for the inputs (or, with state only, retry after
        a backoff); bounded in rounds and in requests per round."""
        p.rounds += 1
        requests = result.get("inputRequests")
        state = result.get("requestState")
        problem = None
        if p.rounds > self.config.max_input_rounds:
            problem = f"more than max_input_rounds={self.config.max_input_rounds} input rounds"
        elif state is not None and not isinstance(state, str):
            problem = "requestState is not a string"
        elif requests is not None and (not isinstance(requests, dict) or not all(
                isinstance(k, str) and isinstance(r, dict) and isinstance(r.get("method"), str)
                for k, r in requests.items())):
            problem = "inputRequests is not an object of {method, params} requests"
        elif requests is not None and len(requests) > self.config.max_input_requests:
            problem = f"more than max_input_requests={self.config.max_input_requests} input requests"
        elif not requests and state is None:
            problem = "an input_required result with neither inputRequests nor requestState"
        if problem is not None:
            self._events.append(_build(RequestFailed, rid=p.id, error=StreamProtocolError(f"{p.method}: {problem}")))
            return
        self._pending[p.id] = p
        p.request_state = state
        if requests:
            p.awaiting = frozenset(requests)
            self._events.append(_build(InputRequired, rid=p.id, requests=dict(requests)))
            return
        # state only: the server is not done; ask again after a growing delay (50 ms .. 250 ms,
        # as the official Python SDK's driver does)
        delay = min(0.25, 0.05 * 2 ** (p.rounds - 1))
        rid = p.id

        def retry(n: float) -> None:
            self._retry_input(rid, None)

        self._at(now + delay, retry)

    def answer_input(self, rid: int, responses: dict[str, Any], *, now: float) -> None:
        """Answer every input of an :class:`InputRequired` (key -> the result a server-request
        handler would return) and retry the request under a new id (SEP-2322)."""
        p = self._pending.get(rid) if type(rid) is int else None
        if p is None or p.awaiting is None:
            raise LocalProtocolError(f"request {rid!r} is not waiting for input")
        if not isinstance(responses, dict) or set(responses) != p.awaiting:
            raise LocalProtocolError(f"responses must answer exactly the keys {sorted(p.awaiting)}")
        p.awaiting = None
        self._retry_input(rid, responses)

    def _retry_input(self, rid: int, responses: dict[str, Any] | None) -> None:
        p = self._pending.get(rid)
        if p is None or self.state is not ClientState.MODERN:
            return
        params = dict(p.base_params) if isinstance(p.base_params, dict) else {}
        if responses is not None:
            params["inputResponses"] = responses
        if p.request_state is not None:
            params["requestState"] = p.request_state  # byte-exact, never inspected
        p.params = params
        p.reissues = 0
        self._post(p)

    # -- error statuses ------------------------------------------------------------

    def _modern_recover(self, ex: _Exchange, p: _Pending, status: int, err: tuple[int, str, Any] | None,
                        now: float) -> bool:
        """Per request: the retries of CLI-HDR-05, CLI-VER-09 and the discover decision table;
        True when ``p`` lives on."""
        if p.internal and p.method == "server/discover":
            self._discover_rejected(p, status, err, now)
            return True
        if err is None:
            if status in (400, 404, 405) and self.config.era == "auto":
                self._era_cache.forget(self.config.url)  # CLI-COMPAT-05: re-probe next time
            return False
        code, message, data = err
        if code == HEADER_MISMATCH and p.method == "tools/call" and not p.hdr_retry and _about_params(message, data):
            p.hdr_retry = True  # CLI-HDR-05: refresh tools/list, retry once
            self._refresh_tools(p, now)
            return True
        if code == UNSUPPORTED_PROTOCOL_VERSION and not p.version_retry:
            modern, _ = _mutual(data)
            if modern:  # a version we speak, even the one sent: one retry is bounded
                p.version_retry = True
                p.version = modern[0]
                self._post(p)
                return True
        return False

    def _discover_rejected(self, p: _Pending, status: int, err: tuple[int, str, Any] | None, now: float) -> None:
        """The decision table of CLI-COMPAT-03/04 and CLI-VER-09 for the first modern request."""
        if err is not None and err[0] in MODERN_ERROR_CODES:
            code, message, data = err
            if code == UNSUPPORTED_PROTOCOL_VERSION and not p.version_retry:
                modern, legacy = _mutual(data)
                if modern:
                    p.version_retry = True
                    self._pending.pop(p.id, None)
                    self._start_discover(now, p, modern[0])
                    return
                if legacy and self.config.era == "auto":
                    self._legacy_version = legacy[-1]
                    self._fall_back(p, now)
                    return
            e = McpError(code, message, data)
            e.http_status = status
            self._fail(p.id, e, now)
            return
        if self.config.era == "auto" and status in (400, 404, 405):
            self._fall_back(p, now)  # empty or unrecognised body: a session-era server
            return
        self._fail(p.id, HttpStatusError(status, b"", "server/discover failed"), now)

    def _refresh_tools(self, call: _Pending, now: float) -> None:
        self.stats["tool_refreshes"] += 1
        t = self.config.request_timeout
        q = _Pending(next(self._ids), "tools/list", {}, None if t is None else now + t, True)
        q.then = call.id
        self._pending[q.id] = q
        self._deadline(q)
        self._post(q)

    def _refreshed(self, q: _Pending, error: Exception | None, now: float) -> None:
        call = self._pending.get(q.then) if q.then is not None else None
        if call is None:
            return
        if error is not None:
            self._fail(call.id, error, now)
        elif self.state is ClientState.MODERN:
            self._post(call)  # with the refreshed Mcp-Param-* headers, under a new id

    # -- broken streams --------------------------------------------------------------

    def _reissue(self, ex: _Exchange, rids: list[int], err: Exception, now: float, fatal: bool) -> None:
        """CLI-RESUME-09 (and CLI-SUB-06): a broken modern stream is re-issued under a new id."""
        for rid in rids:
            p = self._pending[rid]
            p.reissues += 1
            if fatal or p.reissues > self.config.max_reissue_attempts:
                e = err if fatal else ConnectionLost(f"{p.method}: the response stream broke {p.reissues} times: {err}")
                self._fail(rid, e, now)
                continue
            self.stats["reissues"] += 1
            if p.reissues == 1:
                self._post(p)
                continue

            def again(n: float, rid: int = rid) -> None:
                q = self._pending.get(rid)
                if q is not None and self.state in (ClientState.MODERN, ClientState.DISCOVERING):
                    self._post_modern(q)

            self._at(now + self._delay(None, p.reissues - 1), again)

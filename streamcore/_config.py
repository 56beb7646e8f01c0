"""The server core's configuration: one :class:`ServerConfig` for the endpoint and
the knobs both eras share, and :class:`ModernConfig` for what only the
per-request era (2026-07-28) has.

The common knobs (``omit_null_id``, ``heartbeat_interval``, the head policy,
``authenticate``, ``max_body_size``, ...) live in :class:`ServerConfig` only,
so they act the same in both eras.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping

from ._errors import LocalProtocolError
from ._headers import Headers
from ._results import discover_result
from ._store import EventStore
from ._versions import LEGACY_VERSIONS, MODERN_VERSIONS, served_versions

__all__ = [
    "ServerConfig",
    "ModernConfig",
    "ListenSupport",
    "LISTEN_FILTERS",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_SESSION_IDLE_TIMEOUT",
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_MAX_QUEUED_BYTES",
    "DEFAULT_MAX_STREAMS_PER_SESSION",
    "DEFAULT_MAX_LISTEN_QUEUE_BYTES",
    "DEFAULT_MAX_LISTENS",
    "DEFAULT_MAX_CANCELLED",
    "DEFAULT_ENDPOINT_PATHS",
    "DEFAULT_SSE_MESSAGES_PATH",
    "LOOPBACK_HOSTS",
]

#: 4 MiB, the Python SDK's limit for a POST body.
DEFAULT_MAX_BODY_SIZE = 4 * 1024 * 1024
#: Live sessions at once; the next initialize gets 503.
DEFAULT_MAX_SESSIONS = 10_000
#: Idle seconds (no request, no attached stream) before a session expires.
DEFAULT_SESSION_IDLE_TIMEOUT = 30 * 60.0
#: Seconds of silence before an SSE comment keep-alive (WHATWG 9.2.7: ~15 s), both eras.
DEFAULT_HEARTBEAT_INTERVAL = 15.0
#: Bytes of server-to-client messages a session may queue while no stream can
#: carry them (AMB-14); past that, ``notify``/``send_request`` raise QueueFull.
DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024
#: Finished POST streams a session remembers for resumption; oldest forgotten first.
DEFAULT_MAX_STREAMS_PER_SESSION = 1024
#: Bytes a listen stream may hold while its connection is paused. 1 MiB,
#: the session era's bound for undeliverable messages (AMB-14).
DEFAULT_MAX_LISTEN_QUEUE_BYTES = 1024 * 1024
#: Concurrent listen streams; the next listen gets an error (-32000, HTTP 503).
DEFAULT_MAX_LISTENS = 10_000
#: Cancelled requests remembered so that a late answer is ignored (CANCEL-05)
#: rather than refused as a second answer; the oldest is forgotten first.
DEFAULT_MAX_CANCELLED = 4096
#: The path the endpoint serves by default (every SDK's and the spec's examples).
DEFAULT_ENDPOINT_PATHS: tuple[str, ...] = ("/mcp",)
#: The POST path of the deprecated HTTP+SSE transport (the official SDKs' default).
DEFAULT_SSE_MESSAGES_PATH = "/messages/"
#: Host and Origin names accepted by default: right for a server bound to loopback.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})

#: Notification method -> the filter field that opts in to it (schema ``SubscriptionFilter``).
LISTEN_FILTERS: Mapping[str, str] = {
    "notifications/tools/list_changed": "toolsListChanged",
    "notifications/prompts/list_changed": "promptsListChanged",
    "notifications/resources/list_changed": "resourcesListChanged",
    "notifications/resources/updated": "resourceSubscriptions",
}


@dataclass(frozen=True, slots=True)
class ListenSupport:
    """Which listen filter fields this server honours (the acknowledgment's subset)."""

    tools_list_changed: bool = True
    prompts_list_changed: bool = True
    resources_list_changed: bool = True
    resource_subscriptions: bool = True

    def grant(self, requested: Mapping[str, Any]) -> dict[str, Any]:
        """The acknowledged filter: what was requested and is supported, in valid form."""
        out: dict[str, Any] = {}
        for key, on in (("toolsListChanged", self.tools_list_changed),
                        ("promptsListChanged", self.prompts_list_changed),
                        ("resourcesListChanged", self.resources_list_changed)):
            if on and requested.get(key) is True:
                out[key] = True
        uris = requested.get("resourceSubscriptions")
        if self.resource_subscriptions and isinstance(uris, list):
            kept = [u for u in uris if isinstance(u, str)]
            if kept:
                out["resourceSubscriptions"] = kept
        return out


@dataclass(slots=True)
class ModernConfig:
    """What only the per-request era (2026-07-28) has.

    ``reply_mode``: ``"auto"`` (JSON unless a related notification comes
    first), ``"sse"`` (always stream) or ``"json"`` (never stream).
    ``add_result_type``: complete results for the era (``resultType``, and
    ``ttlMs``/``cacheScope`` on cacheable results: see
    :func:`streamcore.server.complete_result_for_era`).
    """

    supported_versions: tuple[str, ...] = MODERN_VERSIONS
    reply_mode: str = "auto"
    listen_support: ListenSupport = field(default_factory=ListenSupport)
    max_listen_queue_bytes: int = DEFAULT_MAX_LISTEN_QUEUE_BYTES
    max_listens: int = DEFAULT_MAX_LISTENS
    add_result_type: bool = True
    #: Extra notification method -> filter field, for extensions' listen types.
    extra_listen_filters: Mapping[str, str] = field(default_factory=dict)
    #: A prepared ``server/discover`` result: when set, the core answers
    #: ``server/discover`` itself (SRV-VER-10) and the application never sees
    #: it. ``ServerConfig(server_info=...)`` fills it in.
    discover: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.reply_mode not in ("auto", "sse", "json"):
            raise LocalProtocolError("reply_mode is 'auto', 'sse' or 'json'")
        if self.max_listen_queue_bytes < 0 or self.max_listens < 0:
            raise LocalProtocolError("limits must be >= 0")


@dataclass(slots=True)
class ServerConfig:
    """Every knob of the server core, with its default (both eras unless noted).

    ``allowed_hosts`` / ``allowed_origins``: host names (no port) accepted in
    ``Host`` and in ``Origin``. The default, the loopback names, is right for a
    server bound to loopback (SEC-04, SEC-06); behind a proxy, list the public
    names, or pass ``None`` to switch the check off.
    """

    #: Session era: answer POSTs with one JSON body instead of an SSE stream.
    json_response: bool = False
    enable_get: bool = True
    enable_delete: bool = True
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    max_sessions: int = DEFAULT_MAX_SESSIONS
    session_idle_timeout: float = DEFAULT_SESSION_IDLE_TIMEOUT
    #: SSE keep-alive comments on quiet streams, both eras; None: none at all.
    heartbeat_interval: float | None = DEFAULT_HEARTBEAT_INTERVAL
    max_queued_bytes: int = DEFAULT_MAX_QUEUED_BYTES
    max_streams_per_session: int = DEFAULT_MAX_STREAMS_PER_SESSION
    event_store: EventStore | None = None
    #: ``retry`` (ms) sent with the priming event and before a polling close.
    retry_ms: int | None = None
    #: R3 polling (SRV-SSE-09): close each SSE connection right after priming;
    #: the client comes back with GET + Last-Event-ID. Needs an event store.
    close_after_priming: bool = False
    allowed_hosts: Collection[str] | None = LOOPBACK_HOSTS
    allowed_origins: Collection[str] | None = LOOPBACK_HOSTS
    #: ``authenticate(headers) -> identity``; None (the return value) means 401. It may raise a
    #: RemoteProtocolError with ``status_hint`` and ``headers`` (streamcore.auth.BearerAuth: 401/403 + challenge).
    authenticate: Callable[[Headers], Any] | None = None
    www_authenticate: bytes = b"Bearer"
    #: Several standalone GET streams per session: False answers 409 (AMB-07).
    allow_concurrent_get: bool = False
    #: Omit ``"id"`` instead of ``"id": null`` in error bodies (AMB-03), both eras.
    omit_null_id: bool = False
    supported_versions: tuple[str, ...] = LEGACY_VERSIONS
    #: The per-request era (2026-07-28) on the same endpoint (SRV-COMPAT-08);
    #: None serves the session era only.
    modern: ModernConfig | None = field(default_factory=ModernConfig)
    #: False makes a modern-only server: GET and DELETE get 405 with
    #: ``Allow: POST`` and ``initialize`` gets 400 -32022 (SRV-COMPAT-06/07).
    legacy: bool = True
    #: For the era classifier: tool name -> {Mcp-Param-* suffix: argument path}
    #: (``streamcore.era.param_headers_from_tools``), and method -> client
    #: capabilities it requires (-32021 when undeclared).
    param_headers: Any = None
    required_capabilities: Any = None
    #: Tool name -> ClientCapabilities its ``tools/call`` needs (2026-07-28:
    #: -32021 with HTTP 400 when the request did not declare them).
    tool_capabilities: Any = None
    #: Declared server information (``{"name", "version"}``). When set, the
    #: per-request era's ``server/discover`` is answered by the core from it,
    #: ``capabilities`` and ``instructions``, listing every served version.
    server_info: Any = None
    capabilities: Any = None
    instructions: str | None = None
    #: Request paths this endpoint serves (RFC 9112 3.2: origin-form or the
    #: path of an absolute-form target; the query is ignored). Anything else
    #: gets 404. None serves every path (an adapter that routes by itself).
    endpoint_paths: Collection[str] | None = DEFAULT_ENDPOINT_PATHS
    #: Live sessions one client may hold (per identity when ``authenticate``
    #: is set, else per client address as the adapter passes it to
    #: ``receive_request(client=...)``); the next initialize gets 429. None
    #: (the default) is no quota: behind a proxy every client shares the
    #: proxy's address, so the adapter must pass the forwarded address.
    max_sessions_per_client: int | None = None
    #: See DEFAULT_MAX_CANCELLED.
    max_cancelled: int = DEFAULT_MAX_CANCELLED
    #: The deprecated HTTP+SSE transport (2024-11-05, spec L0) beside this
    #: endpoint: GET on ``sse_path`` (the official SDKs use ``"/sse"``) opens
    #: a session's stream, whose first event names ``sse_messages_path`` (with
    #: ``?session_id=``) for the client's POSTs. None (the default): not served.
    #: Both are full request paths, matched before ``endpoint_paths``.
    sse_path: str | None = None
    sse_messages_path: str = DEFAULT_SSE_MESSAGES_PATH

    def __post_init__(self) -> None:
        if self.close_after_priming and self.event_store is None:
            raise LocalProtocolError("close_after_priming needs an event_store to resume from")
        for name in ("max_body_size", "max_sessions", "max_queued_bytes", "max_streams_per_session",
                     "max_cancelled"):
            if getattr(self, name) < 0:
                raise LocalProtocolError(f"{name} must be >= 0")
        if self.max_sessions_per_client is not None and self.max_sessions_per_client < 0:
            raise LocalProtocolError("max_sessions_per_client must be >= 0 or None")
        if self.heartbeat_interval is not None and self.heartbeat_interval <= 0:
            raise LocalProtocolError("heartbeat_interval must be > 0 or None")
        if self.sse_path is not None:
            for name in ("sse_path", "sse_messages_path"):
                p = getattr(self, name)
                if not isinstance(p, str) or not p.startswith("/") or "?" in p or "#" in p or not p.isascii():
                    raise LocalProtocolError(f"{name} must be an absolute ASCII path without query, not {p!r}")
            if self.sse_path == self.sse_messages_path:
                raise LocalProtocolError("sse_path and sse_messages_path must differ")
            if self.endpoint_paths is not None and {self.sse_path, self.sse_messages_path} & set(self.endpoint_paths):
                raise LocalProtocolError("sse_path and sse_messages_path must not be paths of the MCP endpoint")
        if not self.legacy and self.modern is None:
            raise LocalProtocolError("a server needs at least one era (legacy or modern)")
        if not self.legacy:
            self.enable_get = self.enable_delete = False
        if self.server_info is not None and self.modern is not None and self.modern.discover is None:
            self.modern = dataclasses.replace(self.modern, discover=discover_result(
                self.served_versions, self.capabilities, server_info=self.server_info,
                instructions=self.instructions,
            ))

    @property
    def served_versions(self) -> list[str]:
        """Every version this endpoint serves, newest first (``data.supported`` of -32022)."""
        return served_versions(
            self.supported_versions if self.legacy else (),
            self.modern.supported_versions if self.modern is not None else (),
        )

"""The one table of MCP protocol revisions streamcore speaks.

Every module that names a version reads it from here (the server's two era
cores, the classifier, the client). Two eras share the endpoint (spec 1.1):

* the *session era* (``initialize`` handshake, ``Mcp-Session-Id``):
  2025-03-26, 2025-06-18, 2025-11-25 over Streamable HTTP;
* the *per-request era* (``_meta`` on every request, no session): 2026-07-28.

This module imports nothing from streamcore: it is the bottom of the layers.
"""

from __future__ import annotations

__all__ = [
    "LEGACY_VERSIONS",
    "MODERN_VERSIONS",
    "ALL_VERSIONS",
    "LATEST_LEGACY_VERSION",
    "LATEST_MODERN_VERSION",
    "LATEST_VERSION",
    "DEFAULT_NEGOTIATED_VERSION",
    "CLIENT_LEGACY_VERSIONS",
    "served_versions",
]

#: Session-era (initialize handshake) Streamable HTTP revisions, oldest first.
LEGACY_VERSIONS: tuple[str, ...] = ("2025-03-26", "2025-06-18", "2025-11-25")
#: Per-request era revisions, newest first.
MODERN_VERSIONS: tuple[str, ...] = ("2026-07-28",)
#: Every revision the server core can serve, newest first (``data.supported``
#: of -32022 and ``server/discover``'s ``supportedVersions`` use this order,
#: as the ``versioning.mdx`` examples do).
ALL_VERSIONS: tuple[str, ...] = tuple(sorted(LEGACY_VERSIONS + MODERN_VERSIONS, reverse=True))
LATEST_LEGACY_VERSION: str = LEGACY_VERSIONS[-1]
LATEST_MODERN_VERSION: str = MODERN_VERSIONS[0]
#: The newest revision of all.
LATEST_VERSION: str = ALL_VERSIONS[0]
#: Assumed by a session-era server when a request carries no
#: ``MCP-Protocol-Version`` (SRV-VER-01, SRV-VER-07).
DEFAULT_NEGOTIATED_VERSION: str = "2025-03-26"
#: What a client may negotiate in a handshake: the session-era revisions plus
#: 2024-11-05, whose servers answer an ``initialize`` the same way.
CLIENT_LEGACY_VERSIONS: tuple[str, ...] = ("2024-11-05",) + LEGACY_VERSIONS


def served_versions(legacy: tuple[str, ...] | list[str], modern: tuple[str, ...] | list[str]) -> list[str]:
    """Every version an endpoint serving ``legacy`` and ``modern`` speaks, newest first.

    The value of ``data.supported`` in -32022 (SRV-VER-06) and of
    ``supportedVersions`` in ``server/discover`` (SRV-VER-10).
    """
    return sorted(set(legacy) | set(modern), reverse=True)

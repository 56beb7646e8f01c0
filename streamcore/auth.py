"""OAuth 2.1 for MCP: the sans-IO client flow and the resource-server side; see ``docs/auth.md``.

The asyncio driver of the client is :class:`streamcore.aio.client.OAuth`.
"""

from __future__ import annotations

from ._oauth import (
    DEFAULT_MAX_AUTHORIZATIONS,
    DEFAULT_MAX_DOCUMENT_SIZE,
    DEFAULT_REFRESH_MARGIN,
    AuthorizationFailed,
    AuthorizationNeeded,
    Authorized,
    ClientInfo,
    IdJag,
    HttpCall,
    MemoryTokenStorage,
    OAuthClient,
    OAuthConfig,
    OAuthError,
    TokenStorage,
    Tokens,
    canonical_resource,
    parse_www_authenticate,
    pkce_pair,
)

__all__ = [
    "OAuthClient",
    "OAuthConfig",
    "IdJag",
    "OAuthError",
    "Tokens",
    "ClientInfo",
    "TokenStorage",
    "MemoryTokenStorage",
    "HttpCall",
    "AuthorizationNeeded",
    "Authorized",
    "AuthorizationFailed",
    "parse_www_authenticate",
    "canonical_resource",
    "pkce_pair",
    "DEFAULT_MAX_AUTHORIZATIONS",
    "DEFAULT_MAX_DOCUMENT_SIZE",
    "DEFAULT_REFRESH_MARGIN",
]

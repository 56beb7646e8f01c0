"""OAuth 2.1 for MCP: the sans-IO client flow and the resource-server side; see ``docs/auth.md``.

The asyncio driver of the client is :class:`streamcore.aio.client.OAuth`; the asyncio server's side
(PRM document, introspection before the core) is :class:`streamcore.aio.server.ResourceServer`.
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
    parse_challenges,
    parse_www_authenticate,
    pkce_pair,
)
from ._oauth_rs import (
    DEFAULT_INTROSPECTION_CACHE,
    DEFAULT_JWT_CACHE,
    DEFAULT_MAX_TOKEN_SIZE,
    AccessToken,
    AuthChallenge,
    BearerAuth,
    IntrospectionVerifier,
    JwtVerifier,
    ProtectedResource,
    StaticTokens,
    TokenVerifier,
    bearer_token,
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
    "parse_challenges",
    "canonical_resource",
    "pkce_pair",
    "DEFAULT_MAX_AUTHORIZATIONS",
    "DEFAULT_MAX_DOCUMENT_SIZE",
    "DEFAULT_REFRESH_MARGIN",
    # resource server
    "ProtectedResource",
    "BearerAuth",
    "AuthChallenge",
    "AccessToken",
    "TokenVerifier",
    "StaticTokens",
    "JwtVerifier",
    "IntrospectionVerifier",
    "bearer_token",
    "DEFAULT_INTROSPECTION_CACHE",
    "DEFAULT_JWT_CACHE",
    "DEFAULT_MAX_TOKEN_SIZE",
]

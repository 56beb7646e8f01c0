"""The official MCP Python SDK (``mcp`` 2.x) as a resource server with auth on, for client interop tests.

    python tests/py_sdk_auth_server.py PORT ISSUER

``MCPServer`` with ``AuthSettings`` (required scope ``mcp:read``) and a token
verifier that asks ISSUER's RFC 7662 introspection endpoint
(``tests/oauth_test_as.py``). One tool: ``whoami`` (the token's client id).
"""

from __future__ import annotations

import sys

import httpx
import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer


class Introspect:
    def __init__(self, endpoint: str, resource: str) -> None:
        self.endpoint = endpoint
        self.resource = resource

    async def verify_token(self, token: str) -> AccessToken | None:
        async with httpx.AsyncClient() as c:
            r = await c.post(self.endpoint, data={"token": token})
        d = r.json()
        if not d.get("active") or d.get("aud") != self.resource:
            return None
        return AccessToken(token=token, client_id=d["client_id"], scopes=d.get("scope", "").split(),
                           expires_at=d.get("exp"), resource=d.get("aud"), subject=d.get("sub"))


def main() -> None:
    port, issuer = int(sys.argv[1]), sys.argv[2]
    url = f"http://127.0.0.1:{port}/mcp"
    server = MCPServer("py-sdk-auth", log_level="WARNING", token_verifier=Introspect(issuer + "/introspect", url),
                       auth=AuthSettings(issuer_url=issuer, resource_server_url=url, required_scopes=["mcp:read"],
                                         validate_token_resource=True))

    @server.tool(description="The client id of the token.", structured_output=False)
    def whoami() -> str:
        from mcp.server.auth.middleware.auth_context import get_access_token

        t = get_access_token()
        return t.client_id if t else "nobody"

    app = server.streamable_http_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()

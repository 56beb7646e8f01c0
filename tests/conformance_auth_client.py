"""MCP conformance-suite driver for the ``auth/*`` client scenarios, on ``streamcore.aio.client`` + OAuth.

The suite runs ``<command> <server URL>`` with ``MCP_CONFORMANCE_SCENARIO``
(and, for some scenarios, ``MCP_CONFORMANCE_CONTEXT``: pre-registered or
machine credentials) set. The client connects with OAuth, lists the tools and
calls each one, the way the suite's reference client does. Exit status 0 when
that went through, 1 when authorization failed (the suite decides whether that
was the right outcome: for the "must reject" scenarios it is).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamcore.aio.client import ClientError, OAuth, connect  # noqa: E402
from streamcore.auth import IdJag, OAuthConfig  # noqa: E402

#: the Client ID Metadata Document URL the suite expects in basic-cimd
CIMD_URL = "https://conformance-test.local/client-metadata.json"
REDIRECT = "http://localhost:3000/callback"


def config_for(scenario: str, ctx: dict, version: str) -> OAuthConfig:
    base: dict = {"redirect_uri": REDIRECT, "client_name": "streamcore-conformance",
                  "client_metadata_url": CIMD_URL, "protocol_version": version}
    if scenario in ("auth/client-credentials-basic", "auth/client-credentials-jwt"):
        base["grant_type"] = "client_credentials"
    if scenario == "auth/wif-jwt-bearer":
        return OAuthConfig(**base, grant_type="jwt_bearer", assertion=ctx["valid_jwt"])
    if scenario in ("auth/enterprise-managed-authorization", "auth/cross-app-access-complete-flow"):
        jag = IdJag(idp_token_endpoint=ctx["idp_token_endpoint"], idp_client_id=ctx["idp_client_id"],
                    id_token=ctx["idp_id_token"])
        return OAuthConfig(**base, grant_type="jwt_bearer", id_jag=jag, client_id=ctx["client_id"],
                           client_secret=ctx["client_secret"])
    if "client_id" in ctx:
        base["client_id"] = ctx["client_id"]
    if "client_secret" in ctx:
        base["client_secret"] = ctx["client_secret"]
    if "private_key_pem" in ctx:
        base["private_key_pem"] = ctx["private_key_pem"]
        base["signing_algorithm"] = ctx.get("signing_algorithm") or "ES256"
        base["token_endpoint_auth_method"] = "private_key_jwt"
    return OAuthConfig(**base)


async def run(url: str, scenario: str, ctx: dict, version: str) -> int:
    auth = OAuth(config_for(scenario, ctx, version))
    kwargs: dict = {"timeout": 10, "auth": auth, "listen": False}
    if version == "2026-07-28":
        kwargs["era"] = "modern"
    elif version in ("2025-03-26", "2025-06-18", "2025-11-25"):
        kwargs["protocol_version"] = version
        kwargs["era"] = "legacy"  # the client's default era is auto
    try:
        async with connect(url, **kwargs) as s:
            tools = await s.list_tools()
            for t in tools:
                await s.call_tool(t["name"], {})
    except ClientError as exc:
        print(f"failed: {exc!r}; authorization: {auth.last_error}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    url = sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    ctx = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    version = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION", "2025-11-25")
    return asyncio.run(asyncio.wait_for(run(url, scenario, ctx, version), 25))


if __name__ == "__main__":
    sys.exit(main())

"""A small OAuth 2.1 authorization server for tests only (never for production).

    python tests/oauth_test_as.py [--expires-in S] [--no-refresh]

Starlette under uvicorn on 127.0.0.1, port chosen by the OS; prints its issuer
URL as the first stdout line. It approves every authorization request at once
(redirect with ``code``, ``state`` and ``iss``), checks PKCE S256 and the
``resource`` parameter, issues ES256 JWT access tokens (RFC 9068: ``aud`` is
the resource, ``scope``, ``exp``) and refresh tokens, and serves RFC 8414
metadata, RFC 7591 registration, a JWKS and RFC 7662 introspection. ``GET
/log`` returns the requests it saw, so tests can check what a client sent.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import secrets
import socket
import sys
import time
from typing import Any
from urllib.parse import urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


def build(issuer: str, expires_in: int, refresh: bool) -> Starlette:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "ES256"})
    clients: dict[str, dict[str, Any]] = {}
    codes: dict[str, dict[str, Any]] = {}
    refresh_tokens: dict[str, dict[str, Any]] = {}
    log: list[dict[str, Any]] = []

    def mint(client_id: str, scope: str, resource: str) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": issuer, "sub": "user-1", "client_id": client_id, "aud": resource, "scope": scope,
                  "iat": now, "exp": now + expires_in, "jti": secrets.token_hex(8)}
        at = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1", "typ": "at+jwt"})
        out: dict[str, Any] = {"access_token": at, "token_type": "Bearer", "expires_in": expires_in, "scope": scope}
        if refresh:
            rt = secrets.token_urlsafe(24)
            refresh_tokens[rt] = {"client_id": client_id, "scope": scope, "resource": resource}
            out["refresh_token"] = rt
        return out

    async def metadata(request: Request) -> Response:
        log.append({"path": request.url.path})
        return JSONResponse({
            "issuer": issuer, "authorization_endpoint": f"{issuer}/authorize", "token_endpoint": f"{issuer}/token",
            "registration_endpoint": f"{issuer}/register", "jwks_uri": f"{issuer}/jwks",
            "introspection_endpoint": f"{issuer}/introspect", "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
            "scopes_supported": ["mcp:read", "mcp:write"],
            "authorization_response_iss_parameter_supported": True})

    async def register(request: Request) -> Response:
        body = await request.json()
        log.append({"path": "/register", "body": body})
        cid = "client-" + secrets.token_hex(4)
        method = body.get("token_endpoint_auth_method") or "client_secret_basic"
        info = {**body, "client_id": cid, "token_endpoint_auth_method": method}
        if method != "none":
            info["client_secret"] = secrets.token_urlsafe(16)
        clients[cid] = info
        return JSONResponse(info, status_code=201)

    async def authorize(request: Request) -> Response:
        q = dict(request.query_params)
        log.append({"path": "/authorize", "query": q})
        client = clients.get(q.get("client_id", ""))
        if client is None or q.get("redirect_uri") not in client.get("redirect_uris", []):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge") or not q.get("resource"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        codes[code] = q
        sep = "&" if "?" in q["redirect_uri"] else "?"
        return RedirectResponse(q["redirect_uri"] + sep + urlencode(
            {"code": code, "state": q.get("state", ""), "iss": issuer}), status_code=302)

    def client_of(request: Request, form: dict[str, str]) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        c = clients.get(cid)
        if c is None:
            return None
        if c["token_endpoint_auth_method"] != "none" and secret != c.get("client_secret"):
            return None
        return cid

    async def token(request: Request) -> Response:
        form = dict(await request.form())
        log.append({"path": "/token", "form": {k: v for k, v in form.items() if k != "client_secret"}})
        cid = client_of(request, form)
        if cid is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") == "authorization_code":
            req = codes.pop(form.get("code", ""), None)
            if req is None or req["client_id"] != cid:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != req["code_challenge"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
            if form.get("resource") != req["resource"] or form.get("redirect_uri") != req["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse(mint(cid, req.get("scope", ""), req["resource"]))
        if form.get("grant_type") == "refresh_token":
            rt = refresh_tokens.pop(form.get("refresh_token", ""), None)
            if rt is None or rt["client_id"] != cid:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse(mint(cid, rt["scope"], form.get("resource") or rt["resource"]))
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    async def jwks(request: Request) -> Response:
        return JSONResponse({"keys": [jwk]})

    async def introspect(request: Request) -> Response:
        form = dict(await request.form())
        log.append({"path": "/introspect"})
        try:
            claims = jwt.decode(form.get("token", ""), key.public_key(), algorithms=["ES256"],
                                options={"verify_aud": False})
        except jwt.PyJWTError:
            return JSONResponse({"active": False})
        return JSONResponse({"active": True, **claims})

    async def get_log(request: Request) -> Response:
        return JSONResponse(log)

    return Starlette(routes=[
        Route("/.well-known/oauth-authorization-server", metadata),
        Route("/register", register, methods=["POST"]),
        Route("/authorize", authorize),
        Route("/token", token, methods=["POST"]),
        Route("/jwks", jwks),
        Route("/introspect", introspect, methods=["POST"]),
        Route("/log", get_log),
    ])


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--expires-in", type=int, default=3600)
    ap.add_argument("--no-refresh", action="store_true")
    args = ap.parse_args()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    issuer = f"http://127.0.0.1:{port}"
    app = build(issuer, args.expires_in, not args.no_refresh)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    print(issuer, flush=True)
    await server.serve(sockets=[sock])


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)

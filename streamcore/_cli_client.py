"""Command-line MCP client: ``python -m streamcore tools URL`` and ``call URL TOOL key=value ...``.

Exit codes: 0 success; 1 the tool reported an error (``isError``) or the server
answered with a JSON-RPC error; 2 usage; 3 connection refused or lost;
4 HTTP 401/403 (authorization); 5 HTTP 404 (no MCP endpoint there);
6 other HTTP or protocol error; 7 timeout; 141 standard output closed by its
reader (``... | head``), quietly, as a process ended by SIGPIPE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any, Sequence

from ._client import (
    ClientError,
    ConnectionLost,
    HttpStatusError,
    McpError,
    RequestTimeout,
    StreamProtocolError,
)

__all__ = ["tools_main", "call_main", "parse_value", "EXIT_OK", "EXIT_TOOL_ERROR", "EXIT_USAGE",
           "EXIT_CONNECT", "EXIT_AUTH", "EXIT_NOT_FOUND", "EXIT_PROTOCOL", "EXIT_TIMEOUT", "EXIT_STDOUT_CLOSED"]

EXIT_OK, EXIT_TOOL_ERROR, EXIT_USAGE, EXIT_CONNECT, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_PROTOCOL, EXIT_TIMEOUT = range(8)
#: stdout was closed by its reader: 128 + SIGPIPE, what a shell shows for `yes | head`
EXIT_STDOUT_CLOSED = 141


class _StdoutClosed(Exception):
    """Writing our output failed because the reader went away (EPIPE)."""


def _print(text: str) -> None:
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError as exc:
        raise _StdoutClosed() from exc


def parse_value(text: str) -> Any:
    """A ``key=value`` value: JSON when it parses (``3``, ``true``, ``[1]``), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="the MCP endpoint, e.g. http://127.0.0.1:8000/mcp")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    p.add_argument("--era", choices=("auto", "modern", "legacy"), default="auto",
                   help="protocol era: auto tries 2026-07-28 (server/discover) and falls back to "
                        "initialize (default auto)")
    p.add_argument("-H", "--header", action="append", default=[], metavar="NAME:VALUE",
                   help="extra header on every request, e.g. 'Authorization: Bearer TOKEN' (repeatable)")
    p.add_argument("--oauth", action="store_true", help="authorize with OAuth 2.1 when the server asks: opens "
                   "the browser, waits on http://127.0.0.1:PORT/callback (docs/auth.md)")
    p.add_argument("--oauth-port", type=int, default=33418, metavar="PORT",
                   help="loopback redirect port for --oauth (default 33418)")


def _auth(args: argparse.Namespace) -> Any:
    if not args.oauth:
        return None
    from .aio._auth import BrowserConsent, OAuth

    return OAuth(consent=BrowserConsent(port=args.oauth_port))


def _headers(items: list[str], parser: argparse.ArgumentParser) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            parser.error(f"bad header {item!r}: expected NAME:VALUE")
        out[name.strip()] = value.strip()
    return out


def _fail(exc: BaseException, url: str) -> int:
    if isinstance(exc, HttpStatusError):
        if exc.status in (401, 403):
            print(f"error: {url} refused the request: {exc} (authorization needed? pass -H 'Authorization: Bearer ...')",
                  file=sys.stderr)
            return EXIT_AUTH
        if exc.status == 404:
            print(f"error: no MCP endpoint at {url} ({exc})", file=sys.stderr)
            return EXIT_NOT_FOUND
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROTOCOL
    if isinstance(exc, RequestTimeout):
        print(f"error: timed out: {exc}", file=sys.stderr)
        return EXIT_TIMEOUT
    if isinstance(exc, ConnectionLost):
        print(f"error: cannot reach {url}: {exc}", file=sys.stderr)
        return EXIT_CONNECT
    if isinstance(exc, McpError):
        print(f"error: server answered: {exc}", file=sys.stderr)
        return EXIT_TOOL_ERROR
    if isinstance(exc, (StreamProtocolError, ClientError)):
        print(f"error: protocol error: {exc}", file=sys.stderr)
        return EXIT_PROTOCOL
    raise exc


class _Bar:
    """A one-line progress bar on stderr (only when stderr is a terminal, or forced)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, progress: Any, total: Any, message: Any) -> None:
        if not self.enabled:
            return
        width = 30
        if isinstance(total, (int, float)) and total > 0 and isinstance(progress, (int, float)):
            frac = max(0.0, min(1.0, progress / total))
            bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
            line = f"\r[{bar}] {progress:g}/{total:g}"
        else:
            line = f"\r[progress {progress}]"
        if message:
            line += f" {message}"
        sys.stderr.write(line[:120].ljust(60))
        sys.stderr.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def tools_main(argv: Sequence[str] | None = None) -> int:
    """``tools URL``: list the server's tools."""
    p = argparse.ArgumentParser(prog="python -m streamcore tools", description="List the tools of an MCP server.")
    _common(p)
    args = p.parse_args(argv)
    headers = _headers(args.header, p)

    async def run() -> int:
        from .aio.client import connect

        async with connect(args.url, headers=headers, timeout=args.timeout, listen=False, era=args.era,
                           auth=_auth(args)) as s:
            tools = await s.list_tools()
        if args.json:
            _print(json.dumps(tools, indent=2))
        else:
            for t in tools:
                desc = (t.get("description") or "").strip().splitlines()
                _print(f"{t.get('name')}" + (f"  {desc[0]}" if desc else ""))
                props = (t.get("inputSchema") or {}).get("properties") or {}
                req = set((t.get("inputSchema") or {}).get("required") or [])
                for k, v in props.items():
                    typ = v.get("type", "any") if isinstance(v, dict) else "any"
                    _print(f"    {k}: {typ}" + (" (required)" if k in req else ""))
        return EXIT_OK

    return _run(run, args.url, args.timeout)


def call_main(argv: Sequence[str] | None = None) -> int:
    """``call URL TOOL key=value ...``: call one tool and print its result."""
    p = argparse.ArgumentParser(prog="python -m streamcore call", description="Call a tool of an MCP server.")
    _common(p)
    p.add_argument("tool", help="the tool name")
    p.add_argument("arguments", nargs="*", metavar="key=value",
                   help="tool arguments; values are parsed as JSON when they parse, else taken as strings")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress bar on stderr (default: when stderr is a terminal)")
    args = p.parse_args(argv)
    headers = _headers(args.header, p)
    arguments: dict[str, Any] = {}
    for item in args.arguments:
        k, sep, v = item.partition("=")
        if not sep or not k:
            p.error(f"bad argument {item!r}: expected key=value")
        arguments[k] = parse_value(v)
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    bar = _Bar(show)

    async def run() -> int:
        from .aio.client import connect

        async with connect(args.url, headers=headers, timeout=args.timeout, era=args.era, auth=_auth(args)) as s:
            try:
                result = await s.call_tool(args.tool, arguments, progress=bar)
            finally:
                bar.done()
        if args.json:
            _print(json.dumps(result, indent=2))
        else:
            for item in result.get("content") or []:
                if item.get("type") == "text":
                    _print(item.get("text", ""))
                else:
                    _print(json.dumps(item))
            if "structuredContent" in result and not result.get("content"):
                _print(json.dumps(result["structuredContent"], indent=2))
        if result.get("isError"):
            print("error: the tool reported an error", file=sys.stderr)
            return EXIT_TOOL_ERROR
        return EXIT_OK

    return _run(run, args.url, args.timeout)


def _run(fn: Any, url: str, timeout: float) -> int:
    async def guarded() -> int:
        # the whole command is bounded: handshake + call + close
        return await asyncio.wait_for(fn(), timeout * 2 + 10)

    try:
        return asyncio.run(guarded())
    except _StdoutClosed:
        # nobody reads our output any more: say nothing (a message would go to a closed pipe's
        # neighbour, stderr, as noise) and keep the interpreter from failing on its final flush
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_STDOUT_CLOSED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except asyncio.TimeoutError:
        print(f"error: timed out talking to {url}", file=sys.stderr)
        return EXIT_TIMEOUT
    except (ClientError, HttpStatusError, McpError) as exc:
        return _fail(exc, url)
    except OSError as exc:
        print(f"error: cannot reach {url}: {exc}", file=sys.stderr)
        return EXIT_CONNECT
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(call_main())

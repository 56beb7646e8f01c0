"""``python -m streamcore``: the codec report, the demo server and the client commands."""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from ._ext import CODECS, NO_EXTENSIONS, implementation_of


def _info() -> int:
    print(f"streamcore {__version__} on {sys.implementation.name} {sys.version.split()[0]}")
    if NO_EXTENSIONS:
        print("extensions disabled (STREAMCORE_NO_EXTENSIONS or not CPython)")
    for name in CODECS:
        mod = importlib.import_module(f"streamcore.{name}")
        impl = mod._impl
        print(f"  {name:<8} {implementation_of(impl):<8} {impl.__name__}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from ._server import ServerConfig
    from ._store import MemoryEventStore
    from .aio.server import serve
    from .demo import DemoApp

    if args.uvloop:
        import uvloop  # optional extra: pip install 'streamcore[uvloop]'

        uvloop.install()
    hosts = None if "*" in args.allow_host else frozenset(
        {"localhost", "127.0.0.1", "[::1]", "::1"} | {h.lower() for h in args.allow_host}
    )
    if hosts is not None and args.host not in ("127.0.0.1", "localhost", "::1") and not args.allow_host:
        print(f"note: bound to {args.host}, but only loopback Host names are accepted (SEC-06); "
              "add --allow-host NAME for the names clients use", file=sys.stderr)
    config = ServerConfig(
        json_response=args.json,
        event_store=None if args.no_store else MemoryEventStore(),
        retry_ms=args.retry_ms,
        allowed_hosts=hosts,
    )

    ctx = None
    if args.certfile:  # TLS; HTTP/2 is offered by ALPN
        import ssl

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.certfile, args.keyfile)
    scheme = "https" if ctx is not None else "http"

    def ready(port: int) -> None:
        print(f"streamcore demo MCP server on {scheme}://{args.host}:{port}/mcp", flush=True)

    try:
        asyncio.run(serve(DemoApp(), args.host, args.port, config, ready=ready, http1=args.http1,
                          ssl=ctx, http2=False if args.no_http2 else None))
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("tools", "call"):
        # The client commands parse their own arguments (streamcore._cli_client).
        from ._cli_client import call_main, tools_main

        return (tools_main if argv[0] == "tools" else call_main)(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m streamcore",
        description=__doc__,
        epilog="Client commands: 'python -m streamcore tools URL' lists a server's tools; "
        "'python -m streamcore call URL TOOL key=value ...' calls one (see --help of each).",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="print the version and each codec's implementation (default)")
    sp = sub.add_parser("serve", help="run the demo MCP server (Streamable HTTP) on loopback")
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sp.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    sp.add_argument("--json", action="store_true", help="answer requests with application/json, not SSE")
    sp.add_argument("--no-store", action="store_true", help="no event store: streams are not resumable")
    sp.add_argument("--retry-ms", type=int, default=None, help="SSE retry advice sent with priming events")
    sp.add_argument("--uvloop", action="store_true", help="run on uvloop")
    sp.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                    help="also accept this Host name (repeatable; '*' switches the Host check off), "
                    "e.g. the public name behind a reverse proxy")
    sp.add_argument("--http1", choices=("fast", "h11"), default="fast",
                    help="HTTP/1.1 engine: streamcore's own (default) or h11")
    sp.add_argument("--certfile", help="serve TLS with this certificate chain (PEM); h2 by ALPN")
    sp.add_argument("--keyfile", help="the certificate's private key (PEM), if not in --certfile")
    sp.add_argument("--no-http2", action="store_true", help="HTTP/1.1 only (no h2c, no h2 by ALPN)")
    args = parser.parse_args(argv)
    if args.command in (None, "info"):
        return _info()
    if args.command == "serve":
        return _serve(args)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())

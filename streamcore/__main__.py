"""python -m streamcore: the codec report, the demo MCP server, and a command-line MCP client.

Exit codes of serve: 0 after Ctrl-C or SIGTERM (a graceful, bounded shutdown),
1 when it cannot listen (port in use, address not available, no permission)
or, with --redis, cannot reach Redis at start,
2 for a usage error (including --uvloop without uvloop installed, and
--workers above 1 without --redis). With --workers, the supervisor's status
also says 3 (workers died too often, see --max-restarts) or 4 (after SIGTERM, a
worker had to be killed or exited with an error); see streamcore._supervisor.
The demo server runs on uvloop when it is installed (``--asyncio`` opts out).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
from typing import Any

from . import __version__
from ._ext import CODECS, CORE, NO_EXTENSIONS, core_implementation, implementation_of

EXIT_OK, EXIT_LISTEN, EXIT_USAGE = 0, 1, 2
_LEVELS = ("debug", "info", "warning", "error")


def _info() -> int:
    print(f"streamcore {__version__} on {sys.implementation.name} {sys.version.split()[0]}")
    if NO_EXTENSIONS:
        print("extensions disabled (STREAMCORE_NO_EXTENSIONS or not CPython)")
    for name in CODECS:
        mod = importlib.import_module(f"streamcore.{name}")
        impl = mod._impl
        print(f"  {name:<8} {implementation_of(impl):<8} {impl.__name__}")
    for name in CORE:
        print(f"  {name:<10} {core_implementation(name):<8} streamcore.{name} (server core)")
    return EXIT_OK


def _worker_argv(argv: list[str]) -> list[str]:
    """The serve command line without --port, --workers, --max-restarts (the supervisor sets them)."""
    out: list[str] = []
    skip = False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if i == 0 and a == "serve":
            continue
        name = a.split("=", 1)[0]
        if name in ("--port", "--workers", "--max-restarts", "--share-port"):
            skip = "=" not in a
            continue
        out.append(a)
    return out


def _supervise(args: argparse.Namespace, argv: list[str]) -> int:
    from ._supervisor import Supervisor, listen_modes

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.workers > 1 and getattr(args, "redis", None) is None:
        print(f"error: --workers {args.workers} needs --redis URL: without a shared store each worker would "
              "have its own sessions, and a request reaching another worker would get 404 Session not found",
              file=sys.stderr)
        return EXIT_USAGE
    if args.share_port is not None and args.share_port not in listen_modes():
        print(f"error: --share-port {args.share_port} is not available on this system", file=sys.stderr)
        return EXIT_USAGE
    if args.max_restarts < 0:
        print("error: --max-restarts must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    sup = Supervisor(_worker_argv(argv), args.host, args.port, args.workers, grace=args.grace,
                     max_restarts=args.max_restarts, mode=args.share_port, scheme="https" if args.certfile else "http")
    return sup.run()


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from .aio.server import serve
    from .demo import TOOLS, DemoApp
    from .era import param_headers_from_tools
    from ._config import LOOPBACK_HOSTS
    from .server import ServerConfig
    from .store import MemoryEventStore

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # uvloop when installed (it is the faster loop: docs/performance.md), unless --asyncio.
    if args.uvloop and args.asyncio:
        print("error: --uvloop and --asyncio exclude each other", file=sys.stderr)
        return EXIT_USAGE
    loop_name = "asyncio"
    if not args.asyncio:
        try:
            import uvloop
        except ImportError:
            if args.uvloop:
                print("error: --uvloop needs the uvloop package: pip install 'streamcore[uvloop]'", file=sys.stderr)
                return EXIT_USAGE
        else:
            uvloop.install()
            loop_name = "uvloop"
    cors = None
    if args.cors_origin:
        from .cors import CorsPolicy

        try:
            cors = CorsPolicy(allowed_origins=tuple(args.cors_origin))
        except ValueError as exc:
            print(f"error: --cors-origin: {exc}", file=sys.stderr)
            return EXIT_USAGE
    hosts = None if "*" in args.allow_host else frozenset(
        {"localhost", "127.0.0.1", "[::1]", "::1"} | {h.lower() for h in args.allow_host}
    )
    if hosts is not None and args.host not in ("127.0.0.1", "localhost", "::1") and not args.allow_host:
        print(f"note: bound to {args.host}, but only loopback Host names are accepted (SEC-06); "
              "add --allow-host NAME for the names clients use", file=sys.stderr)
    cluster = None
    if args.redis:  # issue 13: the Redis event store, session registry and bus
        try:
            from .redis import RedisCluster
        except ImportError:  # pragma: no cover - the extra is not installed
            print("error: --redis needs the redis package: pip install 'streamcore[redis]'", file=sys.stderr)
            return EXIT_USAGE
        if args.no_store:
            print("error: --redis keeps every stream resumable; it cannot be combined with --no-store",
                  file=sys.stderr)
            return EXIT_USAGE
        try:
            cluster = RedisCluster(args.redis, lease_ttl=args.redis_lease)
        except ValueError as exc:
            print(f"error: --redis: {exc}", file=sys.stderr)
            return EXIT_USAGE
    config = ServerConfig(
        json_response=args.json,
        event_store=cluster.store if cluster is not None else None if args.no_store else MemoryEventStore(),
        retry_ms=args.retry_ms,
        allowed_hosts=hosts,
        # The core's Origin check (host names) lets the CORS origins through; the
        # adapter checks them exactly (scheme, host, port) in front of it.
        allowed_origins=LOOPBACK_HOSTS if cors is None else
        None if cors.origin_hosts is None else LOOPBACK_HOSTS | set(cors.origin_hosts),
        param_headers=param_headers_from_tools(TOOLS),  # Mcp-Param-* checked against x-mcp-header
        # the deprecated HTTP+SSE transport at the official SDKs' default paths (docs/server.md)
        sse_path=None if args.no_sse else "/sse",
        sse_messages_path="/messages/",
    )

    ctx = None
    if args.certfile:  # TLS; HTTP/2 is offered by ALPN
        import ssl

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.certfile, args.keyfile)
    scheme = "https" if ctx is not None else "http"

    def ready(port: int) -> None:
        # The URL stays the last word of the line: scripts read it from there.
        print(f"streamcore demo MCP server ({loop_name}) on {scheme}://{args.host}:{port}/mcp", flush=True)
        if not args.no_page and args.worker_listen is None:  # with --workers the supervisor says it
            print(f"browser client page on {scheme}://{args.host}:{port}/", flush=True)
        if not args.no_sse:
            logging.getLogger("streamcore.server").info(
                "deprecated HTTP+SSE transport (2024-11-05) at %s://%s:%d/sse (--no-sse turns it off)",
                scheme, args.host, port)

    settings: dict[str, Any] = {"shutdown_grace": args.grace, "access_log": args.access_log}
    if cors is not None:
        settings["cors"] = cors
    if not args.no_page:
        from .web import demo_pages

        settings["pages"] = demo_pages()
    if cluster is not None:
        settings["cluster"] = cluster
    if args.max_connections is not None:
        settings["max_connections"] = args.max_connections
    # Everything imported so far lives as long as the process: move it out of
    # the garbage collector's generations, so that a full collection under
    # load walks only what the traffic made (shorter pauses, a shorter p99).
    import gc

    gc.freeze()
    sock, reuse_port = None, False
    if args.worker_listen is not None:  # a worker of --workers: listen as the supervisor says
        from ._supervisor import watch_parent, worker_socket

        sock, reuse_port = worker_socket(args.worker_listen, args.host, args.port)
        watch_parent()
    try:
        asyncio.run(serve(DemoApp(), args.host, args.port, config, ready=ready, http1=args.http1,
                          ssl=ctx, http2=False if args.no_http2 else None, sock=sock, reuse_port=reuse_port,
                          **settings))
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        if cluster is None or type(exc).__name__ != "RedisUnavailable":
            if not isinstance(exc, OSError):
                raise
            why = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            print(f"error: cannot listen on {args.host}:{args.port}: {why}", file=sys.stderr)
            return EXIT_LISTEN
        print(f"error: cannot reach redis at {args.redis}: {exc}", file=sys.stderr)
        return EXIT_LISTEN
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m streamcore",
        description="streamcore: MCP's Streamable HTTP transport. Without a command, prints the codec report (info).",
        epilog="Run 'python -m streamcore COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"streamcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("info", help="print the version and each codec's implementation (the default)")
    sp = sub.add_parser("serve", help="run the demo MCP server (Streamable HTTP) on loopback",
                        description="Run the demo MCP server. Ctrl-C or SIGTERM stops it gracefully: "
                        "it stops accepting, ends SSE streams with retry advice, lets tool calls finish "
                        "for --grace seconds, then closes. Exit 1 if it cannot listen, 2 on a usage error.")
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sp.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    sp.add_argument("--json", action="store_true", help="answer requests with application/json, not SSE")
    sp.add_argument("--no-store", action="store_true", help="no event store: streams are not resumable")
    sp.add_argument("--redis", metavar="URL", default=None,
                    help="share sessions, events and messages with every other instance on this Redis "
                         "(redis://host:port/db; pip install 'streamcore[redis]')")
    sp.add_argument("--redis-lease", type=float, default=5.0, metavar="SECONDS",
                    help="with --redis: seconds after which a dead instance's sessions move (default 5)")
    sp.add_argument("--retry-ms", type=int, default=None, help="SSE retry advice sent with priming events")
    sp.add_argument("--uvloop", action="store_true",
                    help="require uvloop (the default when installed: pip install 'streamcore[uvloop]')")
    sp.add_argument("--asyncio", action="store_true", help="run on asyncio's own loop even if uvloop is installed")
    sp.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                    help="also accept this Host name (repeatable; '*' switches the Host check off), "
                    "e.g. the public name behind a reverse proxy")
    sp.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                    help="let web pages from this origin (scheme://host[:port]) call the endpoint: CORS "
                    "preflights, exposed Mcp-Session-Id; repeatable; other origins get 403 (docs/browser.md)")
    sp.add_argument("--no-page", action="store_true", help="do not serve the browser client page at /")
    sp.add_argument("--http1", choices=("fast", "h11"), default="fast",
                    help="HTTP/1.1 engine: streamcore's own (default) or h11")
    sp.add_argument("--certfile", help="serve TLS with this certificate chain (PEM); h2 by ALPN")
    sp.add_argument("--keyfile", help="the certificate's private key (PEM), if not in --certfile")
    sp.add_argument("--no-http2", action="store_true", help="HTTP/1.1 only (no h2c, no h2 by ALPN)")
    sp.add_argument("--no-sse", action="store_true",
                    help="do not serve the deprecated HTTP+SSE transport (2024-11-05) at /sse and /messages/")
    sp.add_argument("--grace", type=float, default=5.0, metavar="SECONDS",
                    help="on shutdown, how long tool calls in flight may finish before they are cancelled (default 5)")
    sp.add_argument("--max-connections", type=int, default=None, metavar="N",
                    help="open connections at most; more get 503 (default: 10000, or 64 under the descriptor limit)")
    sp.add_argument("--workers", type=int, default=None, metavar="N",
                    help="run N worker processes on the one port (SO_REUSEPORT), kept by a supervisor that "
                    "restarts a worker that dies; N above 1 needs --redis (default: one process, no supervisor)")
    sp.add_argument("--max-restarts", type=int, default=10, metavar="N",
                    help="with --workers: give up (exit 3) when workers died more than N times within 60 s "
                    "(default 10)")
    sp.add_argument("--share-port", choices=("reuseport", "inherit"), default=None,
                    help="with --workers: each worker binds the port with SO_REUSEPORT (the default where the "
                    "system has it), or all inherit the supervisor's one listening socket (POSIX)")
    sp.add_argument("--worker-listen", default=None, help=argparse.SUPPRESS)  # set by the supervisor
    sp.add_argument("--log-level", choices=_LEVELS, default="info", help="log level (default info)")
    sp.add_argument("--access-log", action="store_true",
                    help="log one line per request (logger streamcore.access, level info)")
    # The client commands parse their own arguments (streamcore._cli_client);
    # they are listed here so that --help names every command.
    sub.add_parser("tools", help="list the tools of an MCP server: tools URL (see tools --help)", add_help=False)
    sub.add_parser("call", help="call a tool of an MCP server: call URL TOOL key=value ... (see call --help)",
                   add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("tools", "call"):
        from ._cli_client import call_main, tools_main

        return (tools_main if argv[0] == "tools" else call_main)(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in (None, "info"):
        return _info()
    if args.command == "serve":
        if args.workers is not None and args.worker_listen is None:
            if args.workers < 1:
                print("error: --workers must be >= 1", file=sys.stderr)
                return EXIT_USAGE
            return _supervise(args, argv)
        return _serve(args)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    return EXIT_USAGE  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())

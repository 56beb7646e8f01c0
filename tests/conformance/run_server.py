"""Serve the conformance "everything" app on loopback.

    python tests/conformance/run_server.py --port 0

The first line on stdout is the bound port, alone, so that a test can start
this with ``--port 0`` and read where to connect; the endpoint is
``http://127.0.0.1:PORT/mcp``. The server keeps an in-memory event store and
sends ``retry`` with every priming event, so SSE streams are resumable and the
polling scenario (SEP-1699, SRV-SSE-08/09/10) can close a connection mid-call.
Both eras are served on the one endpoint; the ``Mcp-Param-*`` headers of
2026-07-28 are checked against the tools' ``x-mcp-header`` annotations, and
``requestState`` (MRTR) is sealed with ``--state-key`` (hex; a random key by
default, so only this process can continue its requests).
It runs until stopped (SIGTERM or SIGINT).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

try:
    import streamcore  # noqa: F401
except ImportError:  # run from a checkout without installing: use the checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from everything_app import TOOLS, EverythingApp  # noqa: E402 (this script's own folder is on sys.path)

from streamcore.aio import StreamableHttpServer  # noqa: E402
from streamcore.era import param_headers_from_tools  # noqa: E402
from streamcore.mrtr import StateSealer  # noqa: E402
from streamcore.server import ServerConfig  # noqa: E402
from streamcore.store import MemoryEventStore  # noqa: E402

HOST = "127.0.0.1"
#: Short, so that SDK clients that honour it resume quickly; long enough that
#: a resumed GET usually finds the result already stored.
DEFAULT_RETRY_MS = 500


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: any free port)")
    parser.add_argument("--retry-ms", type=int, default=DEFAULT_RETRY_MS, help="SSE retry advice, in ms")
    parser.add_argument("--state-key", default=None, help="hex HMAC key for MRTR requestState")
    args = parser.parse_args(argv)

    config = ServerConfig(event_store=MemoryEventStore(), retry_ms=args.retry_ms,
                          param_headers=param_headers_from_tools(TOOLS))
    sealer = StateSealer(bytes.fromhex(args.state_key)) if args.state_key else StateSealer.ephemeral()

    def ready(port: int) -> None:
        print(port, flush=True)
        print(f"conformance everything server on http://{HOST}:{port}/mcp", file=sys.stderr, flush=True)

    async def serve() -> None:
        hub = StreamableHttpServer(EverythingApp(), config, request_state=sealer)
        srv = await hub.start(HOST, args.port)
        ready(srv.sockets[0].getsockname()[1])
        async with srv:
            await srv.serve_forever()

    async def run() -> None:
        task = asyncio.ensure_future(serve())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())

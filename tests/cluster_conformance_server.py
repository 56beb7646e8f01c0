"""The conformance "everything" app on Redis: one of several instances that are one server.

    python tests/cluster_conformance_server.py --redis URL [--port 0] [--redis-lease S]

``tests/conformance/run_server.py`` with the Redis stores and bus instead of
the memory store: the same app, tools, ``retry`` advice and ``Mcp-Param-*``
checks; ``requestState`` (MRTR) is sealed with the key the instances share
through Redis, so any instance continues a multi-round request. Prints the
port alone as its first stdout line (as run_server.py does) and runs until
SIGTERM/SIGINT. Used by tests/test_cluster_conformance.py behind nginx.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.join(HERE, "conformance")]

from everything_app import TOOLS, EverythingApp  # noqa: E402
from run_server import DEFAULT_RETRY_MS  # noqa: E402

from streamcore.aio import StreamableHttpServer  # noqa: E402
from streamcore.era import param_headers_from_tools  # noqa: E402
from streamcore.redis import RedisCluster  # noqa: E402
from streamcore.server import ServerConfig  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--redis-lease", type=float, default=5.0)
    args = ap.parse_args()
    cluster = RedisCluster(args.redis, lease_ttl=args.redis_lease)
    config = ServerConfig(event_store=cluster.store, retry_ms=DEFAULT_RETRY_MS,
                          param_headers=param_headers_from_tools(TOOLS))

    async def run() -> None:
        hub = StreamableHttpServer(EverythingApp(), config, cluster=cluster, shutdown_grace=1.0)
        srv = await hub.start("127.0.0.1", args.port)
        print(srv.sockets[0].getsockname()[1], flush=True)
        stop = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        try:
            await stop
        finally:
            await hub.aclose()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())

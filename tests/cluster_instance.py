"""One demo instance on Redis, as ``python -m streamcore serve --redis URL`` runs it, for the cluster tests.

    python tests/cluster_instance.py --redis URL [--port 0] [--lease-ttl S] [--retry-ms MS]

Prints ``streamcore demo MCP server on http://127.0.0.1:PORT/mcp`` once
listening and runs until SIGTERM/SIGINT, like ``serve``. The tests use
``serve --redis`` itself when this checkout's CLI has that option
(``tests/_nginx.py: redis_instance_argv``); this script is the stand-in until
then, and also lets a test shorten the lease (how soon a dead instance's
sessions are adopted) to keep the failover tests short.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

try:
    import streamcore  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from streamcore.aio.server import serve  # noqa: E402
from streamcore.demo import TOOLS, DemoApp  # noqa: E402
from streamcore.era import param_headers_from_tools  # noqa: E402
from streamcore.redis import RedisCluster  # noqa: E402
from streamcore.server import ServerConfig  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lease-ttl", type=float, default=None)
    ap.add_argument("--retry-ms", type=int, default=None)
    ap.add_argument("--grace", type=float, default=1.0)
    ap.add_argument("--uvloop", action="store_true")
    args = ap.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.install()
    kw = {} if args.lease_ttl is None else {"lease_ttl": args.lease_ttl}
    config = ServerConfig(retry_ms=args.retry_ms, param_headers=param_headers_from_tools(TOOLS))

    def ready(port: int) -> None:
        print(f"streamcore demo MCP server on http://127.0.0.1:{port}/mcp", flush=True)

    try:
        asyncio.run(serve(DemoApp(), "127.0.0.1", args.port, config, ready=ready,
                          cluster=RedisCluster(args.redis, **kw), shutdown_grace=args.grace))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

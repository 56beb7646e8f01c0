"""Bytes per stored event of the memory event store (tracemalloc).

    python benches/e2e/store_bytes.py [--events N] [--per-stream K]

Fills a ``MemoryEventStore`` the way the session-era core does under the e2e
load: one session, one stream per POST, each stream a priming event (empty
data) and the ``tools/call`` echo reply (the demo's bytes); ``--per-stream``
changes how many replies a stream gets. Reports the traced allocation per
event while the store holds N events (the payload bytes included, which are
also given on their own), and again once the event cap has made it evict
(the steady state of a long run).
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from streamcore.store import MemoryEventStore  # noqa: E402

REPLY = b'{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":"hello, world"}],"isError":false}}'


def fill(store: MemoryEventStore, streams: int, per_stream: int, first: int, sid: str) -> int:
    payload = 0
    for s in range(first, first + streams):
        key = str(s)
        now = float(s)
        store.append(sid, key, 1, b"", now)  # the priming event
        for i in range(per_stream):
            data = REPLY % (1000 + s * per_stream + i)  # a fresh bytes object, as the encoder makes
            payload += len(data)
            store.append(sid, key, 2 + i, data, now)
    return payload


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--per-stream", type=int, default=1)
    args = ap.parse_args()
    k = args.per_stream
    streams = args.events // (k + 1)
    sid = "m_r_XDUVsMAPJ1As3BhUyGc02w4Zk3oY"
    tracemalloc.start()
    store = MemoryEventStore(max_events=args.events, ttl=1e12)
    base = tracemalloc.get_traced_memory()[0]
    payload = fill(store, streams, k, 1, sid)
    held = store.size[0]
    used = tracemalloc.get_traced_memory()[0] - base
    print(f"{held} events held ({streams} streams of 1 priming event + {k} replies): "
          f"{used / held:.0f} bytes per event, of which payload {payload / held:.0f} "
          f"and bytes objects' headers {33 * streams * (k + 1) / held:.0f}")
    fill(store, 3 * streams, k, streams + 1, sid)  # three times over: the cap evicts
    held = store.size[0]
    used = tracemalloc.get_traced_memory()[0] - base
    print(f"after eviction, {held} events held: {used / held:.0f} bytes per event")


if __name__ == "__main__":
    main()

"""The asyncio client under hostile or broken servers (issue 10, client items).

Each test plays one attack or fault with a raw asyncio server on 127.0.0.1 and
is bounded in time: a flood of server-to-client requests, a response with a
malformed ``Content-Length``, connections reset in the middle of streams.
"""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

from streamcore import LocalProtocolError
from streamcore.aio.client import ConnectionLost, StreamProtocolError, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_client_aio import ACCEPTED, Raw, basic, json_reply, msg  # noqa: E402


def run(coro: Any, timeout: float = 60.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


class _Watch:
    """Records what the event loop reports (never-retrieved exceptions, destroyed tasks)."""

    def __init__(self) -> None:
        self.reports: list[str] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _l, ctx: self.reports.append(str(ctx.get("message"))))


# -- a flood of server-to-client requests -------------------------------------------


FLOOD = 20_000


def test_ping_flood_is_bounded_and_shuts_down_cleanly(capfd: pytest.CaptureFixture[str]) -> None:
    """A server that sends 20,000 pings on one stream gets all 20,000 answers over a bounded
    number of connections (reused keep-alive ones), the client never holds more than its
    ``max_concurrent_server_requests`` answers in flight, and it closes without
    "Task was destroyed" or any other report from the loop."""
    answered: set[int] = set()
    open_now = 0
    peak = 0
    all_in = asyncio.Event()

    async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
        m = msg(body)
        if "result" in m and "id" in m:
            answered.add(m["id"])
            if len(answered) == FLOOD:
                all_in.set()
            w.write(ACCEPTED)
            return True
        r = await basic(method, path, h, body, w)
        if r is not None:
            return r
        # tools/call: 20,000 pings on the response stream, then the result once all are answered
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        batch = []
        for i in range(FLOOD):
            batch.append(b'data: {"jsonrpc":"2.0","id":%d,"method":"ping"}\n\n' % (10_000_000 + i))
            if len(batch) == 500:
                w.write(b"".join(batch))
                batch.clear()
                await w.drain()
        w.write(b"".join(batch))
        await w.drain()
        await asyncio.wait_for(all_in.wait(), 110)
        w.write(b"data: " + json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": {"n": len(answered)}}).encode()
                + b"\n\n")
        await w.drain()
        return False

    class Counting(Raw):
        async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal open_now, peak
            open_now += 1
            peak = max(peak, open_now)
            try:
                await super()._conn(reader, writer)
            finally:
                open_now -= 1

    tasks_peak = 0

    async def main() -> None:
        nonlocal tasks_peak
        watch = _Watch()
        watch.install()

        async def sample() -> None:
            nonlocal tasks_peak
            while True:
                tasks_peak = max(tasks_peak, len(asyncio.all_tasks()))
                await asyncio.sleep(0.01)

        sampler = asyncio.ensure_future(sample())
        async with Counting(handler) as srv:
            async with connect(srv.url, era="legacy", listen=False, max_concurrent_server_requests=8, timeout=110) as s:
                r = await s.call_tool("flood", {})
                assert r == {"n": FLOOD}
            sampler.cancel()
        assert len(answered) == FLOOD
        # 8 answer slots + the tool call's stream + the initialize/DELETE exchanges
        assert peak <= 12, peak
        assert srv.connections <= 40, srv.connections  # reused, not one per answer
        # client: 8 workers + their 8 exchanges + the stream + main + sampler; the raw server
        # in this loop adds a task per connection (<= 12): thousands before the bound existed
        assert tasks_peak <= 45, tasks_peak
        gc.collect()
        await asyncio.sleep(0)
        assert watch.reports == []

    run(main(), 120)  # seconds on a loaded machine with pure-Python codecs; ~4 s when quiet
    err = capfd.readouterr().err
    assert "Task was destroyed" not in err
    assert "Traceback" not in err
    assert "KeyError" not in err


def test_max_concurrent_server_requests_validated() -> None:
    """The setting must be a positive integer."""

    async def main() -> None:
        with pytest.raises(LocalProtocolError):
            async with connect("http://127.0.0.1:9/mcp", era="legacy", max_concurrent_server_requests=0):
                pass

    run(main(), 10)


# -- Content-Length from the peer ------------------------------------------------------


@pytest.mark.parametrize("value", ["\u00b2", "1\u00b2", "+5", "-1", "0x10", "9" * 5000, "", "5, 5", " 5x"])
def test_bad_content_length_fails_at_once(value: str) -> None:
    """A reply whose Content-Length is not plain ASCII digits (or too long) fails its request
    at once with a protocol error, not at the request's deadline."""

    async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
        r = await basic(method, path, h, body, w)
        if r is not None:
            return r
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + value.encode("latin-1", "replace") + b"\r\n\r\n{}")
        return False

    async def main() -> None:
        async with Raw(handler) as srv:
            async with connect(srv.url, era="legacy", listen=False, timeout=30) as s:
                t0 = asyncio.get_running_loop().time()
                with pytest.raises(StreamProtocolError, match="Content-Length"):
                    await s.request("tools/list")
                assert asyncio.get_running_loop().time() - t0 < 2

    run(main(), 20)


def test_conflicting_content_lengths_fail() -> None:
    """Two different Content-Length values are a protocol error (RFC 9112 section 6.3)."""

    async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
        r = await basic(method, path, h, body, w)
        if r is not None:
            return r
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                b"Content-Length: 3\r\n\r\n{}")
        return False

    async def main() -> None:
        async with Raw(handler) as srv:
            async with connect(srv.url, era="legacy", listen=False, timeout=30) as s:
                with pytest.raises(StreamProtocolError, match="Content-Length"):
                    await s.request("tools/list")

    run(main(), 20)


# -- resets in the middle of streams ---------------------------------------------------


def _reset(w: asyncio.StreamWriter) -> None:
    sock = w.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w.transport.abort()


def test_reset_mid_stream_leaves_no_unretrieved_exception(capfd: pytest.CaptureFixture[str]) -> None:
    """Resets in the middle of response streams (plain requests, a listening stream, requests
    abandoned by their callers) fail the requests with ConnectionLost and leave nothing for
    the loop to report ("Future exception was never retrieved")."""

    async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
        m = msg(body)
        if method == "GET":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nid: g1\ndata: \n\n")
            await w.drain()
            await asyncio.sleep(0.01)
            _reset(w)
            return False
        r = await basic(method, path, h, body, w)
        if r is not None:
            return r
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\n: hi\n\r\n")
        await w.drain()
        await asyncio.sleep(0.005 * (m["id"] % 3))
        _reset(w)
        return False

    async def main() -> None:
        watch = _Watch()
        watch.install()
        async with Raw(handler) as srv:
            for _ in range(10):
                async with connect(srv.url, era="legacy", listen=True, timeout=10, max_reconnect_attempts=1,
                                   backoff_initial=0.01) as s:
                    calls = [asyncio.ensure_future(s.request("tools/list")) for _ in range(5)]
                    await asyncio.sleep(0)
                    calls[0].cancel()
                    res = await asyncio.gather(*calls, return_exceptions=True)
                    assert all(isinstance(x, (ConnectionLost, asyncio.CancelledError)) for x in res), res
                    await asyncio.sleep(0.05)  # the listening stream is reset and given up
                del s, calls, res
                gc.collect()
        gc.collect()
        await asyncio.sleep(0.05)
        assert watch.reports == []

    run(main(), 60)
    err = capfd.readouterr().err
    assert "never retrieved" not in err
    assert "Traceback" not in err


def test_listen_reset_not_iterated_leaves_no_unretrieved_exception(capfd: pytest.CaptureFixture[str]) -> None:
    """2026-07-28: a ``subscriptions/listen`` stream reset after its acknowledgment, with no
    re-issue left, fails the subscription; a caller that leaves the block without iterating
    gets no "Future exception was never retrieved" once the subscription is collected."""

    async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
        m = msg(body)
        if m.get("method") == "server/discover":
            w.write(json_reply(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": {
                "supportedVersions": ["2026-07-28"], "capabilities": {},
                "serverInfo": {"name": "raw", "version": "0"}}}).encode(), extra=""))
            return True
        ack = {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
               "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": m["id"]},
                          "notifications": {"toolsListChanged": True}}}
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: "
                + json.dumps(ack).encode() + b"\n\n")
        await w.drain()
        await asyncio.sleep(0.02)
        _reset(w)
        return False

    async def main() -> None:
        watch = _Watch()
        watch.install()
        async with Raw(handler) as srv:
            async with connect(srv.url, era="modern", timeout=10, max_reissue_attempts=0) as s:
                async with s.listen({"toolsListChanged": True}) as sub:
                    await asyncio.sleep(0.2)  # the reset fails it meanwhile
                del sub
        gc.collect()
        await asyncio.sleep(0.01)
        assert watch.reports == []

    run(main(), 20)
    assert "never retrieved" not in capfd.readouterr().err

"""An MCP server on trio: streamcore's sans-IO core and HTTP/1.1 engine, no adapter.

Run ``python examples/trio_server.py [PORT]`` (default 8000; 0 picks a free
port); it prints its URL. See ``docs/embedding-trio.md``.
"""

from __future__ import annotations

import contextlib
import math
import sys

import trio

from app import reply
from streamcore.events import RequestReceived, ResponseData, ResponseEnd, ResponseHead
from streamcore.http11 import END, Http11Connection, Http11Error, RequestHead
from streamcore.server import Server, ServerConfig

server = Server(ServerConfig())
conns: dict[int, Conn] = {}  # exchange id -> the connection carrying it
timer_moved = trio.Event()  # set when the core's next deadline may have changed


class Conn:
    def __init__(self) -> None:
        self.http, self.xid = Http11Connection(), -1
        # Output waits here for the connection's writer task; None means "close".
        self.out, self.queued = trio.open_memory_channel[bytes | None](math.inf)

    def feed(self) -> None:  # hand what the engine has parsed to the core
        try:
            while True:
                ev = self.http.next_event()
                if isinstance(ev, RequestHead):
                    self.xid = server.receive_request(ev.method, ev.target, ev.headers, now=trio.current_time())
                    conns[self.xid] = self
                elif isinstance(ev, bytes):
                    server.receive_body(self.xid, ev)
                elif ev is END:
                    server.receive_end(self.xid, now=trio.current_time())
                else:  # NEED_DATA, or PAUSED until this response ends
                    return
        except Http11Error as exc:  # a malformed request: answer it (unless a response began), close
            if self.xid == -1:
                self.out.send_nowait(b"HTTP/1.1 %d \r\ncontent-length: 0\r\nconnection: close\r\n\r\n" % exc.status_hint)
            self.out.send_nowait(None)

def pump() -> None:  # route the core's output: bytes to connections, requests to the app
    while (ev := server.next_event()) is not None:
        if isinstance(ev, RequestReceived):
            server.respond(ev.rid, **reply(ev), now=trio.current_time())
        elif isinstance(ev, ResponseHead):
            conns[ev.xid].out.send_nowait(conns[ev.xid].http.response_head(ev.status, ev.headers, streaming=ev.streaming))
        elif isinstance(ev, ResponseData):
            conns[ev.xid].out.send_nowait(conns[ev.xid].http.response_data(ev.data))
        elif isinstance(ev, ResponseEnd):
            c = conns.pop(ev.xid)
            c.out.send_nowait(c.http.response_end())
            c.xid = -1
            if ev.close or not c.http.keep_alive:
                c.out.send_nowait(None)
            else:  # the next request may already be buffered (pipelining)
                c.http.start_next_cycle()
                c.feed()
    timer_moved.set()


async def write_out(stream: trio.SocketStream, c: Conn, cancel: trio.CancelScope) -> None:
    with contextlib.suppress(trio.BrokenResourceError):  # the peer is gone: the reader reports it
        async for data in c.queued:
            if data is None:
                break
            await stream.send_all(data)
    cancel.cancel()  # done: stop reading too


async def serve_connection(stream: trio.SocketStream) -> None:
    c = Conn()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(write_out, stream, c, nursery.cancel_scope)
        try:
            async for data in stream:
                c.http.receive_data(bytes(data))  # trio gives bytes: no copy
                c.feed()
                pump()
        except trio.BrokenResourceError:
            pass
        finally:  # the peer hung up: tell the core, which detaches a stream or cancels the request
            if c.xid != -1:
                del conns[c.xid]
                server.connection_lost(c.xid, now=trio.current_time())
                pump()
            c.out.send_nowait(None)


async def timers() -> None:  # heartbeats, session expiry
    global timer_moved
    while True:
        at = server.get_timer()
        with trio.move_on_at(math.inf if at is None else at):
            await timer_moved.wait()
        server.handle_timer(now=trio.current_time())
        pump()
        timer_moved = trio.Event()


async def main(port: int) -> None:
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
    print(f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/mcp", flush=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(timers)
        await trio.serve_listeners(serve_connection, listeners)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 8000)

"""An MCP server on raw asyncio streams: streamcore's sans-IO core and HTTP/1.1 engine, no adapter.

Run ``python examples/asyncio_server.py [PORT]`` (default 8000; 0 picks a free
port); it prints its URL. See ``docs/embedding-asyncio.md``.
"""

from __future__ import annotations

import asyncio
import sys

from app import reply
from streamcore.events import RequestReceived, ResponseData, ResponseEnd, ResponseHead
from streamcore.http11 import END, Http11Connection, Http11Error, RequestHead
from streamcore.server import Server, ServerConfig

MAX_UNSENT = 8 * 1024 * 1024  # bytes a peer may leave unread before we drop it

loop: asyncio.AbstractEventLoop  # set by main()
server = Server(ServerConfig())
conns: dict[int, Conn] = {}  # exchange id -> the connection carrying it
timer: asyncio.TimerHandle | None = None


class Conn:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.http, self.writer, self.xid = Http11Connection(), writer, -1

    def feed(self) -> None:  # hand what the engine has parsed to the core
        try:
            while True:
                ev = self.http.next_event()
                if isinstance(ev, RequestHead):
                    self.xid = server.receive_request(ev.method, ev.target, ev.headers, now=loop.time())
                    conns[self.xid] = self
                elif isinstance(ev, bytes):
                    server.receive_body(self.xid, ev)
                elif ev is END:
                    server.receive_end(self.xid, now=loop.time())
                else:  # NEED_DATA, or PAUSED until this response ends
                    return
        except Http11Error as exc:  # a malformed request: answer it (unless a response began), close
            if self.xid == -1 and not self.writer.is_closing():
                self.writer.write(b"HTTP/1.1 %d \r\ncontent-length: 0\r\nconnection: close\r\n\r\n" % exc.status_hint)
            self.writer.close()

def pump() -> None:  # route the core's output: bytes to connections, requests to the app
    global timer
    while (ev := server.next_event()) is not None:
        if isinstance(ev, RequestReceived):
            server.respond(ev.rid, **reply(ev), now=loop.time())
        elif isinstance(ev, (ResponseHead, ResponseData, ResponseEnd)):
            c = conns[ev.xid]
            if isinstance(ev, ResponseHead):
                c.writer.write(c.http.response_head(ev.status, ev.headers, streaming=ev.streaming))
            elif isinstance(ev, ResponseData):
                c.writer.write(c.http.response_data(ev.data))
            else:
                c.writer.write(c.http.response_end())
                del conns[ev.xid]
                c.xid = -1
                if ev.close or not c.http.keep_alive:
                    c.writer.close()
                else:  # the next request may already be buffered (pipelining)
                    c.http.start_next_cycle()
                    c.feed()
            if c.writer.transport.get_write_buffer_size() > MAX_UNSENT:
                c.writer.transport.abort()
    if timer is not None:
        timer.cancel()
    at = server.get_timer()  # heartbeats, session expiry
    timer = None if at is None else loop.call_at(at, on_timer)


def on_timer() -> None:
    server.handle_timer(now=loop.time())
    pump()


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    c = Conn(writer)
    try:
        while data := await reader.read(65536):
            c.http.receive_data(data)
            c.feed()
            pump()
            await writer.drain()
    except ConnectionError:
        pass
    finally:  # the peer hung up: tell the core, which detaches a stream or cancels the request
        if c.xid != -1:
            del conns[c.xid]
            server.connection_lost(c.xid, now=loop.time())
            pump()
        writer.close()


async def main(port: int) -> None:
    global loop
    loop = asyncio.get_running_loop()
    listener = await asyncio.start_server(serve_connection, "127.0.0.1", port)
    print(f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/mcp", flush=True)
    async with listener:
        await listener.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8000))

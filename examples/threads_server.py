"""An MCP server with a thread per connection (plain ``socket``): streamcore's sans-IO core and HTTP/1.1 engine.

Run ``python examples/threads_server.py [PORT]`` (default 8000; 0 picks a free
port); it prints its URL. See ``docs/embedding-threads.md``.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time

from app import reply
from streamcore.events import RequestReceived, ResponseData, ResponseEnd, ResponseHead
from streamcore.http11 import END, Http11Connection, Http11Error, RequestHead
from streamcore.server import Server, ServerConfig

# The core is not thread-safe: every call into it, and every write, holds this lock.
lock = threading.Condition()
server = Server(ServerConfig())
conns: dict[int, Conn] = {}  # exchange id -> the connection carrying it


class Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.http, self.sock, self.xid, self.closed = Http11Connection(), sock, -1, False

    def feed(self) -> None:  # hand what the engine has parsed to the core
        try:
            while True:
                ev = self.http.next_event()
                if isinstance(ev, RequestHead):
                    self.xid = server.receive_request(ev.method, ev.target, ev.headers, now=time.monotonic())
                    conns[self.xid] = self
                elif isinstance(ev, bytes):
                    server.receive_body(self.xid, ev)
                elif ev is END:
                    server.receive_end(self.xid, now=time.monotonic())
                else:  # NEED_DATA, or PAUSED until this response ends
                    return
        except Http11Error as exc:  # a malformed request: answer it (unless a response began), close
            if self.xid == -1 and not self.closed:
                self.write(b"HTTP/1.1 %d \r\ncontent-length: 0\r\nconnection: close\r\n\r\n" % exc.status_hint)
            self.close()

    def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # the peer is gone: its reader thread reports it
            self.sock.sendall(data)

    def close(self) -> None:  # its reader thread sees EOF, reports and ends
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


def pump() -> None:  # with the lock held: bytes to connections, requests to the app
    while (ev := server.next_event()) is not None:
        if isinstance(ev, RequestReceived):
            server.respond(ev.rid, **reply(ev), now=time.monotonic())
        elif isinstance(ev, ResponseHead):
            conns[ev.xid].write(conns[ev.xid].http.response_head(ev.status, ev.headers, streaming=ev.streaming))
        elif isinstance(ev, ResponseData):
            conns[ev.xid].write(conns[ev.xid].http.response_data(ev.data))
        elif isinstance(ev, ResponseEnd):
            c = conns.pop(ev.xid)
            c.write(c.http.response_end())
            c.xid = -1
            if ev.close or not c.http.keep_alive:
                c.close()
            else:  # the next request may already be buffered (pipelining)
                c.http.start_next_cycle()
                c.feed()
    lock.notify()  # the timer thread re-reads get_timer()


def serve_connection(sock: socket.socket) -> None:
    c = Conn(sock)
    try:
        while data := sock.recv(65536):
            with lock:
                c.http.receive_data(data)
                c.feed()
                pump()
    except OSError:
        pass
    finally:  # the peer hung up: tell the core, which detaches a stream or cancels the request
        with lock:
            if c.xid != -1:
                del conns[c.xid]
                server.connection_lost(c.xid, now=time.monotonic())
                pump()
        sock.close()


def timers() -> None:  # heartbeats, session expiry
    with lock:
        while True:
            at = server.get_timer()
            lock.wait(None if at is None else max(0.0, at - time.monotonic()))
            server.handle_timer(now=time.monotonic())
            pump()


def main(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port))
    print(f"http://127.0.0.1:{listener.getsockname()[1]}/mcp", flush=True)
    threading.Thread(target=timers, daemon=True).start()
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8000)

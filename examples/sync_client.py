"""A synchronous MCP client: streamcore's sans-IO client core over blocking sockets.

``python examples/sync_client.py URL [ERA]`` lists the server's tools and calls
``echo``; ERA is ``modern`` (2026-07-28), ``legacy`` (a session) or ``auto``.
HTTP/1.1 goes through the standard library's ``http.client`` (one blocking
socket per origin); the core decides every request and reads every reply.
See ``docs/embedding-threads.md``.
"""

from __future__ import annotations

import http.client
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from streamcore.client import Client, ClientConfig, HttpAbort, HttpRequest, RequestFailed, RequestResult


class SyncClient:
    def __init__(self, url: str, era: str) -> None:
        self.core = Client(ClientConfig(url=url, era=era))
        self.conns: dict[str, http.client.HTTPConnection] = {}  # origin -> its connection
        self.core.initialize(now=time.monotonic())

    def call(self, method: str, params: Any = None) -> Any:
        """One request, performed to its end: the exchanges the core asks for, one at a time."""
        rid = self.core.send_request(method, params, now=time.monotonic())
        while True:
            for ev in self.core.events():
                if isinstance(ev, RequestResult) and ev.rid == rid:
                    return ev.result
                if isinstance(ev, RequestFailed) and ev.rid == rid:
                    raise ev.error
            out = self.core.data_to_send()
            for item in out:
                self.perform(item)
            if not out:  # nothing to send: the core waits for a deadline (a backoff, a timeout)
                at = self.core.get_timer()
                time.sleep(max(0.0, at - time.monotonic()) if at is not None else 0.0)
                self.core.handle_timer(now=time.monotonic())

    def perform(self, item: HttpRequest | HttpAbort) -> None:
        if isinstance(item, HttpAbort):
            for conn in self.conns.values():
                conn.close()  # http.client reconnects on its next request
            return
        url = urlsplit(item.url)
        conn = self.conns.setdefault(url.netloc, http.client.HTTPConnection(url.netloc, timeout=30))
        try:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in item.headers}
            conn.request(item.method, url.path or "/", body=item.body, headers=headers)
            resp = conn.getresponse()
            got = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in resp.getheaders()]
            self.core.receive_response(item.xid, resp.status, got, now=time.monotonic())
            while data := resp.read1(65536):  # de-chunked; SSE events as they arrive
                self.core.receive_data(item.xid, data, now=time.monotonic())
            resp.close()  # done with it (read1 leaves an empty body open)
            self.core.receive_data(item.xid, b"", now=time.monotonic())
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            self.core.receive_error(item.xid, exc, now=time.monotonic())

    def close(self) -> None:
        self.core.close(now=time.monotonic())  # a DELETE, if there is a session
        for item in self.core.data_to_send():
            self.perform(item)
        for conn in self.conns.values():
            conn.close()


def main(url: str, era: str) -> None:
    client = SyncClient(url, era)
    try:
        tools = client.call("tools/list", {})
        print("tools:", ", ".join(t["name"] for t in tools["tools"]))
        result = client.call("tools/call", {"name": "echo", "arguments": {"text": "hello from the sync client"}})
        print("echo:", result["content"][0]["text"])
    finally:
        client.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "auto")

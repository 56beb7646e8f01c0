"""A reconnect storm behind nginx: 1,000 clients resume at once after an instance dies.

Three ``serve --redis`` instances on one real redis-server behind nginx (the
``docs/deployment.md`` config, ``tests/_nginx.py``); 1,000 sessions, each
with a finished countdown; one instance is killed with SIGKILL; then every
client sends GET + ``Last-Event-ID`` at once (raw asyncio sockets, one
connection each: mind ``ulimit -n``, about 4 descriptors per client here).
All must be served, within a bound. Spec IDs: SRV-RESUME-05/06, RESUME-07.

Runs once per CI pass: under ``STREAMCORE_NO_EXTENSIONS=1`` this module skips
at collection (with that reason, not as a skipped integration test), because
what it tests, the cluster's routing and adoption under load, does not depend
on which codec twin decodes the bytes, and it is the slowest cluster test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from _nginx import nginx_missing
from _redis_server import RedisServer, redis_server  # noqa: F401  (fixture)
from _sse_http import countdown
from streamcore._ext import NO_EXTENSIONS
from test_cluster_failover import Cluster

if NO_EXTENSIONS and os.environ.get("STREAMCORE_NO_EXTENSIONS"):
    pytest.skip("runs once per CI pass: the cluster's routing and adoption under a storm do not depend on "
                "the codec twins", allow_module_level=True)

pytestmark = pytest.mark.integration


# -- the reconnect storm -------------------------------------------------------------------

STORM_CLIENTS = 1000
#: Appended to each instance's Redis URL (empty: the defaults a user gets). Earlier versions of
#: streamcore.redis ran out of redis-py's default pool here; "?max_connections=N" sizes it.
STORM_REDIS_QUERY = os.environ.get("STREAMCORE_STORM_REDIS_QUERY", "")
#: A client told 503 + Retry-After tries again after that many seconds, this many times at most
#: (an instance whose Redis calls time out on a loaded machine fails closed for a moment).
STORM_RETRIES = 5
#: Seconds for all 1,000 resumptions, from the first GET to the last replay: the lease
#: (adoption of the dead instance's sessions) plus the work, with room for a loaded CI machine.
STORM_BOUND = 30.0


def _raise_fd_limit(want: int) -> None:
    """Descriptors for this process and the instances and nginx it starts (they inherit the limit):
    each client here holds one socket, nginx two, the instance one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.fail(f"the storm needs {want} file descriptors; the hard limit is {hard} (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def _http(port: int, head: str, body: bytes = b"", *, until: bytes | None = None,
                timeout: float = 60.0) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP/1.1 request on a new connection; (status, headers, body) read to its end
    (``Connection: close``) or up to ``until``."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no response head within {timeout:g} s") from None
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        data = b""
        while until is None or until not in data:
            left = deadline - asyncio.get_running_loop().time()
            try:
                chunk = await asyncio.wait_for(reader.read(65536), max(left, 0.001))
            except asyncio.TimeoutError:
                raise TimeoutError(f"HTTP {status}, {headers.get('x-upstream')}: no {until!r} within "
                                   f"{timeout:g} s; got {data[-400:]!r}") from None
            if not chunk:
                break
            data += chunk
        return status, headers, data
    finally:
        writer.close()


def _head(method: str, port: int, sid: str | None, body: bytes = b"", last: str | None = None) -> str:
    h = [f"{method} /mcp HTTP/1.1", f"host: 127.0.0.1:{port}", "connection: close",
         "accept: " + ("application/json, text/event-stream" if method == "POST" else "text/event-stream")]
    if body:
        h += ["content-type: application/json", f"content-length: {len(body)}"]
    if sid:
        h += [f"mcp-session-id: {sid}", "mcp-protocol-version: 2025-11-25"]
    if last:
        h.append(f"last-event-id: {last}")
    return "\r\n".join(h) + "\r\n\r\n"


_ID = re.compile(rb"^id: ?(\S+)", re.M)


async def _storm_client_setup(port: int, i: int) -> tuple[str, str, str]:
    """A session and a finished countdown on it: (session id, home upstream, first progress id)."""
    init = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": f"s{i}", "version": "1"}}}).encode()
    st, hs, _ = await _http(port, _head("POST", port, None, init), init)
    assert st == 200, st
    sid, home = hs["mcp-session-id"], hs["x-upstream"]
    note = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
    st, _, _ = await _http(port, _head("POST", port, sid, note), note)
    assert st == 202, st
    call = json.dumps(countdown(2, 3, 0.0)).encode()
    st, _, data = await _http(port, _head("POST", port, sid, call), call)
    assert st == 200 and b"liftoff" in data, (st, data[-300:])
    ids = _ID.findall(data)
    return sid, home, ids[1].decode()  # ids[0] is the priming event; ids[1] the first progress


def test_reconnect_storm_after_an_instance_dies(redis_server: RedisServer, tmp_path: Path) -> None:  # noqa: F811
    """1,000 sessions spread over three instances; one instance is killed; all 1,000 clients
    resume at once (GET + Last-Event-ID through nginx); every one gets its replay (progress 2
    and 3, then the result), all within STORM_BOUND seconds; a 503 with Retry-After is retried as
    it says (a clear, temporary refusal), anything else is a failure."""
    reason = nginx_missing()
    if reason:
        pytest.skip(reason)
    _raise_fd_limit(8 * STORM_CLIENTS)
    c = Cluster(redis_server, tmp_path, worker_connections=4 * STORM_CLIENTS, redis_query=STORM_REDIS_QUERY)
    try:
        port = c.nginx.port

        async def main() -> tuple[float, list[Any], int, int]:
            sem = asyncio.Semaphore(64)

            async def setup(i: int) -> tuple[str, str, str]:
                async with sem:
                    return await _storm_client_setup(port, i)
            clients = await asyncio.gather(*(setup(i) for i in range(STORM_CLIENTS)))
            refused: list[int] = []
            victim = c.instances[0]
            orphans = sum(1 for _, home, _ in clients if home.endswith(f":{victim.port}"))
            victim.kill()
            go = asyncio.Event()

            async def resume(sid: str, home: str, last: str) -> Any:
                await go.wait()
                for _attempt in range(STORM_RETRIES + 1):
                    try:
                        st, hs, data = await _http(port, _head("GET", port, sid, last=last), until=b"liftoff",
                                                   timeout=STORM_BOUND)
                    except TimeoutError as exc:  # say whose: the session and whether its home was killed
                        dead = " (killed)" if home.endswith(f":{victim.port}") else ""
                        raise TimeoutError(f"session {sid[:8]}, home {home}{dead}: {exc}") from None
                    if st != 503 or "retry-after" not in hs:
                        break
                    refused.append(1)  # fail closed for a moment: retry as told (Retry-After)
                    await asyncio.sleep(float(hs["retry-after"]))
                return st, data
            tasks = [asyncio.ensure_future(resume(sid, home, last)) for sid, home, last in clients]
            await asyncio.sleep(0.2)
            t0 = time.monotonic()
            go.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            return time.monotonic() - t0, results, orphans, len(refused)

        took, results, orphans, retried = asyncio.run(main())
        failed = [r for r in results if isinstance(r, BaseException) or r[0] != 200 or b"liftoff" not in r[1]]
        assert not failed, f"{len(failed)} of {STORM_CLIENTS} not served, e.g. {failed[:3]}"
        for _, data in results:  # each replay: progress 2 and 3, then the result, nothing else
            msgs = [json.loads(line[5:]) for line in data.decode().splitlines() if line.startswith("data:")
                    and line[5:].strip()]
            assert [m.get("params", {}).get("progress") for m in msgs[:-1]] == [2, 3], msgs
        assert orphans > 0  # some sessions had their home on the killed instance (adopted)
        assert took < STORM_BOUND, took
        print(f"storm: {STORM_CLIENTS} resumptions in {took:.2f} s ({orphans} adopted from the killed instance, "
              f"{retried} 503 + Retry-After answers retried)")
    finally:
        c.stop()

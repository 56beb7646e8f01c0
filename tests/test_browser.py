"""The browser client page (streamcore/web/index.html) in a real headless Chromium.

Chromium is Debian's ``chromium`` (``.ci/apt.d/browser.txt``), driven over the
DevTools protocol directly: a page target's WebSocket, ``Runtime.evaluate`` and
``Page.captureScreenshot``, with the ``websockets`` client the test extra
already has. Nothing downloads a browser, and no driver has to match the
browser's version. One Chromium serves the whole module.

The servers are real ``python -m streamcore serve`` processes, stopped by pid.
Each test drives the page as a user would (its own buttons and functions)
and reads what it shows. Requirement IDs: SEC-02 (a present, not allowed
Origin gets 403), SRV-GET-* (the listening stream), SRV-SUB-01 (listen
streams, 2026-07-28), LIFE-* (initialize), SRV-SESS-04 (404 for an unknown
session, after which the client re-initializes).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from streamcore.demo import TOOLS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("STREAMCORE_CHROMIUM") or shutil.which("chromium") or "chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", "--window-size=1100,900", "--hide-scrollbars",
         "--ignore-certificate-errors"]  # the TLS test's certificate comes from a throwaway CA (trustme)
ERAS = ("2025-11-25", "2026-07-28")
SCREENSHOT = ROOT / "docs" / "img" / "browser-page.png"


class Cdp:
    """A minimal DevTools-protocol client for one page target."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(ws_url, max_size=None, open_timeout=10))
        self.next_id = 0

    def call(self, method: str, wait: float = 30.0, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + wait
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg["result"]
                return result

    def eval(self, expr: str, timeout: float = 30.0) -> Any:
        """The value of a JavaScript expression (awaited if it is a promise)."""
        r = self.call("Runtime.evaluate", wait=timeout + 5, expression=expr, awaitPromise=True,
                      returnByValue=True, timeout=int(timeout * 1000))
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise AssertionError(f"{expr[:80]!r}: {d.get('exception', {}).get('description') or d.get('text')}")
        return r["result"].get("value")

    def wait(self, cond: str, timeout: float = 15.0) -> Any:
        """Poll a JavaScript condition until truthy; its value (AssertionError with the page state if not)."""
        js = (f"(async () => {{ const end = Date.now() + {int(timeout * 1000)};"
              f" for (;;) {{ let v; try {{ v = ({cond}); }} catch (e) {{ v = undefined; }}"
              f" if (v) return v; if (Date.now() > end) return null;"
              f" await new Promise(r => setTimeout(r, 25)); }} }})()")
        v = self.eval(js, timeout + 5)
        if not v:
            state = self.eval("JSON.stringify({status: document.getElementById('status')?.textContent,"
                              " log: [...document.querySelectorAll('#log li')].map(l => l.textContent).slice(0, 8)})")
            raise AssertionError(f"timed out waiting for {cond}: {state}")
        return v

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete' && window.mcp !== undefined")

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="module")
def page() -> Iterator[Cdp]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    profile = tempfile.mkdtemp(prefix="sc-chromium-")
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cdp = None
    try:
        active = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and active.read_text().count("\n") >= 1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Chromium did not start (exit {proc.poll()})")
            time.sleep(0.05)
        port = int(active.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        target = next(t for t in targets if t.get("type") == "page")
        cdp = Cdp(target["webSocketDebuggerUrl"])
        cdp.call("Page.enable")
        cdp.call("Runtime.enable")
        yield cdp
    finally:
        if cdp is not None:
            cdp.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(profile, ignore_errors=True)


class Server:
    """``python -m streamcore serve`` on loopback, stopped by pid; restartable on the same port."""

    def __init__(self, *args: str, port: int = 0) -> None:
        self.args = args
        self.log = tempfile.NamedTemporaryFile(prefix="sc-serve-", suffix=".log", delete=False)
        self.proc: subprocess.Popen[str] | None = None
        self.port = port
        self.scheme = "http"
        self.start()

    def start(self) -> None:
        self.proc = proc = subprocess.Popen(
            [sys.executable, "-m", "streamcore", "serve", "--port", str(self.port), "--grace", "0.5",
             "--access-log", *self.args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(20):
            self.stop()
            raise RuntimeError(f"server did not start: {self.access()}")
        line = proc.stdout.readline()
        m = re.search(r"(https?)://127\.0\.0\.1:(\d+)/mcp", line)
        if m is None:
            self.stop()
            raise RuntimeError(f"server did not start: {line!r} {self.access()}")
        self.scheme, self.port = m.group(1), int(m.group(2))

    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def access(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def close(self) -> None:
        self.stop()
        self.log.close()
        os.unlink(self.log.name)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        yield started
    finally:
        for s in started:
            s.close()


def _call(page: Cdp, tool: str, args: dict[str, Any]) -> Any:
    """Choose a tool in the page's form and press Call; the page's result text."""
    page.eval(f"document.getElementById('tool').value = {json.dumps(tool)};"
              f" document.getElementById('args').value = {json.dumps(json.dumps(args))}; true")
    page.eval("window._done = null; document.getElementById('result').textContent = '';"
              " window._call = mcp.callTool()"
              ".then(r => window._done = r, e => window._done = {error: String(e)}); true")
    done = page.wait("window._done", 20)
    assert "error" not in done, done
    return page.eval("document.getElementById('result').textContent")


def _notifications(page: Cdp) -> int:
    return int(page.eval("mcp.notifications.filter(m => m.method === 'notifications/tools/list_changed').length"))


@pytest.mark.parametrize("era", ERAS)
def test_page_lists_calls_listens_and_recovers(page: Cdp, servers: list[Server], era: str) -> None:
    """Served at / by ``serve``: the page lists the demo's tools, calls countdown with its
    progress bar advancing (notifications/progress on the POST stream), shows an
    announce notification from the listening stream live, and after the server
    process is restarted on the same port it recovers (2025-11-25: the GET stream
    gets 404 for the lost session, the page re-initializes; 2026-07-28: it listens
    again) and works as before."""
    srv = Server()
    servers.append(srv)
    page.open(f"{srv.origin}/?era={era}")
    page.wait("document.getElementById('status').dataset.state === 'connected' && mcp.listening")
    names = page.eval("[...document.querySelectorAll('#tools li code')].map(c => c.textContent)")
    assert names == [t["name"] for t in TOOLS]
    if era == ERAS[0]:
        assert page.eval("mcp.sessionId"), "no Mcp-Session-Id"
    else:
        assert page.eval("mcp.sessionId") is None  # no sessions in the per-request era

    # The call: the bar is seen between empty and full while the tool runs, then full.
    page.eval("document.getElementById('tool').value = 'countdown';"
              " document.getElementById('args').value = '{\"n\": 12, \"delay\": 0.06}';"
              " window._done = null; window._call = mcp.callTool().then(r => window._done = r); true")
    midway = page.wait("(() => { const p = document.getElementById('progress');"
                       " return p.value > 0 && p.value < p.max && p.value; })()")
    assert 0 < midway < 12
    page.wait("window._done")
    assert page.eval("document.getElementById('result').textContent") == "liftoff"
    assert page.eval("mcp.progress") == [[i, 12] for i in range(1, 13)]
    assert page.eval("[document.getElementById('progress').value, document.getElementById('progress').max]") == [12, 12]
    if era == ERAS[0]:
        shot = page.call("Page.captureScreenshot", format="png")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    # A refused call shows the server's reason (-32602), and the page stays usable.
    page.eval("document.getElementById('args').value = '{\"n\": -1}';"
              " window._done = null; mcp.callTool().catch(e => window._done = String(e)); true")
    assert "arguments.n must be at least 0" in page.wait("window._done")
    assert page.eval("document.getElementById('result').textContent").startswith("error: tools/call: Invalid arguments")

    # A notification unrelated to any request arrives on the listening stream.
    assert _notifications(page) == 0
    assert "announced" in _call(page, "announce", {})
    page.wait("mcp.notifications.some(m => m.method === 'notifications/tools/list_changed')")
    page.wait("[...document.querySelectorAll('#notifications li')]"
              ".some(li => li.textContent.includes('notifications/tools/list_changed'))")

    # Restart the server process on the same port; the page notices and recovers.
    session = page.eval("mcp.sessionId")
    srv.stop()
    page.wait("document.getElementById('status').dataset.state === 'reconnecting'")
    srv.start()
    page.wait("document.getElementById('status').dataset.state === 'connected' && mcp.listening"
              " && mcp.reconnects >= 1", 20)
    if era == ERAS[0]:
        assert page.eval("mcp.sessions") == 2 and page.eval("mcp.sessionId") not in (None, session)
        # The lost session was refused 404 on the GET (SRV-SESS-04) with Last-Event-ID sent.
        assert re.search(r'"GET /mcp" 404', srv.access())
    before = _notifications(page)
    assert _call(page, "echo", {"text": "after the restart"}) == "after the restart"
    _call(page, "announce", {})
    page.wait(f"mcp.notifications.filter(m => m.method === 'notifications/tools/list_changed').length > {before}")


@pytest.mark.parametrize("era", ERAS)
def test_cross_origin_page_allowed_and_refused(page: Cdp, servers: list[Server], era: str) -> None:
    """A page from a second origin (another port) calls an endpoint that allows it with
    ``--cors-origin``: preflights pass, Mcp-Session-Id is readable, progress and the
    listening stream work. The same page from an origin not allowed (localhost
    instead of 127.0.0.1: same host check as far as the core goes, a different
    origin) fails in the browser, and the server answered 403 (SEC-02): to the
    preflight, and to a simple request that needs none."""
    host = Server()  # serves the page from its own origin
    servers.append(host)
    api = Server("--cors-origin", host.origin, "--no-page")
    servers.append(api)
    endpoint = f"{api.origin}/mcp"
    with pytest.raises(urllib.error.HTTPError) as nopage:  # serve --no-page: the endpoint only
        urllib.request.urlopen(f"{api.origin}/", timeout=10)
    assert nopage.value.code == 404
    page.open(f"{host.origin}/?era={era}&endpoint={endpoint}")
    page.wait("document.getElementById('status').dataset.state === 'connected' && mcp.listening")
    assert page.eval("mcp.endpoint") == endpoint and page.eval("location.origin") == host.origin
    assert page.eval("mcp.tools.length") == len(TOOLS)
    if era == ERAS[0]:
        assert page.eval("mcp.sessionId")  # read through Access-Control-Expose-Headers
    assert _call(page, "countdown", {"n": 3, "delay": 0.02}) == "liftoff"
    assert page.eval("mcp.progress.length") == 3
    _call(page, "announce", {})
    page.wait("mcp.notifications.some(m => m.method === 'notifications/tools/list_changed')")
    assert re.search(r'"OPTIONS /mcp" 204', api.access())
    assert not re.search(r'/mcp" 403', api.access())
    assert "DELETE" not in api.access()

    # The refused origin: http://localhost:PORT is not http://127.0.0.1:PORT.
    refused = f"http://localhost:{host.port}"
    page.open(f"{refused}/?era={era}&endpoint={endpoint}")
    page.wait("document.getElementById('status').dataset.state === 'error'")
    if era == ERAS[0]:  # leaving the first page ended its session (DELETE, preflighted, keepalive)
        deadline = time.monotonic() + 5
        while not re.search(r'"DELETE /mcp" 2\d\d', api.access()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert re.search(r'"DELETE /mcp" 2\d\d', api.access()), api.access()
    assert page.eval("location.origin") == refused
    assert "Failed to fetch" in page.eval("mcp.errors[0]")
    assert re.search(r'"OPTIONS /mcp" 403', api.access())
    # A simple request (text/plain, no custom header) is sent without a preflight:
    # the server refuses it itself, and the browser hides the answer from the page.
    outcome = page.eval(f"fetch({json.dumps(endpoint)}, {{method: 'POST', headers: {{'Content-Type': 'text/plain'}},"
                        " body: '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}'})"
                        ".then(r => 'read ' + r.status, e => e.name)")
    assert outcome == "TypeError"
    deadline = time.monotonic() + 5
    while not re.search(r'"POST /mcp" 403', api.access()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert re.search(r'"POST /mcp" 403', api.access())


def test_page_over_tls_and_http2(page: Cdp, servers: list[Server], tmp_path: Path) -> None:
    """``serve --certfile``: Chromium loads the page and calls the endpoint over h2 (ALPN), where
    the pages hook and the listening stream work as on HTTP/1.1."""
    trustme = pytest.importorskip("trustme")
    pem = tmp_path / "server.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    srv = Server("--certfile", str(pem))
    servers.append(srv)
    assert srv.origin.startswith("https://")
    page.open(f"{srv.origin}/")
    page.wait("document.getElementById('status').dataset.state === 'connected' && mcp.listening")
    assert page.eval("performance.getEntriesByType('navigation')[0].nextHopProtocol") == "h2"
    assert page.eval("mcp.tools.length") == len(TOOLS)
    assert _call(page, "countdown", {"n": 4, "delay": 0.02}) == "liftoff"
    assert page.eval("mcp.progress") == [[i, 4] for i in range(1, 5)]
    _call(page, "announce", {})
    page.wait("mcp.notifications.some(m => m.method === 'notifications/tools/list_changed')")

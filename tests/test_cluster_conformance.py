"""The official MCP conformance suite through nginx (the ``docs/deployment.md`` config).

The same three pinned runs as ``tests/test_conformance.py`` (0.1.16;
0.2.0-alpha.12 at 2025-11-25 and at 2026-07-28), the same server (the
conformance "everything" app, one instance on the memory stores), the same
verdicts (``_check_scenario`` and ``baseline.json``), but the suite talks to
nginx, which proxies to the instance. Every scenario that passes against
the instance must pass through nginx: no buffering that delays the SSE
scenarios, Host passed as sent (dns-rebinding-protection), DELETE and
Last-Event-ID forwarded (session lifecycle, server-sse-polling).

Run once per CI pass: under ``STREAMCORE_NO_EXTENSIONS=1`` this module skips,
since what it adds over ``tests/test_conformance.py`` (which runs under both
twins) is the proxy in between, and nothing of nginx's path depends on which
twin decodes the bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

import test_conformance as conf
from _nginx import Nginx, nginx_missing
from streamcore._ext import NO_EXTENSIONS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

if NO_EXTENSIONS and os.environ.get("STREAMCORE_NO_EXTENSIONS"):
    pytest.skip("runs once per CI pass: the proxy path tested here does not depend on the codec twins "
                "(tests/test_conformance.py runs the suites under both)", allow_module_level=True)


def _run(name: str, base: Path) -> conf.SuiteRun:
    import subprocess

    spec = conf.SUITES[name]
    out, log = base / "results", base / "server.log"
    out.mkdir()
    proc, port = conf._start_server(log, "app")
    try:
        with Nginx([port]) as ng:
            run = subprocess.run(
                [str(conf.NODE), str(spec.cli), "server", "--url", ng.url, *spec.args, "-o", str(out)],
                cwd=conf.HERE, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=conf.SUITE_TIMEOUT,
            )
            errors = ng.error_log()
    finally:
        conf._stop(proc)
    return conf.SuiteRun(conf._read_results(out), run, conf._tail(log) + "\nnginx error.log:\n" + errors)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, conf.SuiteRun]]:
    reason = nginx_missing() or conf._missing_reason()
    if reason:
        pytest.skip(reason)

    class _Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, key: str) -> conf.SuiteRun:
            run = _run(key, tmp_path_factory.mktemp(f"nginx-{key.replace('@', '-')}"))
            self[key] = run
            return run

    yield _Lazy()


@pytest.mark.parametrize(("suite_name", "scenario"), conf._params())
def test_scenario_through_nginx(runs: dict[str, conf.SuiteRun], suite_name: str, scenario: str) -> None:
    conf._check_scenario(runs[suite_name], suite_name, scenario)

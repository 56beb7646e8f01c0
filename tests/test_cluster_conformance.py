"""The official MCP conformance suite through nginx (the ``docs/deployment.md`` config).

The same three pinned runs as ``tests/test_conformance.py`` (0.1.16;
0.2.0-alpha.12 at 2025-11-25 and at 2026-07-28), the same app (the
conformance "everything" app), the same verdicts (``_check_scenario`` and
``baseline.json``), but the suite talks to nginx, in front of

* ``one``: one instance on the memory stores (``run_server.py``);
* ``three``: three instances on one real redis-server
  (``tests/cluster_conformance_server.py``), round-robin with no affinity, so
  consecutive requests of one session land on different instances.

Every scenario that passes against one instance must pass both ways: no
buffering that delays the SSE scenarios, Host passed as sent
(dns-rebinding-protection), DELETE and Last-Event-ID forwarded (session
lifecycle, server-sse-polling), and, with three, a session, its streams, its
server-to-client requests (elicitation, sampling) and MRTR ``requestState``
served by whichever instance a request reaches.

Run once per CI pass: under ``STREAMCORE_NO_EXTENSIONS=1`` this module skips,
since what it adds over ``tests/test_conformance.py`` (which runs under both
twins) is the proxy in between, and nothing of nginx's path depends on which
twin decodes the bytes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

import test_conformance as conf
from _nginx import Instance, Nginx, nginx_missing
from _redis_server import REDIS_SERVER, RedisServer
from streamcore._ext import NO_EXTENSIONS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLUSTER_APP = Path(__file__).resolve().parent / "cluster_conformance_server.py"

if NO_EXTENSIONS and os.environ.get("STREAMCORE_NO_EXTENSIONS"):
    pytest.skip("runs once per CI pass: the proxy path tested here does not depend on the codec twins "
                "(tests/test_conformance.py runs the suites under both)", allow_module_level=True)


def _run(name: str, base: Path, topology: str) -> conf.SuiteRun:
    import subprocess

    spec = conf.SUITES[name]
    out, log = base / "results", base / "server.log"
    out.mkdir()
    procs: list[Instance] = []
    redis = None
    try:
        if topology == "one":
            procs.append(Instance(base, argv=conf.SERVERS["app"]))
        else:
            redis = RedisServer()
            redis.start()
            for _ in range(3):
                procs.append(Instance(base, argv=[sys.executable, str(CLUSTER_APP), "--redis", redis.url]))
        with Nginx([p.port for p in procs]) as ng:
            run = subprocess.run(
                [str(conf.NODE), str(spec.cli), "server", "--url", ng.url, *spec.args, "-o", str(out)],
                cwd=conf.HERE, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=conf.SUITE_TIMEOUT,
            )
            errors = ng.error_log()
            served = ng.served_by()
        # Round-robin reached every instance (a session's requests spread over them).
        assert sorted(served) == sorted(p.port for p in procs), served
    finally:
        for p in procs:
            p.stop()
        if redis is not None:
            redis.close()
    logs = "\n".join(p.text()[-2000:] for p in procs)
    return conf.SuiteRun(conf._read_results(out), run, logs + "\nnginx error.log:\n" + errors)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, conf.SuiteRun]]:
    reason = nginx_missing() or conf._missing_reason() or (None if REDIS_SERVER else "redis-server is not installed")
    if reason:
        pytest.skip(reason)

    class _Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, key: str) -> conf.SuiteRun:
            topology, _, suite = key.partition(":")
            run = _run(suite, tmp_path_factory.mktemp(f"nginx-{key.replace('@', '-').replace(':', '-')}"),
                       topology)
            self[key] = run
            return run

    yield _Lazy()


@pytest.mark.parametrize("topology", ["one", "three"])
@pytest.mark.parametrize(("suite_name", "scenario"), conf._params())
def test_scenario_through_nginx(runs: dict[str, conf.SuiteRun], topology: str, suite_name: str,
                                scenario: str) -> None:
    conf._check_scenario(runs[f"{topology}:{suite_name}"], suite_name, scenario)

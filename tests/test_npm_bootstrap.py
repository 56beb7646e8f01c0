"""The test session's npm bootstrap (``tests/_npm_bootstrap.py``, called from ``conftest.py``).

The unit tests drive :func:`ensure_installed` with a stand-in ``npm`` (a small
Python script that installs what the lock file says, or fails on request) so
that every branch runs without the network; one integration test runs the real
``npm ci`` on a temporary copy of ``tests/interop``'s lock file.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from _npm_bootstrap import NO_NPM, ensure_installed, stale_packages

HERE = Path(__file__).resolve().parent

_LOCK = {
    "name": "demo",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {
        "": {"name": "demo", "dependencies": {"alpha": "1.0.0", "@scope/beta": "2.1.0"}},
        "node_modules/alpha": {"version": "1.0.0"},
        "node_modules/@scope/beta": {"version": "2.1.0"},
        "node_modules/alpha/node_modules/gamma": {"version": "0.3.0"},
        "node_modules/other-platform": {"version": "9.9.9", "optional": True},
    },
}

# A stand-in npm: `npm ci` installs every non-optional package of the lock
# (a package.json with its version), and logs each call; FAKE_NPM_EXIT makes it
# fail, FAKE_NPM_SKEW makes it install a wrong version.
_FAKE_NPM = """\
import json, os, pathlib, shutil, sys
here = pathlib.Path.cwd()
with open(os.environ["FAKE_NPM_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
if os.environ.get("FAKE_NPM_EXIT"):
    print("npm ERR! simulated failure", file=sys.stderr)
    sys.exit(int(os.environ["FAKE_NPM_EXIT"]))
shutil.rmtree(here / "node_modules", ignore_errors=True)
lock = json.loads((here / "package-lock.json").read_text())
for path, entry in lock["packages"].items():
    if not path or entry.get("optional"):
        continue
    d = here / path
    d.mkdir(parents=True, exist_ok=True)
    version = "0.0.0-skew" if os.environ.get("FAKE_NPM_SKEW") else entry["version"]
    (d / "package.json").write_text(json.dumps({"version": version}))
"""


def _project(tmp: Path) -> Path:
    proj = tmp / "proj"
    proj.mkdir()
    (proj / "package.json").write_text(json.dumps({"name": "demo", "private": True}))
    (proj / "package-lock.json").write_text(json.dumps(_LOCK))
    return proj


def _fake_npm(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    script = tmp / "npm"
    script.write_text(f"#!{sys.executable}\n{_FAKE_NPM}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log = tmp / "npm.log"
    log.write_text("")
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    return str(script), log


def _install(proj: Path, versions: dict[str, str]) -> None:
    for path, version in versions.items():
        d = proj / path
        d.mkdir(parents=True, exist_ok=True)
        (d / "package.json").write_text(json.dumps({"version": version}))


def test_stale_packages_compares_every_locked_version(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    assert stale_packages(proj) == ["node_modules"]
    _install(proj, {"node_modules/alpha": "1.0.0"})
    assert stale_packages(proj) == ["node_modules/@scope/beta", "node_modules/alpha/node_modules/gamma"]
    _install(proj, {"node_modules/@scope/beta": "2.1.0", "node_modules/alpha/node_modules/gamma": "0.3.0"})
    assert stale_packages(proj) == []  # the optional package may be absent
    _install(proj, {"node_modules/other-platform": "1.0.0"})
    assert stale_packages(proj) == ["node_modules/other-platform"]  # present, so it must match
    _install(proj, {"node_modules/other-platform": "9.9.9", "node_modules/alpha": "1.0.1"})
    assert stale_packages(proj) == ["node_modules/alpha"]


def test_stale_packages_rejects_a_lock_without_packages(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    (proj / "package-lock.json").write_text(json.dumps({"lockfileVersion": 1, "dependencies": {}}))
    with pytest.raises(ValueError, match="lockfileVersion 2 or 3"):
        stale_packages(proj)
    (proj / "package-lock.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read"):
        stale_packages(proj)


def test_installs_when_missing_then_is_a_no_op(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = _project(tmp_path)
    npm, log = _fake_npm(tmp_path, monkeypatch)
    first = ensure_installed(proj, npm=npm)
    assert first.action == "installed", first.detail
    assert log.read_text().splitlines() == ["ci --no-audit --no-fund"]
    assert stale_packages(proj) == []
    second = ensure_installed(proj, npm=npm)
    assert second.action == "current"
    assert log.read_text().splitlines() == ["ci --no-audit --no-fund"]  # npm was not run again


def test_reinstalls_when_the_lock_moves_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = _project(tmp_path)
    npm, log = _fake_npm(tmp_path, monkeypatch)
    assert ensure_installed(proj, npm=npm).action == "installed"
    lock = json.loads((proj / "package-lock.json").read_text())
    lock["packages"]["node_modules/alpha"]["version"] = "1.1.0"
    (proj / "package-lock.json").write_text(json.dumps(lock))
    assert ensure_installed(proj, npm=npm).action == "installed"
    assert len(log.read_text().splitlines()) == 2
    assert json.loads((proj / "node_modules/alpha/package.json").read_text())["version"] == "1.1.0"


def test_no_npm_is_one_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = _project(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    res = ensure_installed(proj)
    assert res.action == "no-npm"
    assert res.detail == NO_NPM
    assert not (proj / "node_modules").exists()


def test_current_folder_needs_no_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = _project(tmp_path)
    _install(proj, {p: e["version"] for p, e in _LOCK["packages"].items() if p and not e.get("optional")})
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert ensure_installed(proj).action == "current"


def test_failed_install_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = _project(tmp_path)
    npm, _ = _fake_npm(tmp_path, monkeypatch)
    monkeypatch.setenv("FAKE_NPM_EXIT", "3")
    res = ensure_installed(proj, npm=npm)
    assert res.action == "failed"
    assert "exited 3" in res.detail and "simulated failure" in res.detail


def test_install_that_leaves_a_wrong_version_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = _project(tmp_path)
    npm, _ = _fake_npm(tmp_path, monkeypatch)
    monkeypatch.setenv("FAKE_NPM_SKEW", "1")
    res = ensure_installed(proj, npm=npm)
    assert res.action == "failed"
    assert "unlike the lock" in res.detail


def test_hung_install_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = _project(tmp_path)
    script = tmp_path / "slow-npm"
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    res = ensure_installed(proj, npm=str(script), timeout=0.5)
    assert res.action == "failed"
    assert "took over" in res.detail


@pytest.mark.integration
@pytest.mark.npm_packages("conformance", "interop")
def test_the_repository_folders_are_current() -> None:
    """After the session's bootstrap (this file needs both folders), both match their lock files."""
    for folder in ("conformance", "interop"):
        assert stale_packages(HERE / folder) == [], folder


@pytest.mark.integration
@pytest.mark.slow
def test_real_npm_ci_into_a_temp_copy(tmp_path: Path) -> None:
    """The real npm installs ``tests/interop``'s lock into a fresh folder, and a second call is a no-op."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(NO_NPM)
    proj = tmp_path / "interop"
    proj.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy(HERE / "interop" / name, proj / name)
    env_before = dict(os.environ)
    res = ensure_installed(proj, npm=npm)
    assert res.action == "installed", res.detail
    assert (proj / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json").is_file()
    assert ensure_installed(proj, npm=npm).action == "current"
    assert dict(os.environ) == env_before

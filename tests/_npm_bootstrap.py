"""Install the pinned npm packages the integration tests need, from their lock files.

The conformance suite (``tests/conformance``) and the TypeScript SDK
(``tests/interop``) are npm packages pinned by a ``package-lock.json``. The
test session calls :func:`ensure_installed` for each folder whose tests were
collected (``tests/conftest.py``):

* ``node_modules`` is *current* when every package the lock file names is
  installed at the locked version (each ``node_modules/.../package.json`` is
  read; an optional package, such as another platform's binary, may be
  absent). Modification times are not used: a fresh clone or a ``git
  checkout`` gives the lock file an arbitrary one.
* Otherwise ``npm ci`` runs in the folder (it removes ``node_modules`` and
  installs exactly what the lock file says), bounded by ``timeout`` seconds.
* When ``npm`` is not on PATH, nothing is installed and the caller skips the
  tests that need the folder with :data:`NO_NPM` as the one reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NO_NPM", "NpmResult", "stale_packages", "ensure_installed", "NPM_CI_TIMEOUT"]

#: The one skip reason, spelled one way, for every test that needs npm packages.
NO_NPM = "npm is not on PATH: the conformance and TypeScript-interop tests need it (install Node.js with npm)"

#: Seconds one ``npm ci`` may take (a cold install of the conformance folder
#: downloads about 40 MB, Node.js itself included).
NPM_CI_TIMEOUT = 600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class NpmResult:
    """What :func:`ensure_installed` did for one folder.

    ``action`` is ``"current"`` (nothing to do), ``"installed"`` (``npm ci``
    ran and succeeded), ``"no-npm"`` (npm is not on PATH) or ``"failed"``
    (``npm ci`` failed or timed out; ``detail`` has the tail of its output).
    """

    folder: Path
    action: str
    detail: str = ""


def _version_of(pkg_json: Path) -> str | None:
    try:
        meta = json.loads(pkg_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    v = meta.get("version") if isinstance(meta, dict) else None
    return v if isinstance(v, str) else None


def stale_packages(folder: Path) -> list[str]:
    """The lock file's packages that are missing or at another version in ``folder/node_modules``.

    Empty means current. A folder without ``node_modules`` reports
    ``["node_modules"]``; an unreadable lock file raises ``ValueError``.
    """
    lock_path = folder / "package-lock.json"
    try:
        lock = json.loads(lock_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{lock_path}: cannot read the lock file: {exc}") from exc
    packages = lock.get("packages") if isinstance(lock, dict) else None
    if not isinstance(packages, dict):
        raise ValueError(f"{lock_path}: no 'packages' table (lockfileVersion 2 or 3 is needed)")
    if not (folder / "node_modules").is_dir():
        return ["node_modules"]
    stale = []
    for path, entry in packages.items():
        if not path or not isinstance(entry, dict) or entry.get("link"):
            continue  # the root project itself, or a symlinked workspace
        want = entry.get("version")
        have = _version_of(folder / path / "package.json")
        if have is None and entry.get("optional"):
            continue  # e.g. another platform's binary
        if have != want:
            stale.append(path)
    return stale


def ensure_installed(folder: Path, *, npm: str | None = None, timeout: float = NPM_CI_TIMEOUT) -> NpmResult:
    """Run ``npm ci`` in ``folder`` unless its ``node_modules`` already matches the lock file.

    ``npm`` is the npm executable (default: the one on PATH). Never raises for
    a failed install: the result says what happened.
    """
    if not stale_packages(folder):
        return NpmResult(folder=folder, action="current")
    exe = npm if npm is not None else shutil.which("npm")
    if exe is None:
        return NpmResult(folder=folder, action="no-npm", detail=NO_NPM)
    env = dict(os.environ)
    env.setdefault("npm_config_fund", "false")
    env.setdefault("npm_config_audit", "false")
    env.setdefault("npm_config_update_notifier", "false")
    try:
        run = subprocess.run(
            [exe, "ci", "--no-audit", "--no-fund"], cwd=folder, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return NpmResult(folder=folder, action="failed", detail=f"npm ci in {folder.name} took over {timeout:.0f} s")
    except OSError as exc:
        return NpmResult(folder=folder, action="failed", detail=f"npm ci in {folder.name} could not start: {exc}")
    if run.returncode != 0:
        tail = (run.stdout + run.stderr)[-2000:]
        return NpmResult(folder=folder, action="failed", detail=f"npm ci in {folder.name} exited {run.returncode}:\n{tail}")
    left = stale_packages(folder)
    if left:
        return NpmResult(
            folder=folder, action="failed",
            detail=f"npm ci in {folder.name} succeeded but left {len(left)} package(s) unlike the lock: {left[:5]}",
        )
    return NpmResult(folder=folder, action="installed")

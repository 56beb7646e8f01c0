"""Shared test machinery.

* Every test that takes an ``impl`` argument runs once per twin of the codec
  its module names in ``CODEC`` (``py`` always, ``c`` when built). This is done
  in ``pytest_generate_tests`` rather than with a fixture because hypothesis
  rejects function-scoped fixtures inside ``@given`` tests.
* Tests that need an outside program are marked ``integration``. With
  ``STREAMCORE_REQUIRE_INTEGRATION=1`` (CI sets it) a skip of such a test is
  reported as a failure, so a missing service can never pass silently.
* npm bootstrap: tests that need the pinned npm packages of
  ``tests/conformance`` or ``tests/interop`` (``NPM_FOLDERS`` below, or the
  ``npm_packages("folder", ...)`` marker) get them installed from the lock
  file once per session, before the first such test runs (``npm ci``, only
  when ``node_modules`` does not match the lock; see ``_npm_bootstrap``).
  Without ``npm`` on PATH they skip with the one reason ``NO_NPM``; a failed
  install fails them with npm's output.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

from _npm_bootstrap import NO_NPM, NpmResult, ensure_installed  # noqa: E402
from _twins import twin_id, twins  # noqa: E402

REQUIRE_INTEGRATION = os.environ.get("STREAMCORE_REQUIRE_INTEGRATION") == "1"

# Hypothesis: no per-example deadline (this is a shared 2-core machine, and a
# slow example is not a wrong one). The "ci" profile (HYPOTHESIS_PROFILE=ci,
# set by .ci/run) is derandomized so that CI is reproducible; local runs keep
# exploring new examples.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


TESTS = Path(__file__).resolve().parent

#: Test files -> the npm folders every test in them needs.
NPM_FOLDERS: dict[str, tuple[str, ...]] = {
    "test_conformance.py": ("conformance",),
    "test_conformance_client.py": ("conformance",),
    "test_interop_ts.py": ("interop",),
}
#: Tests in mixed files (most of their tests need no npm package) -> the folders they need.
NPM_TESTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("test_client_interop.py", "test_typescript_sdk_session"): ("interop",),
    ("test_client_modern_interop.py", "test_typescript_sdk_server_negotiates_legacy"): ("interop",),
    ("test_client_modern_interop.py", "test_cli_falls_back_against_a_legacy_server"): ("interop",),
}
_npm_results: dict[str, NpmResult] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "npm_packages(*folders): needs the pinned npm packages of tests/<folder> (installed by conftest)"
    )


def _npm_folders(item: pytest.Item) -> tuple[str, ...]:
    marker = item.get_closest_marker("npm_packages")
    if marker is not None:
        return tuple(marker.args)
    fname = item.path.name
    func = getattr(item, "originalname", item.name)
    return NPM_FOLDERS.get(fname, ()) + NPM_TESTS.get((fname, func), ())


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Install (``npm ci``) each npm folder the collected tests need, once, before any test runs."""
    needed = sorted({f for item in items for f in _npm_folders(item)})
    for folder in needed:
        if folder not in _npm_results:
            _npm_results[folder] = ensure_installed(TESTS / folder)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for folder in _npm_folders(item):
        res = _npm_results.get(folder)
        if res is None:
            res = _npm_results[folder] = ensure_installed(TESTS / folder)
        if res.action == "no-npm":
            pytest.skip(NO_NPM)
        if res.action == "failed":
            pytest.fail(f"installing the pinned npm packages of tests/{folder} failed: {res.detail}", pytrace=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "impl" in metafunc.fixturenames:
        codec = getattr(metafunc.module, "CODEC", None)
        if codec is None:
            raise pytest.UsageError(f"{metafunc.module.__name__} uses `impl` but sets no CODEC")
        mods = twins(codec)
        metafunc.parametrize("impl", mods, ids=[twin_id(m) for m in mods])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_INTEGRATION and report.skipped and item.get_closest_marker("integration"):
        report.outcome = "failed"
        report.longrepr = (
            f"integration test skipped but STREAMCORE_REQUIRE_INTEGRATION=1: {report.longrepr}"
        )
    return None

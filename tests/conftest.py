"""Shared test machinery.

* Every test that takes an ``impl`` argument runs once per twin of the codec
  its module names in ``CODEC`` (``py`` always, ``c`` when built). This is done
  in ``pytest_generate_tests`` rather than with a fixture because hypothesis
  rejects function-scoped fixtures inside ``@given`` tests.
* Tests that need an outside program are marked ``integration``. With
  ``STREAMCORE_REQUIRE_INTEGRATION=1`` (CI sets it) a skip of such a test is
  reported as a failure, so a missing service can never pass silently.
"""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

from _twins import twin_id, twins  # noqa: E402

REQUIRE_INTEGRATION = os.environ.get("STREAMCORE_REQUIRE_INTEGRATION") == "1"

# Hypothesis: no per-example deadline (this is a shared 2-core machine, and a
# slow example is not a wrong one). The "ci" profile (HYPOTHESIS_PROFILE=ci,
# set by .ci/run) is derandomized so that CI is reproducible; local runs keep
# exploring new examples.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


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

"""Benchmarks: run with ``pytest benches/`` (never part of the default test run).

Each bench taking ``impl`` runs once per twin of the codec named by its
module's ``CODEC`` (same mechanism as ``tests/conftest.py``), so the compiled
twin, the pure twin and the peers land in one table from one run.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from _twins import twin_id, twins  # noqa: E402


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "impl" in metafunc.fixturenames:
        mods = twins(metafunc.module.CODEC)
        metafunc.parametrize("impl", mods, ids=[twin_id(m) for m in mods])

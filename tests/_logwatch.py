"""A fixture that fails a test when the adapter logs a traceback.

An unhandled exception in the adapter is a failure even if the server stays
up: every record that carries ``exc_info`` (``log.exception``, asyncio's
"data_received() call failed", "Task exception was never retrieved") while the
test runs is collected and reported at teardown. Import the fixture into a
test module (``from _logwatch import no_tracebacks``) and request it.
"""

from __future__ import annotations

import logging
from typing import Iterator

import pytest


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "Traceback" in record.getMessage():
            self.bad.append(record)


@pytest.fixture
def no_tracebacks() -> Iterator[list[logging.LogRecord]]:
    """Fail the test if any logger (streamcore.*, asyncio, root) logged a traceback."""
    handler = _Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.bad
    finally:
        root.removeHandler(handler)
    if handler.bad:
        lines = [f"{r.name}: {r.getMessage()} ({r.exc_info[1]!r})" if r.exc_info else f"{r.name}: {r.getMessage()}"
                 for r in handler.bad]
        pytest.fail("traceback(s) in the log:\n" + "\n".join(lines))

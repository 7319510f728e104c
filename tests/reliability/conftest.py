"""Reliability fixtures: served databases that are stopped afterwards, and the one-line summary
each scenario records.

A summary travels with the test's report (its user_properties), so it reaches the process that
owns the terminal whether or not xdist runs the test elsewhere; tests/conftest.py prints the
"reliability summary" section at the end of the run and keeps the lines in the pytest cache
(.pytest_cache/v/brokerplane/reliability-summary). They are a report, not warnings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RELIABILITY_SUMMARY
from tests.reliability.support import Served


@pytest.fixture
def summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record this scenario's one-line summary for the end of the run."""

    def record(line: str) -> None:
        request.node.user_properties.append((RELIABILITY_SUMMARY, line))

    return record


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[str], Served]]:
    """Serve a database with `brokerplane serve` (started); every process is stopped after."""
    made: list[Served] = []

    def start(url: str) -> Served:
        served = Served(url, tmp_path)
        made.append(served)
        served.start()
        return served

    try:
        yield start
    finally:
        for served in made:
            served.close()

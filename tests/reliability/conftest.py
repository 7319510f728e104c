"""Reliability fixtures: served databases that are stopped afterwards, and the one-line summary
each scenario prints.

Each summary is a user property of the scenario's report; the process that owns the terminal
prints them as a "reliability summary" section at the end (the hooks live in tests/conftest.py,
which that process loads however the run was started, `make test` with xdist included). Only
when no hook told a worker that its controller prints them (a run that loads neither conftest
there) does a line travel as a ReliabilitySummary warning instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.support import ReliabilitySummary, Served

_KEY = "reliability summary"
_FLAG = "bp_reliability_summary"


@pytest.fixture
def summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record this scenario's one-line summary for the end of the run."""

    def record(line: str) -> None:
        request.node.user_properties.append((_KEY, line))
        workerinput = getattr(request.config, "workerinput", None)
        if workerinput is not None and not workerinput.get(_FLAG):
            warnings.warn(ReliabilitySummary(line), stacklevel=2)

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

"""Reliability fixtures: served databases that are stopped afterwards, and the one-line summary
each scenario prints.

A summary reaches the terminal one of two ways. When this file is loaded by the process that
owns the terminal (`pytest tests/reliability`, as `make soak` runs it, or any run without xdist)
a "reliability summary" section lists them at the end. Otherwise (`make test`: xdist workers
load it, the controller does not) each line travels as a ReliabilitySummary warning, which the
warnings summary shows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.support import ReliabilitySummary, Served

_KEY = "reliability summary"
_FLAG = "bp_reliability_summary"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: tell the workers this process prints the summaries itself."""
    node.workerinput[_FLAG] = True


@pytest.fixture
def summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record this scenario's one-line summary for the end of the run."""

    def record(line: str) -> None:
        request.node.user_properties.append((_KEY, line))
        workerinput = getattr(request.config, "workerinput", None)
        if workerinput is not None and not workerinput.get(_FLAG):
            warnings.warn(ReliabilitySummary(line), stacklevel=2)

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = [value for reports in terminalreporter.stats.values() for report in reports
             if getattr(report, "when", None) == "call"
             for key, value in getattr(report, "user_properties", ()) if key == _KEY]  # fmt: skip
    if lines:
        terminalreporter.section(_KEY)
        for line in lines:
            terminalreporter.write_line(line)


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

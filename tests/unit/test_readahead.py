"""An export's pages read one ahead (application/readahead.py): the same pages in order, no
read before the first is asked for, a failing read raised to the caller, and a caller that
stops early (a client that went away) leaves no reading behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from brokerplane.application.readahead import read_ahead


class Pages:
    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.read: list[int] = []
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[int]:
        try:
            for n in range(self.count):
                if n == self.fail_at:
                    raise RuntimeError("the database went away")
                self.read.append(n)
                yield n
        finally:
            self.closed.set()


def test_every_page_in_order_and_nothing_read_before_asked() -> None:
    pages = Pages(5)
    stream = read_ahead(iter(pages))
    assert pages.read == []
    assert list(stream) == [0, 1, 2, 3, 4]
    assert pages.closed.is_set()


def test_a_failing_read_reaches_the_caller_after_the_pages_before_it() -> None:
    stream = read_ahead(iter(Pages(5, fail_at=2)))
    assert next(stream) == 0
    assert next(stream) == 1
    with pytest.raises(RuntimeError, match="went away"):
        next(stream)


def test_a_caller_that_stops_early_stops_the_reading() -> None:
    pages = Pages(1000)
    stream = read_ahead(iter(pages))
    assert next(stream) == 0
    stream.close()
    assert pages.closed.wait(5)
    assert len(pages.read) <= 2  # the page handed over and at most the one read ahead

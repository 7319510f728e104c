"""Reading the next page of a long export while the current one is sent.

An export alternates two kinds of work: the database writing a page, and the server passing
the page to the client. Done in turn, each waits for the other; with the next page read in a
worker thread while the current one is sent, they overlap (the drivers let go of the GIL while
the database works). At most two pages are held: the one being sent and the one being read.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar, cast

T = TypeVar("T")
_END = object()


def read_ahead(source: Iterator[T]) -> Generator[T, None, None]:
    """`source`'s items, each next one read in a worker thread while the caller handles the
    current one. Nothing is read before the first `next()`; an error reading an item is
    raised where that item would have been given. When the caller stops early (a client that
    disconnects), the read under way finishes in the worker, then `source` is closed; the
    caller does not wait for it."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="read-ahead")
    pending: Future[object] | None = None
    try:
        pending = pool.submit(next, source, _END)
        while (item := pending.result()) is not _END:
            pending = pool.submit(next, source, _END)
            yield cast(T, item)
            del item  # not held while the next one is waited for
        pending = None
    finally:
        if pending is not None and not pending.done():
            pending.add_done_callback(lambda _: _close(source))
        else:
            _close(source)
        pool.shutdown(wait=False)


def _close(source: Iterator[T]) -> None:
    close = getattr(source, "close", None)
    if close is not None:
        close()

# Generated from _async_base.py by tools/unasync.py: edit that file, not this one.
"""What the synchronous client's parts share: the client as its resources and exports see it
(`Sender`), the streamed CSV export, and the resource base."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from types import TracebackType
from typing import Any, Protocol, TypeVar

import httpx

from brokerplane.client import _calls as calls
from brokerplane.client import _http as h
from brokerplane.client import _streams as s
from brokerplane.client.models import Event

T = TypeVar("T")


class Sender(Protocol):
    """What the resources and exports ask of the client (Client is one)."""

    limits: h.Limits

    def _attempts(self, call: h.Call[Any], keep_open: bool) -> Any: ...

    def _send(self, call: h.Call[T]) -> T: ...

    def _items(
        self, path: str, model: type[Any], params: dict[str, Any], page_size: int
    ) -> Iterator[Any]: ...

    def _export(self, path: str, params: dict[str, Any]) -> CsvExport: ...

    def _follow(
        self, after: int, types: calls.Types, group: str | None
    ) -> Generator[Event, None, None]: ...


class CsvExport:
    """A streamed CSV export. Use it as a context manager and read it once, as rows
    (`for row in export` gives dicts; `rows()` lists) or as raw bytes (`iter_bytes()`); only
    one record (or one chunk) is held at a time. The request is sent on entering."""

    def __init__(self, client: Sender, call: h.Call[None]) -> None:
        self._client, self._call = client, call
        self._response: httpx.Response | None = None
        self._rows = s.CsvRows()
        self._used = False

    def __enter__(self) -> CsvExport:
        self._response = self._client._attempts(self._call, keep_open=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._response is not None:
            self._response.close()

    @property
    def header(self) -> list[str] | None:
        """The column names, once the first row has been read."""
        return self._rows.header

    def _open(self) -> httpx.Response:
        if self._response is None:
            raise RuntimeError("use the export as a context manager: with ... as export:")
        if self._used:
            raise RuntimeError("an export is read once")
        self._used = True
        return self._response

    def iter_bytes(self) -> Iterator[bytes]:
        """The CSV as it arrives, in the server's chunks."""
        response = self._open()
        try:
            yield from response.iter_raw()
        except httpx.HTTPError as err:
            raise h.transport_error(self._call, err, 1) from err

    def rows(self) -> Iterator[list[str]]:
        """Each row after the header as a list of cells (text, as the CSV has them)."""
        decoder = s.CsvDecoder(self._client.limits.max_csv_record_bytes)
        for chunk in self.iter_bytes():
            for row in self._rows.take(decoder.feed(chunk)):
                yield row
        for row in self._rows.take(decoder.close()):
            yield row

    def __iter__(self) -> Iterator[dict[str, str]]:
        for row in self.rows():
            yield dict(zip(self._rows.header or (), row, strict=True))


class _Resource:
    def __init__(self, client: Sender) -> None:
        self._client = client

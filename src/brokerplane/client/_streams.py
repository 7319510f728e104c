"""Reading streamed answers a piece at a time: CSV records and Server-Sent Events, each
bounded."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Mapping

from brokerplane.client import errors

# ---- CSV ------------------------------------------------------------------------------------


class CsvDecoder:
    """Rows out of a CSV byte stream, one bounded record at a time: a record ends at a newline
    outside quotes, and one longer than `max_record` characters is refused."""

    def __init__(self, max_record: int) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self._max = max_record
        self._parts: list[str] = []
        self._size = 0
        self._quotes = 0

    def _decode(self, data: bytes, final: bool = False) -> str:
        try:
            return self._utf8.decode(data, final)
        except UnicodeDecodeError:
            raise errors.InvalidResponse("the CSV export is not UTF-8") from None

    def _keep(self, text: str) -> None:
        self._size += len(text)
        if self._size > self._max:
            raise errors.ResponseTooLarge(
                f"a CSV record is longer than the client's limit of {self._max} characters "
                "(Limits.max_csv_record_bytes)"
            )
        self._parts.append(text)
        self._quotes += text.count('"')

    def _record(self) -> list[str] | None:
        text = "".join(self._parts)
        self._parts, self._size, self._quotes = [], 0, 0
        try:
            rows = list(csv.reader(text.splitlines(keepends=True), strict=True))
        except csv.Error as err:
            raise errors.InvalidResponse(f"the CSV export is malformed: {err}") from None
        if len(rows) > 1:  # pragma: no cover - a record is cut at newlines outside quotes
            raise errors.InvalidResponse("the CSV export is malformed: a record split")
        return rows[0] if rows and rows[0] else None

    def feed(self, data: bytes) -> list[list[str]]:
        text = self._decode(data)
        rows: list[list[str]] = []
        start = 0
        while (end := text.find("\n", start)) >= 0:
            self._keep(text[start : end + 1])
            start = end + 1
            if self._quotes % 2 == 0 and (row := self._record()) is not None:
                rows.append(row)
        if start < len(text):
            self._keep(text[start:])
        return rows

    def close(self) -> list[list[str]]:
        tail = self._decode(b"", final=True)
        if tail:
            self._keep(tail)
        if not self._parts:
            return []
        if self._quotes % 2:
            raise errors.InvalidResponse("the CSV export ends inside a quoted field")
        row = self._record()
        return [row] if row is not None else []


def check_csv(headers: Mapping[str, str], status: int) -> None:
    kind = headers.get("content-type", "")
    if not kind.lower().startswith("text/csv"):
        raise errors.InvalidResponse(
            f"an export was asked for, but the server answered {kind or 'no content type'!r}",
            status=status,
        )


class CsvRows:
    """The header, then dict rows, from a decoder's rows; a row of another width is refused."""

    def __init__(self) -> None:
        self.header: list[str] | None = None

    def take(self, rows: list[list[str]]) -> list[list[str]]:
        out: list[list[str]] = []
        for row in rows:
            if self.header is None:
                self.header = row
                continue
            if len(row) != len(self.header):
                raise errors.InvalidResponse(
                    f"a CSV row has {len(row)} cells, the header {len(self.header)}"
                )
            out.append(row)
        return out


# ---- Server-Sent Events ---------------------------------------------------------------------


def check_event_stream(headers: Mapping[str, str], status: int) -> None:
    kind = headers.get("content-type", "")
    if not kind.lower().startswith("text/event-stream"):
        raise errors.InvalidResponse(
            f"an event stream was asked for, but the server answered {kind or 'no content type'!r}",
            status=status,
        )


class SseDecoder:
    """Messages out of a Server-Sent Events byte stream (`data:` lines joined, `id:`, `event:`,
    `retry:`; comments and keep-alives skipped), one bounded message at a time: a line, or a
    message, longer than `max_message` bytes is refused."""

    def __init__(self, max_message: int) -> None:
        self._max = max_message
        self._buffer = b""
        self._data: list[str] = []
        self._size = 0
        self._id: str | None = None
        self.retry: float | None = None  # seconds, when the server said

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        """The (id, data) of each message `chunk` completes."""
        self._buffer += chunk
        out: list[tuple[str | None, str]] = []
        while (end := self._buffer.find(b"\n")) >= 0:
            raw, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
            message = self._line(raw.removesuffix(b"\r"))
            if message is not None:
                out.append(message)
        if len(self._buffer) > self._max:
            raise errors.ResponseTooLarge(
                f"an event stream line is longer than the client's limit of {self._max} bytes "
                "(Limits.max_event_bytes)"
            )
        return out

    def _line(self, raw: bytes) -> tuple[str | None, str] | None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidResponse("the event stream is not UTF-8") from None
        if not line:  # a blank line ends a message
            if not self._data:
                return None
            data, self._data, self._size = "\n".join(self._data), [], 0
            return self._id, data
        if line.startswith(":"):
            return None  # a comment: the opening line, keep-alives
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._size += len(raw)
            if self._size > self._max:
                raise errors.ResponseTooLarge(
                    f"an event is larger than the client's limit of {self._max} bytes "
                    "(Limits.max_event_bytes)"
                )
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit() and len(value) < 10:
            self.retry = int(value) / 1000
        return None

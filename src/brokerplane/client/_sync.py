# Generated from _async.py by tools/unasync.py: edit that file, not this one.
"""The synchronous client: `Client(base_url, api_key)` and its resources."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from brokerplane.client import _calls as calls
from brokerplane.client import _http as h
from brokerplane.client import _streams as s
from brokerplane.client._sync_accounts import Accounts, Approvals, Money, Reports
from brokerplane.client._sync_base import CsvExport
from brokerplane.client._sync_integration import Events, Keys, Webhooks
from brokerplane.client.errors import BrokerplaneError
from brokerplane.client.models import (
    Event,
    Page,
)

T = TypeVar("T")


class Client:
    """A synchronous client of brokerplane's native API.

        with Client("http://127.0.0.1:8080", api_key) as bp:
            account = bp.accounts.open(group="demo-usd", leverage=100, name="Ada")
            bp.money.deposit(account.login, "100.00")

    `operator_id` names the person or worker in the audit trail (x-operator-id). `retry` and
    `limits` say when a call is sent again and how much of an answer is read. `transport`
    (an httpx transport) is for tests and custom networking."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        operator_id: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: h.Retry | None = None,
        limits: h.Limits | None = None,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or h.Retry()
        self.limits = limits or h.Limits()
        self._http = httpx.Client(
            base_url=h.api_root(base_url),
            headers=h.base_headers(api_key, operator_id),
            timeout=timeout,
            verify=verify,
            transport=transport,
            follow_redirects=False,
        )
        self.accounts = Accounts(self)
        self.money = Money(self)
        self.approvals = Approvals(self)
        self.reports = Reports(self)
        self.keys = Keys(self)
        self.events = Events(self)
        self.webhooks = Webhooks(self)

    def __repr__(self) -> str:  # never the key
        return f"Client({str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- sending ----------------------------------------------------------------------------

    def _attempts(self, call: h.Call[Any], keep_open: bool) -> Any:
        try:
            return self._loop(call, keep_open)
        except BrokerplaneError as err:
            err.idempotency_key = call.idempotency_key  # to send the same write again
            raise

    def _loop(self, call: h.Call[Any], keep_open: bool) -> Any:
        retry = self.retry if call.retryable else h.NO_RETRY
        attempt = 0
        while True:
            attempt += 1
            request = self._http.build_request(
                call.method,
                call.path,
                params=call.query(),
                content=call.content(),
                headers=call.request_headers(),
            )
            response: httpx.Response | None = None
            handed_over = False
            try:
                response = self._http.send(request, stream=True)
                status = response.status_code
                h.check_encoding(response.headers, status)
                if status in call.ok:
                    if keep_open:
                        s.check_csv(response.headers, status)
                        handed_over = True
                        return response
                    return call.decode(h.parse_json(self._read(response), status))
                error = h.api_error(status, response.headers, self._read_error(response))
            except httpx.TransportError as err:
                if attempt < retry.attempts:
                    time.sleep(h.retrying(call, attempt, retry, err, None))
                    continue
                raise h.transport_error(call, err, attempt) from err
            except httpx.HTTPError as err:
                raise h.transport_error(call, err, attempt) from err
            finally:
                if response is not None and not handed_over:
                    response.close()
            if h.should_retry(error) and attempt < retry.attempts:
                time.sleep(h.retrying(call, attempt, retry, error, error.retry_after))
                continue
            raise error

    def _read(self, response: httpx.Response) -> bytes:
        limits = self.limits
        h.check_length(response.headers, limits.max_response_bytes, response.status_code)
        collector = h.Collector(limits.max_response_bytes, response.status_code)
        deadline = time.monotonic() + limits.max_response_seconds
        for chunk in response.iter_raw():
            collector.add(chunk)
            if time.monotonic() > deadline:
                raise h.too_slow(limits.max_response_seconds, response.status_code)
        return collector.data()

    def _read_error(self, response: httpx.Response) -> bytes:
        limits = self.limits
        collector = h.Collector(limits.max_error_bytes, response.status_code, truncate=True)
        deadline = time.monotonic() + limits.max_response_seconds
        for chunk in response.iter_raw():
            if not collector.add(chunk) or time.monotonic() > deadline:
                break
        return collector.data()

    def _send(self, call: h.Call[T]) -> T:
        result: T = self._attempts(call, keep_open=False)
        return result

    def _pages(
        self, path: str, model: type[Any], params: dict[str, Any], page_size: int
    ) -> Iterator[Page[Any]]:
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            page = self._send(calls.page_call(path, model, params, page_size, cursor))
            yield page
            cursor = h.next_cursor(seen, page.next_cursor)
            if cursor is None:
                return

    def _items(
        self, path: str, model: type[Any], params: dict[str, Any], page_size: int
    ) -> Iterator[Any]:
        pages = self._pages(path, model, params, h.checked_page_size(page_size))  # now, not later
        return (item for page in pages for item in page.items)

    def _export(self, path: str, params: dict[str, Any]) -> CsvExport:
        return CsvExport(self, calls.export_call(path, params))

    def _follow(
        self, after: int, types: calls.Types, group: str | None
    ) -> Generator[Event, None, None]:
        """The feed as Server-Sent Events, reconnecting after a dropped connection, a 5xx or
        the server ending the stream, with Last-Event-ID: the last event given out."""
        last = after
        failures = 0
        while True:
            call = calls.event_stream(last, types, group)
            try:
                stream = self._http.stream(
                    call.method, call.path, params=call.query(), headers=call.request_headers()
                )
                with stream as response:
                    status = response.status_code
                    if status != 200:
                        body = self._read_error(response)
                        error = h.api_error(status, response.headers, body)
                        if not h.should_retry(error) or failures + 1 >= self.retry.attempts:
                            raise error
                        failures += 1
                        time.sleep(h.retrying(call, failures, self.retry, error, error.retry_after))
                        continue
                    h.check_encoding(response.headers, status)
                    s.check_event_stream(response.headers, status)
                    failures = 0
                    decoder = s.SseDecoder(self.limits.max_event_bytes)
                    for chunk in response.iter_raw():
                        for _, data in decoder.feed(chunk):
                            event = calls.stream_event(data)
                            last = max(last, event.id)
                            yield event
            except httpx.TransportError as err:
                failures += 1
                if failures >= self.retry.attempts:
                    raise h.transport_error(call, err, failures) from err
                time.sleep(h.retrying(call, failures, self.retry, err, None))

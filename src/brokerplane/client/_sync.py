"""The synchronous client: `Client(base_url, api_key)` and its resources."""

from __future__ import annotations

import builtins
import time
from collections.abc import Generator, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx
from typing_extensions import Unpack

from brokerplane.client import _calls as calls
from brokerplane.client import _http as h
from brokerplane.client import errors
from brokerplane.client._calls import Amount
from brokerplane.client.errors import BrokerplaneError
from brokerplane.client.models import (
    Account,
    ApiKey,
    Approval,
    AuditRecord,
    Event,
    EventPage,
    IssuedKey,
    LedgerEntry,
    Operation,
    Page,
    Profile,
    Threshold,
    Transfer,
    Webhook,
    WebhookDelivery,
    WebhookTest,
)

T = TypeVar("T")


def base_headers(api_key: str, operator_id: str | None) -> dict[str, str]:
    if not api_key or not api_key.strip():
        raise ValueError("an API key is required")
    headers = {
        "Authorization": f"Bearer {api_key.strip()}",
        "User-Agent": h.USER_AGENT,
        "Accept": "application/json",
        "Accept-Encoding": "identity",
    }
    if operator_id is not None:
        if not (0 < len(operator_id) <= 127 and operator_id.isprintable()):
            raise ValueError("operator_id is 1 to 127 printable characters")
        headers["x-operator-id"] = operator_id
    return headers


def api_root(base_url: str) -> str:
    """The API's root: `http://host:8080` and `http://host:8080/v1` both mean `.../v1`."""
    root = base_url.rstrip("/")
    return root if root.endswith("/v1") else root + "/v1"


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
            base_url=api_root(base_url),
            headers=base_headers(api_key, operator_id),
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
                        h.check_csv(response.headers, status)
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
                with self._http.stream(call.method, call.path, params=call.query(),
                                       headers=call.request_headers()) as response:  # fmt: skip
                    status = response.status_code
                    if status != 200:
                        error = h.api_error(status, response.headers, self._read_error(response))
                        if not h.should_retry(error) or failures + 1 >= self.retry.attempts:
                            raise error
                        failures += 1
                        time.sleep(h.retrying(call, failures, self.retry, error,
                                              error.retry_after))  # fmt: skip
                        continue
                    h.check_encoding(response.headers, status)
                    h.check_event_stream(response.headers, status)
                    failures = 0
                    decoder = h.SseDecoder(self.limits.max_event_bytes)
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


class CsvExport:
    """A streamed CSV export. Use it as a context manager and read it once, as rows
    (`for row in export` gives dicts; `rows()` lists) or as raw bytes (`iter_bytes()`); only
    one record (or one chunk) is held at a time. The request is sent on entering."""

    def __init__(self, client: Client, call: h.Call[None]) -> None:
        self._client, self._call = client, call
        self._response: httpx.Response | None = None
        self._rows = h.CsvRows()
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
        decoder = h.CsvDecoder(self._client.limits.max_csv_record_bytes)
        for chunk in self.iter_bytes():
            yield from self._rows.take(decoder.feed(chunk))
        yield from self._rows.take(decoder.close())

    def __iter__(self) -> Iterator[dict[str, str]]:
        for row in self.rows():
            yield dict(zip(self._rows.header or (), row, strict=True))


class _Resource:
    def __init__(self, client: Client) -> None:
        self._client = client


class Accounts(_Resource):
    def open(
        self,
        *,
        group: str,
        leverage: int,
        name: str,
        login: int | None = None,
        main_password: str | None = None,
        investor_password: str | None = None,
        phone_password: str | None = None,
        idempotency_key: str | None = None,
        **profile: Unpack[Profile],
    ) -> Account:
        """Open an account in `group`; `login` None lets the group's range pick one."""
        fields = {
            "login": login,
            "name": name,
            "group": group,
            "leverage": leverage,
            "main_password": main_password,
            "investor_password": investor_password,
            "phone_password": phone_password,
            **profile,
        }
        return self._client._send(calls.open_account(fields, idempotency_key))

    def get(self, login: int) -> Account:
        return self._client._send(calls.get_account(login))

    def update(
        self,
        login: int,
        *,
        name: str | None = None,
        group: str | None = None,
        leverage: int | None = None,
        main_password: str | None = None,
        investor_password: str | None = None,
        idempotency_key: str | None = None,
        **profile: Unpack[Profile],
    ) -> Account:
        """Change the fields given (others stay as they are); the passwords are set, never
        read back."""
        changes: dict[str, Any] = dict(profile)
        given = (
            ("name", name),
            ("group", group),
            ("leverage", leverage),
            ("main_password", main_password),
            ("investor_password", investor_password),
        )
        changes.update({k: v for k, v in given if v is not None})
        return self._client._send(calls.update_account(login, changes, idempotency_key))

    def disable(
        self, login: int, reason: str = "", *, idempotency_key: str | None = None
    ) -> Account:
        return self._client._send(calls.disable_account(login, reason, idempotency_key))

    def enable(self, login: int, *, idempotency_key: str | None = None) -> Account:
        return self._client._send(calls.enable_account(login, idempotency_key))

    def history(self, login: int) -> builtins.list[AuditRecord]:
        """The account's audit trail: every change, with before/after and who made it."""
        return self._client._send(calls.account_history(login))

    def list(
        self,
        *,
        group: str | None = None,
        email: str | None = None,
        logins: builtins.list[int] | tuple[int, ...] | None = None,
        registered_from: datetime | str | None = None,
        registered_to: datetime | str | None = None,
        page_size: int = 100,
    ) -> Iterator[Account]:
        """Every matching account, fetched a page at a time as you iterate."""
        params = calls.account_filters(group, email, logins, registered_from, registered_to)
        return self._client._items("/users", Account, params, page_size)


class Money(_Resource):
    def _post(
        self,
        operation: str,
        login: int,
        amount: Amount,
        comment: str,
        reference: str,
        idempotency_key: str | None,
        require_applied: bool,
    ) -> Operation:
        call = calls.balance(operation, login, amount, comment, reference, idempotency_key)
        return calls.applied(self._client._send(call), require_applied)

    def deposit(
        self,
        login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
        require_applied: bool = False,
    ) -> Operation:
        """Add to the balance. Sent with an idempotency key (yours, or a new one), so a retry
        after a lost answer applies it once. Above the approval threshold the operation is held:
        `status` is `pending_approval` (or PendingApproval is raised with require_applied)."""
        return self._post(
            "deposit", login, amount, comment, reference, idempotency_key, require_applied
        )

    def withdraw(
        self,
        login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
        require_applied: bool = False,
    ) -> Operation:
        """Take from the balance; never below zero (ValidationError otherwise)."""
        return self._post(
            "withdraw", login, amount, comment, reference, idempotency_key, require_applied
        )

    def credit(
        self,
        login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
        require_applied: bool = False,
    ) -> Operation:
        """A positive amount adds broker credit, a negative one removes it."""
        return self._post(
            "credit", login, amount, comment, reference, idempotency_key, require_applied
        )

    def bonus(
        self,
        login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
        require_applied: bool = False,
    ) -> Operation:
        """A positive amount adds bonus, a negative one removes it."""
        return self._post(
            "bonus", login, amount, comment, reference, idempotency_key, require_applied
        )

    def correction(
        self,
        login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
        require_applied: bool = False,
    ) -> Operation:
        """A signed balance adjustment."""
        return self._post(
            "correction", login, amount, comment, reference, idempotency_key, require_applied
        )

    def charge(
        self,
        login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
        require_applied: bool = False,
    ) -> Operation:
        """A fee taken from the balance; never below zero."""
        return self._post(
            "charge", login, amount, comment, reference, idempotency_key, require_applied
        )

    def transfer(
        self,
        from_login: int,
        to_login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Move money from one account's balance to another's (same currency): both legs in
        one transaction, or neither. Above either account's approval threshold it is refused,
        not held (ValidationError naming the threshold)."""
        call = calls.transfer(from_login, to_login, amount, comment, reference, idempotency_key)
        return self._client._send(call)

    def history(
        self,
        *,
        login: int | None = None,
        kinds: builtins.list[str] | tuple[str, ...] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        reference: str | None = None,
        page_size: int = 100,
    ) -> Iterator[LedgerEntry]:
        """Ledger entries, oldest first, fetched a page at a time as you iterate."""
        params = calls.history_filters(login, kinds, since, until, reference)
        return self._client._items("/balances/history", LedgerEntry, params, page_size)


class Approvals(_Resource):
    def list(
        self, *, state: str | None = None, login: int | None = None, page_size: int = 100
    ) -> Iterator[Approval]:
        """Held operations and their decisions (state: pending, approved, rejected, expired)."""
        params = {"state": state, "login": login}
        return self._client._items("/approvals", Approval, params, page_size)

    def get(self, approval_id: int) -> Approval:
        return self._client._send(calls.get_approval(approval_id))

    def approve(
        self, approval_id: int, comment: str = "", *, idempotency_key: str | None = None
    ) -> Approval:
        """Approve and apply (another manager's key, with balances:approve); `operation` is the
        applied operation."""
        return self._client._send(calls.decide(approval_id, True, comment, idempotency_key))

    def reject(
        self, approval_id: int, comment: str = "", *, idempotency_key: str | None = None
    ) -> Approval:
        return self._client._send(calls.decide(approval_id, False, comment, idempotency_key))

    def thresholds(self) -> builtins.list[Threshold]:
        return self._client._send(calls.list_thresholds())

    def set_threshold(
        self,
        currency: str,
        amount: Amount | None,
        *,
        group: str | None = None,
        idempotency_key: str | None = None,
    ) -> Threshold | None:
        """Hold operations above `amount` (admin); `amount` None removes it (answers None)."""
        return self._client._send(calls.set_threshold(currency, amount, group, idempotency_key))


class Reports(_Resource):
    def accounts(
        self,
        *,
        group: str | None = None,
        email: str | None = None,
        logins: builtins.list[int] | tuple[int, ...] | None = None,
        registered_from: datetime | str | None = None,
        registered_to: datetime | str | None = None,
        page_size: int = 1000,
    ) -> Iterator[Account]:
        """The account inventory (reports:read), a page at a time."""
        params = calls.account_filters(group, email, logins, registered_from, registered_to)
        return self._client._items("/reports/users", Account, params, page_size)

    def accounts_csv(
        self,
        *,
        group: str | None = None,
        email: str | None = None,
        logins: builtins.list[int] | tuple[int, ...] | None = None,
        registered_from: datetime | str | None = None,
        registered_to: datetime | str | None = None,
    ) -> CsvExport:
        """The whole inventory as streamed CSV: `with bp.reports.accounts_csv() as rows:`."""
        params = calls.account_filters(group, email, logins, registered_from, registered_to)
        return self._client._export("/reports/users", params)

    def ledger_csv(
        self,
        *,
        login: int | None = None,
        kinds: builtins.list[str] | tuple[str, ...] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        reference: str | None = None,
    ) -> CsvExport:
        """Every matching ledger entry as streamed CSV."""
        params = calls.history_filters(login, kinds, since, until, reference)
        return self._client._export("/balances/history", params)


class Keys(_Resource):
    def list(self, *, manager: int | None = None) -> builtins.list[ApiKey]:
        """The caller's manager's keys (admins: `manager`'s, or everyone's)."""
        return self._client._send(calls.list_keys(manager))

    def create(
        self,
        scopes: builtins.list[str] | tuple[str, ...],
        *,
        name: str = "",
        expires_at: datetime | None = None,
        manager_login: int | None = None,
        idempotency_key: str | None = None,
    ) -> IssuedKey:
        """A new key; `key` is its secret, shown this once. If the answer is lost and the retry
        gets the replay (which never repeats a secret), SecretNotReturned names the key."""
        call = calls.create_key(scopes, name, expires_at, manager_login, idempotency_key)
        return calls.with_secret(self._client._send(call))

    def rotate(self, key_id: str, *, idempotency_key: str | None = None) -> IssuedKey:
        """A new secret now; the old one works for the server's overlap window."""
        return calls.with_secret(self._client._send(calls.rotate_key(key_id, idempotency_key)))

    def revoke(self, key_id: str, *, idempotency_key: str | None = None) -> ApiKey:
        """Revoke the key, and every key it created, at once."""
        return self._client._send(calls.revoke_key(key_id, idempotency_key))


class Events(_Resource):
    """The event feed (GET /v1/events, reports:read): every committed change of the accounts
    within the key's reach, in commit order. An event's `id` is its cursor."""

    def page(
        self,
        after: int = 0,
        *,
        types: builtins.list[str] | tuple[str, ...] | None = None,
        group: str | None = None,
        limit: int = 100,
    ) -> EventPage:
        """One page of events after `after` (0: the oldest kept)."""
        return self._client._send(calls.events_page(after, types, group, limit))

    def iter(
        self,
        after: int = 0,
        *,
        types: builtins.list[str] | tuple[str, ...] | None = None,
        group: str | None = None,
        page_size: int = 100,
    ) -> Iterator[Event]:
        """Every event after `after` up to the newest, a page at a time as you iterate; it
        ends there. Resume later from the last event's `id`. `types` are types or prefixes
        (`ledger.`), `group` a group mask (`real*`)."""
        h.checked_page_size(page_size)
        calls.events_page(after, types, group, page_size)  # bad arguments fail now

        def walk() -> Iterator[Event]:
            cursor = after
            while True:
                page = self._client._send(calls.events_page(cursor, types, group, page_size))
                yield from page.items
                if not page.more:
                    return
                if page.next <= cursor:
                    raise errors.InvalidResponse(f"the feed did not move past event {cursor}")
                cursor = page.next

        return walk()

    def follow(
        self,
        after: int = 0,
        *,
        types: builtins.list[str] | tuple[str, ...] | None = None,
        group: str | None = None,
    ) -> Generator[Event, None, None]:
        """Every event after `after`, then each new one as it commits (Server-Sent Events),
        for as long as you iterate: after a dropped connection, a 5xx or the server ending the
        stream it reconnects with Last-Event-ID, so nothing is missed or repeated. `close()`
        it (or leave the loop and let it go) to hang up."""
        calls.event_stream(after, types, group)  # bad arguments fail now
        return self._client._follow(after, types, group)

    def types(self) -> builtins.list[str]:
        """Every event type the feed carries."""
        return self._client._send(calls.event_types())


class Webhooks(_Resource):
    """Webhook subscriptions (admin keys of unlimited reach): brokerplane POSTs the events a
    subscription selects to its URL, signed (see `verify_signature`)."""

    def create(
        self,
        url: str,
        *,
        types: builtins.list[str] | tuple[str, ...] | None = None,
        group_mask: str | None = None,
        secret: str | None = None,
        personal_data: bool | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Webhook:
        """Subscribe `url` to the events from now on. `secret` (16 to 128 characters) signs
        the deliveries; when omitted the client makes one. The answer's `secret` is it."""
        fields = calls.webhook_fields(
            url=url, types=types, group_mask=group_mask, secret=secret,
            personal_data=personal_data, description=description,
        )  # fmt: skip
        call, sent = calls.create_webhook(fields, idempotency_key)
        return calls.with_webhook_secret(self._client._send(call), sent)

    def list(self) -> builtins.list[Webhook]:
        return self._client._send(calls.list_webhooks())

    def get(self, webhook_id: int) -> Webhook:
        """The subscription: its state, cursor, failures and last error."""
        return self._client._send(calls.get_webhook(webhook_id))

    def update(
        self,
        webhook_id: int,
        *,
        url: str | None = None,
        types: builtins.list[str] | tuple[str, ...] | None = None,
        group_mask: str | None = None,
        secret: str | None = None,
        personal_data: bool | None = None,
        description: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
    ) -> Webhook:
        """Change the fields given; `state="paused"` stops deliveries, `state="active"`
        resumes a paused or parked subscription now."""
        changes = calls.webhook_fields(
            url=url, types=types, group_mask=group_mask, secret=secret,
            personal_data=personal_data, description=description, state=state,
        )  # fmt: skip
        return self._client._send(calls.update_webhook(webhook_id, changes, idempotency_key))

    def delete(self, webhook_id: int, *, idempotency_key: str | None = None) -> None:
        """Delete the subscription and its delivery log."""
        self._client._send(calls.delete_webhook(webhook_id, idempotency_key))

    def replay(
        self, webhook_id: int, from_id: int, *, idempotency_key: str | None = None
    ) -> Webhook:
        """Deliver again from event `from_id` on (and resume a parked subscription)."""
        return self._client._send(calls.replay_webhook(webhook_id, from_id, idempotency_key))

    def test(self, webhook_id: int) -> WebhookTest:
        """Send a signed `webhook.test` event now and say what the receiver answered (sent
        once: never retried)."""
        return self._client._send(calls.send_webhook_test(webhook_id))

    def deliveries(
        self, webhook_id: int, *, after: int = 0, page_size: int = 100
    ) -> Iterator[WebhookDelivery]:
        """The delivery log, oldest first, a page at a time as you iterate."""
        calls.webhook_deliveries(webhook_id, after, page_size)  # bad arguments fail now

        def walk() -> Iterator[WebhookDelivery]:
            cursor = after
            while True:
                found = self._client._send(calls.webhook_deliveries(webhook_id, cursor, page_size))
                yield from found
                if len(found) < page_size:
                    return
                cursor = found[-1].id

        return walk()

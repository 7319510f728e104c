"""The asynchronous client's integration resources: API keys, the event feed and webhooks."""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime

from brokerplane.client import _calls as calls
from brokerplane.client import _http as h
from brokerplane.client import errors
from brokerplane.client._async_base import _Resource
from brokerplane.client.models import (
    ApiKey,
    Event,
    EventPage,
    IssuedKey,
    Webhook,
    WebhookDelivery,
    WebhookTest,
)


class Keys(_Resource):
    async def list(self, *, manager: int | None = None) -> builtins.list[ApiKey]:
        """The caller's manager's keys (admins: `manager`'s, or everyone's)."""
        return await self._client._send(calls.list_keys(manager))

    async def create(
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
        return calls.with_secret(await self._client._send(call))

    async def rotate(self, key_id: str, *, idempotency_key: str | None = None) -> IssuedKey:
        """A new secret now; the old one works for the server's overlap window."""
        return calls.with_secret(
            await self._client._send(calls.rotate_key(key_id, idempotency_key))
        )

    async def revoke(self, key_id: str, *, idempotency_key: str | None = None) -> ApiKey:
        """Revoke the key, and every key it created, at once."""
        return await self._client._send(calls.revoke_key(key_id, idempotency_key))


class Events(_Resource):
    """The event feed (GET /v1/events, reports:read): every committed change of the accounts
    within the key's reach, in commit order. An event's `id` is its cursor."""

    async def page(
        self,
        after: int = 0,
        *,
        types: builtins.list[str] | tuple[str, ...] | None = None,
        group: str | None = None,
        limit: int = 100,
    ) -> EventPage:
        """One page of events after `after` (0: the oldest kept)."""
        return await self._client._send(calls.events_page(after, types, group, limit))

    def iter(
        self,
        after: int = 0,
        *,
        types: builtins.list[str] | tuple[str, ...] | None = None,
        group: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[Event]:
        """Every event after `after` up to the newest, a page at a time as you iterate; it
        ends there. Resume later from the last event's `id`. `types` are types or prefixes
        (`ledger.`), `group` a group mask (`real*`)."""
        h.checked_page_size(page_size)
        calls.events_page(after, types, group, page_size)  # bad arguments fail now

        async def walk() -> AsyncIterator[Event]:
            cursor = after
            while True:
                call = calls.events_page(cursor, types, group, page_size)
                page = await self._client._send(call)
                for event in page.items:
                    yield event
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
    ) -> AsyncGenerator[Event, None]:
        """Every event after `after`, then each new one as it commits (Server-Sent Events),
        for as long as you iterate: after a dropped connection, a 5xx or the server ending the
        stream it reconnects with Last-Event-ID, so nothing is missed or repeated. `aclose()`
        it (or leave the loop and let it go) to hang up."""
        calls.event_stream(after, types, group)  # bad arguments fail now
        return self._client._follow(after, types, group)

    async def types(self) -> builtins.list[str]:
        """Every event type the feed carries."""
        return await self._client._send(calls.event_types())


class Webhooks(_Resource):
    """Webhook subscriptions (admin keys of unlimited reach): brokerplane POSTs the events a
    subscription selects to its URL, signed (see `verify_signature`)."""

    async def create(
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
            url=url,
            types=types,
            group_mask=group_mask,
            secret=secret,
            personal_data=personal_data,
            description=description,
        )
        call, sent = calls.create_webhook(fields, idempotency_key)
        return calls.with_webhook_secret(await self._client._send(call), sent)

    async def list(self) -> builtins.list[Webhook]:
        return await self._client._send(calls.list_webhooks())

    async def get(self, webhook_id: int) -> Webhook:
        """The subscription: its state, cursor, failures and last error."""
        return await self._client._send(calls.get_webhook(webhook_id))

    async def update(
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
            url=url,
            types=types,
            group_mask=group_mask,
            secret=secret,
            personal_data=personal_data,
            description=description,
            state=state,
        )
        call = calls.update_webhook(webhook_id, changes, idempotency_key)
        return await self._client._send(call)

    async def delete(self, webhook_id: int, *, idempotency_key: str | None = None) -> None:
        """Delete the subscription and its delivery log."""
        await self._client._send(calls.delete_webhook(webhook_id, idempotency_key))

    async def replay(
        self, webhook_id: int, from_id: int, *, idempotency_key: str | None = None
    ) -> Webhook:
        """Deliver again from event `from_id` on (and resume a parked subscription)."""
        call = calls.replay_webhook(webhook_id, from_id, idempotency_key)
        return await self._client._send(call)

    async def test(self, webhook_id: int) -> WebhookTest:
        """Send a signed `webhook.test` event now and say what the receiver answered (sent
        once: never retried)."""
        return await self._client._send(calls.send_webhook_test(webhook_id))

    def deliveries(
        self, webhook_id: int, *, after: int = 0, page_size: int = 100
    ) -> AsyncIterator[WebhookDelivery]:
        """The delivery log, oldest first, a page at a time as you iterate."""
        calls.webhook_deliveries(webhook_id, after, page_size)  # bad arguments fail now

        async def walk() -> AsyncIterator[WebhookDelivery]:
            cursor = after
            while True:
                call = calls.webhook_deliveries(webhook_id, cursor, page_size)
                found = await self._client._send(call)
                for delivery in found:
                    yield delivery
                if len(found) < page_size:
                    return
                cursor = found[-1].id

        return walk()

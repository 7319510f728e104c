"""Events: the outbox's feed, webhook subscriptions and the delivery worker's steps."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from brokerplane.application.base import LazySlice, ServiceBase
from brokerplane.core.actor import Actor
from brokerplane.core.events import secrets as sealing
from brokerplane.core.events.model import Backlog, Delivery, EventPage, Subscription

if TYPE_CHECKING:
    from brokerplane.core.events import delivery
    from brokerplane.core.events import service as events
else:
    delivery = LazySlice("brokerplane.core.events.delivery")
    events = LazySlice("brokerplane.core.events.service")


class EventServices(ServiceBase):
    """The events feed, webhook subscriptions, and one short transaction per delivery step."""

    def read_events(self, cmd: events.ReadEvents, actor: Actor) -> EventPage:
        return self._query(events.read_events, cmd, actor)

    def purge_events(self) -> int:
        """Forget events older than the retention (maintenance); how many were purged. Also
        seals any webhook secret still stored in plain text (see core/events/secrets.py)."""
        now = self.clock()
        purged = self._write(lambda u: events.purge(u, now, self.config))
        self._write(lambda u: events.seal_plain_secrets(u, self.config))
        return purged

    def webhook_secret(self, sub: Subscription) -> str:
        """The subscription's secret to sign with, opened from what is stored (SealError when
        the keyring cannot open it)."""
        return sealing.open_secret(sub.secret, self.config.audit_keys)

    def create_webhook(self, cmd: events.SaveSubscription, actor: Actor) -> Subscription:
        return self._command_configured(events.create_subscription, cmd, actor)

    def update_webhook(self, cmd: events.ChangeSubscription, actor: Actor) -> Subscription:
        return self._write(
            lambda u: events.update_subscription(
                u, cmd.sub_id, cmd.changes, actor, self.clock, self.config
            ),
            actor,
        )

    def delete_webhook(self, cmd: events.DeleteSubscription, actor: Actor) -> None:
        self._command(events.delete_subscription, cmd.sub_id, actor)

    def replay_webhook(self, cmd: events.ReplaySubscription, actor: Actor) -> Subscription:
        return self._write(
            lambda u: events.replay(u, cmd.sub_id, cmd.from_id, actor, self.clock), actor
        )

    def get_webhook(self, sub_id: int, actor: Actor) -> Subscription:
        return self._query(events.get_subscription, sub_id, actor)

    def list_webhooks(self, actor: Actor) -> list[Subscription]:
        return self._view(events.list_subscriptions, actor)

    def webhook_deliveries(
        self, sub_id: int, after_id: int, limit: int, actor: Actor
    ) -> list[Delivery]:
        return self._read(lambda u: events.list_deliveries(u, sub_id, after_id, limit, actor))

    def log_webhook_test(self, sub_id: int, outcome: delivery.Outcome) -> None:
        """Record a test-send in the subscription's delivery log."""
        now = self.clock()
        self._write(
            lambda u: u.events.log_delivery(
                Delivery(
                    subscription_id=sub_id,
                    at=now,
                    events=0,
                    attempt=0,
                    ok=outcome.ok,
                    duration_ms=outcome.duration_ms,
                    status=outcome.status,
                    error=outcome.error,
                )
            )
        )

    def claim_webhooks(self, owner: str, lease: timedelta, limit: int) -> list[Subscription]:
        now = self.clock()
        if not self._read(lambda u: u.events.any_due(now)):  # no write while idle
            return []
        return self._write(lambda u: delivery.claim(u, owner, now, lease, limit))

    def webhook_batch(self, sub_id: int, owner: str, limit: int) -> delivery.Batch | None:
        now = self.clock()
        return self._read(lambda u: delivery.next_batch(u, sub_id, owner, now, limit))

    def settle_webhook(
        self, batch: delivery.Batch, owner: str, outcome: delivery.Outcome
    ) -> Subscription | None:
        now = self.clock()
        return self._write(lambda u: delivery.settle(u, batch, owner, outcome, now, self.config))

    def webhook_backlog(self) -> Backlog:
        """Subscriptions by state and the events they still owe (for the server's metrics)."""
        return self._read(lambda u: u.events.backlog())

    def release_webhook(self, sub_id: int, owner: str) -> None:
        self._write(lambda u: delivery.release(u, sub_id, owner))

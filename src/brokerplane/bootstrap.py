"""bootstrap.build: settings in, a Runtime (settings, storage, services) out; imports do nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from brokerplane.core.config import CoreConfig
from brokerplane.core.services import Services
from brokerplane.settings import Settings
from brokerplane.storage import migrate
from brokerplane.storage.database import Storage


@dataclass
class Runtime:
    settings: Settings
    storage: Storage
    services: Services

    def close(self) -> None:
        self.storage.dispose()


def build(settings: Settings | None = None, *, migrate_schema: bool = False) -> Runtime:
    settings = settings or Settings()
    storage = Storage(settings.effective_database_url, pool_size=settings.pool_size)
    if migrate_schema:
        migrate.upgrade(storage.engine)
    config = CoreConfig(
        login_range_from=settings.login_range_from,
        login_range_to=settings.login_range_to,
        server_currency=settings.server_currency.upper(),
        max_operation_amount=settings.max_operation_amount,
        approval_ttl=timedelta(hours=settings.approval_ttl_hours),
        idempotency_retention=timedelta(days=settings.idempotency_retention_days),
        idempotency_lease=timedelta(seconds=settings.idempotency_lease_s),
        key_rotation_overlap=timedelta(hours=settings.key_rotation_overlap_hours),
        group_commit_max=settings.group_commit_max,
        manager_token_ttl=(
            timedelta(seconds=settings.ctrader_token_ttl_s)
            if settings.ctrader_token_ttl_s
            else None
        ),
    )
    return Runtime(settings, storage, Services(storage.uow, config))

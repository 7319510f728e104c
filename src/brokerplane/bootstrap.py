"""bootstrap.build: settings in, a Runtime (settings, storage, app) out; imports do nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from brokerplane import auditkeys
from brokerplane.application.app import Application
from brokerplane.auditkeys import AuditKeyError, Keyring
from brokerplane.core.access.model import LockoutPolicy
from brokerplane.core.config import CoreConfig
from brokerplane.settings import Settings
from brokerplane.storage.database import Storage


@dataclass
class Runtime:
    settings: Settings
    storage: Storage
    app: Application  # the application layer, over the storage's units of work
    keyring: Keyring | None = None

    def close(self) -> None:
        self.storage.dispose()

    def use_keyring(self, keyring: Keyring | None) -> None:
        """Seal new records with the keyring's current key and verify with all of its keys."""
        self.keyring = keyring
        self.storage.seal_key = keyring.keys.current if keyring else None
        self.app.config = replace(self.app.config, audit_keys=keyring.keys if keyring else None)


def build(
    settings: Settings | None = None, *, migrate_schema: bool = False, provision_key: bool = True
) -> Runtime:
    """The runtime; with `provision_key`, a missing audit key is generated when the database's
    chain has none yet (see `provision_audit_key`)."""
    settings = settings or Settings()
    storage = Storage(settings.effective_database_url, pool_size=settings.pool_size)
    try:
        return _runtime(
            settings, storage, migrate_schema=migrate_schema, provision_key=provision_key
        )
    except BaseException:  # a failed build closes the connections it opened
        storage.dispose()
        raise


def _runtime(
    settings: Settings, storage: Storage, *, migrate_schema: bool, provision_key: bool
) -> Runtime:
    if migrate_schema:
        from brokerplane.storage import revisions

        # A database already at head (every start but the first) needs nothing of alembic,
        # whose import and reading of every revision file cost more than the rest of a start.
        if revisions.current(storage.engine) != revisions.head():
            from brokerplane.storage import migrate  # alembic: only when migrating

            migrate.upgrade(storage.engine)
    config = CoreConfig(
        login_range_from=settings.login_range_from,
        login_range_to=settings.login_range_to,
        server_currency=settings.server_currency.upper(),
        max_operation_amount=settings.max_operation_amount,
        approval_ttl=timedelta(hours=settings.approval_ttl_hours),
        idempotency_retention=timedelta(days=settings.idempotency_retention_days),
        events_retention=timedelta(days=settings.events_retention_days),
        webhook_retry_for=timedelta(hours=settings.webhook_retry_hours),
        webhook_hosts=settings.webhook_hosts,
        webhook_backoff_first=timedelta(seconds=settings.webhook_backoff_s),
        idempotency_lease=timedelta(seconds=settings.idempotency_lease_s),
        key_rotation_overlap=timedelta(hours=settings.key_rotation_overlap_hours),
        group_commit_max=settings.group_commit_max,
        lockout=LockoutPolicy(
            failures=settings.lockout_failures,
            login_failures=settings.lockout_login_failures,
            address_failures=settings.lockout_address_failures,
            window=timedelta(seconds=settings.lockout_window_s),
            base_delay=timedelta(seconds=settings.lockout_base_delay_s),
            max_delay=timedelta(seconds=settings.lockout_max_delay_s),
            login_max_delay=timedelta(seconds=settings.lockout_login_max_delay_s),
            admission_wait=timedelta(seconds=settings.lockout_admission_wait_s),
            reservation_ttl=timedelta(seconds=settings.lockout_reservation_s),
        ),
        manager_token_ttl=(
            timedelta(seconds=settings.ctrader_token_ttl_s)
            if settings.ctrader_token_ttl_s
            else None
        ),
    )
    services = Application(storage.uow, config, credentials=storage.credential_watch())
    runtime = Runtime(settings, storage, services)
    if settings.read_database_url:
        runtime.app.lagging = storage.use_replica(
            settings.read_database_url,
            max_lag_s=settings.read_max_lag_s,
            retry_s=settings.read_retry_s,
            pool_size=settings.pool_size,
        )
    provision_audit_key(runtime, generate=provision_key)
    return runtime


def provision_audit_key(runtime: Runtime, *, generate: bool = True) -> Keyring | None:
    """Load the audit keyring and check it belongs to the database's chain.

    No key configured: when the chain has no keyed record yet (empty, or legacy records from
    before keys), a new key file is made (`generate`) with the chain's current head as the last
    legacy record; when the chain is keyed, AuditKeyError (a new key would never verify the
    existing records, and silently starting a second chain would hide any tampering)."""
    settings = runtime.settings
    path = settings.effective_audit_key_file
    secret = settings.audit_key.get_secret_value() if settings.audit_key else None
    ring = auditkeys.load(secret, path, settings.audit_legacy_until)
    newest = runtime.storage.newest_seal_key()
    if newest is not None:
        newest_id, newest_key = newest
        legacy = ring.keys.legacy_until if ring is not None else None
        # The read-only checks (which do not `generate`) go on to name the record instead.
        if (
            generate
            and ring is not None
            and ring.path is None
            and newest_key is None
            and newest_id > (legacy or 0)
        ):
            raise AuditKeyError(
                f"the audit chain's newest record {newest_id} is unkeyed, and "
                "BROKERPLANE_AUDIT_KEY does not accept unkeyed records after "
                f"{legacy or 0}: if this database's records up to {newest_id} were all written "
                f"before it had an audit key, set BROKERPLANE_AUDIT_LEGACY_UNTIL={newest_id} "
                "(once; new records are keyed from now on); otherwise the chain was rewritten "
                "without the key"
            )
        if ring is None and newest_key is not None:
            raise AuditKeyError(
                f"the audit chain is sealed with audit key {newest_key}, but no audit key is "
                f"configured ({path} does not exist and BROKERPLANE_AUDIT_KEY is unset): restore "
                "the key file from its backup, or set BROKERPLANE_AUDIT_KEY_FILE to it. A new "
                "key is never made for a chain that already has one."
            )
        if ring is not None and newest_key is not None and ring.keys.find(newest_key) is None:
            held = ", ".join(k.id for k in (ring.keys.current, *ring.keys.keys))
            raise AuditKeyError(
                f"the audit chain is sealed with audit key {newest_key}, which is not in the "
                f"keyring {ring.source} (it holds {held}): use this database's key file"
            )
        if ring is None and generate:
            ring = auditkeys.generate(path, legacy_until=newest_id, tighten_dir=_own_dir(settings))
    runtime.use_keyring(ring)
    return ring


def _own_dir(settings: Settings) -> bool:
    """Whether the key file sits in brokerplane's own data directory (made owner-only then),
    rather than in a directory the operator chose for it, or the working or home directory."""
    folder = settings.effective_audit_key_file.parent.resolve()
    return folder == settings.data_dir.resolve() and folder not in (Path.cwd(), Path.home())

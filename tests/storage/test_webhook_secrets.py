"""Webhook secrets at rest, on both engines: stored sealed under the audit keyring (a database
dump alone signs nothing), opened to sign; a secret stored in plain text before sealing still
signs and is sealed by maintenance; a keyring without the sealing key, or an altered sealed
text, is a clear error rather than a wrong signature."""

from __future__ import annotations

import secrets
from dataclasses import replace

import pytest
from sqlalchemy import select, update

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditKey, AuditKeys
from brokerplane.core.errors import ValidationError
from brokerplane.core.events.commands import ChangeSubscription, SaveSubscription
from brokerplane.core.events.secrets import SealError
from brokerplane.storage import tables as t

SECRET = "whsec-0123456789abcdef"
URL = "https://crm.example.com/hook"


def _stored(runtime: Runtime, sub_id: int) -> str:
    with runtime.storage.engine.connect() as conn:
        w = t.webhook_subscriptions.c
        return str(conn.execute(select(w.secret).where(w.id == sub_id)).scalar_one())


def test_a_secret_is_stored_sealed_and_opened_to_sign(
    runtime: Runtime, services: Application, admin: Actor
) -> None:
    assert services.config.audit_keys is not None  # the server's keyring, made at first start
    made = services.create_webhook(SaveSubscription(url=URL, secret=SECRET), admin)
    assert made.secret == SECRET  # the one answer that shows it
    stored = _stored(runtime, made.id)
    assert stored.startswith("sealed:v1:") and SECRET not in stored
    assert services.webhook_secret(services.get_webhook(made.id, admin)) == SECRET
    # sealed twice, two different texts (a fresh nonce each time)
    other = services.create_webhook(SaveSubscription(url=URL, secret=SECRET), admin)
    assert _stored(runtime, other.id) != stored

    services.update_webhook(
        ChangeSubscription(made.id, SaveSubscription(secret="whsec-a-new-secret-000")), admin
    )
    assert services.webhook_secret(services.get_webhook(made.id, admin)) == "whsec-a-new-secret-000"
    assert "whsec-a-new" not in _stored(runtime, made.id)
    # an edit that leaves the secret alone keeps it sealed as it was
    before = _stored(runtime, made.id)
    services.update_webhook(ChangeSubscription(made.id, SaveSubscription(description="crm")), admin)
    assert _stored(runtime, made.id) == before

    # a secret that looks sealed is refused (the two forms never mix up)
    with pytest.raises(ValidationError, match="sealed:"):
        services.create_webhook(SaveSubscription(url=URL, secret="sealed:v1:abc:0123456789"), admin)


def test_a_plain_secret_from_before_still_signs_and_maintenance_seals_it(
    runtime: Runtime, services: Application, admin: Actor
) -> None:
    made = services.create_webhook(SaveSubscription(url=URL, secret=SECRET), admin)
    with runtime.storage.engine.begin() as conn:
        w = t.webhook_subscriptions.c
        conn.execute(update(t.webhook_subscriptions).where(w.id == made.id).values(secret=SECRET))
    assert services.webhook_secret(services.get_webhook(made.id, admin)) == SECRET
    services.purge_events()  # maintenance
    stored = _stored(runtime, made.id)
    assert stored.startswith("sealed:v1:") and SECRET not in stored
    assert services.webhook_secret(services.get_webhook(made.id, admin)) == SECRET


def test_a_secret_that_does_not_open_is_an_error_not_a_wrong_signature(
    runtime: Runtime, services: Application, admin: Actor
) -> None:
    made = services.create_webhook(SaveSubscription(url=URL, secret=SECRET), admin)
    sub = services.get_webhook(made.id, admin)
    elsewhere = AuditKeys(AuditKey(secrets.token_bytes(32)))
    stranger = Application(
        runtime.storage.uow, replace(services.config, audit_keys=elsewhere), services.clock
    )
    with pytest.raises(SealError, match="not in the keyring"):
        stranger.webhook_secret(sub)
    # a keyring rotated with the old key kept still opens it
    assert services.config.audit_keys is not None
    rotated = AuditKeys(elsewhere.current, (services.config.audit_keys.current,))
    kept = Application(
        runtime.storage.uow, replace(services.config, audit_keys=rotated), services.clock
    )
    assert kept.webhook_secret(sub) == SECRET
    # a test-send says so instead of sending a signature the receiver would refuse
    from brokerplane.api.native.delivery import send_test

    tried = send_test(sub, services.clock(), runtime.settings, stranger.webhook_secret)
    assert tried.ok is False and tried.error.startswith("SealError: ")
    head, _, body = sub.secret.rpartition(":")
    altered = replace(sub, secret=f"{head}:{'A' if body[0] != 'A' else 'B'}{body[1:]}")
    with pytest.raises(SealError, match="altered"):
        services.webhook_secret(altered)

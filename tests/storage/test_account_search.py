"""Account search by name and white label, and the audit trail by dialect, in SQL on both
engines: the list and the export apply the same filters within the caller's reach."""

from __future__ import annotations

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import ListAccounts, OpenAccount, UpdateAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import InvalidMask, ValidationError
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.kinds import Dialect

COLUMNS = ("login", "name", "broker", "email")


@pytest.fixture
def opened(services: Application, admin: Actor) -> dict[str, int]:
    services.create_group(CreateGroup("demo-usd", "USD"), admin)
    services.create_group(CreateGroup("real\\standard", "USD"), admin)
    people = {
        "alice": ("demo-usd", "Alice SMITH", "acme"),
        "bob": ("demo-usd", "Bob Smithers", "other"),
        "carol": ("real\\standard", "Carol Smith", "acme"),
        "pct": ("demo-usd", "100% Real_Name", "acme"),
    }
    return {
        tag: services.open_account(
            OpenAccount(
                group=group, name=name, profile={"broker": broker, "email": f"{tag}@example.com"}
            ),
            admin,
        ).login
        for tag, (group, name, broker) in people.items()
    }


def _logins(services: Application, actor: Actor, **filters: str) -> set[int]:
    listed = {a.login for a in services.list_accounts(ListAccounts(**filters), actor)}  # type: ignore[arg-type]
    exported = {
        int(row[0])
        for page in services.export_accounts(ListAccounts(**filters), actor, COLUMNS)  # type: ignore[arg-type]
        for row in page
    }
    assert listed == exported, filters
    return listed


def test_name_search_ignores_ascii_case_and_takes_wildcards_literally(
    services: Application, admin: Actor, opened: dict[str, int]
) -> None:
    assert _logins(services, admin, name="smith") == {
        opened["alice"],
        opened["bob"],
        opened["carol"],
    }
    assert _logins(services, admin, name="SMITHERS") == {opened["bob"]}
    assert _logins(services, admin, name="%") == {opened["pct"]}
    assert _logins(services, admin, name="smit_") == set()  # "_" is no wildcard
    assert _logins(services, admin, name="real_name") == {opened["pct"]}


def test_white_label_mask_and_reach_both_apply(
    services: Application, admin: Actor, opened: dict[str, int]
) -> None:
    assert _logins(services, admin, white_label="acme") == {
        opened["alice"],
        opened["carol"],
        opened["pct"],
    }
    assert _logins(services, admin, white_label="*,!acme") == {opened["bob"]}
    limited = Actor(1002, frozenset(SCOPES), group_mask="demo*")
    assert _logins(services, limited, name="smith") == {opened["alice"], opened["bob"]}
    assert _logins(services, limited, white_label="acme", name="smith") == {opened["alice"]}
    brand = Actor(1003, frozenset(SCOPES), white_labels="other")
    assert _logins(services, brand, white_label="acme") == set()  # a filter never widens reach


def test_search_filters_are_bounded(services: Application, admin: Actor) -> None:
    with pytest.raises(ValidationError) as too_long:
        services.list_accounts(ListAccounts(name="x" * 128), admin)
    assert too_long.value.fields[0].field == "name"
    with pytest.raises(InvalidMask):
        services.list_accounts(ListAccounts(white_label="*a" * 200), admin)


def test_the_audit_trail_is_searched_by_dialect(
    services: Application, admin: Actor, opened: dict[str, int]
) -> None:
    console = Actor(1000, frozenset(SCOPES), dialect=Dialect.CONSOLE)
    services.update_account(UpdateAccount(opened["alice"], {"comment": "via console"}), console)
    found = services.query_audit(AuditQuery(dialect="console", limit=100), admin)
    assert [(r.action, r.entity_id) for r in found] == [("account.updated", str(opened["alice"]))]
    assert services.query_audit(AuditQuery(dialect="mt5", limit=100), admin) == []
    with pytest.raises(ValidationError):
        services.query_audit(AuditQuery(dialect="x" * 17, limit=100), admin)

"""The account export: the rows of what list_accounts lists, page by page, with its checks,
reach and personal-data rule."""

from __future__ import annotations

from typing import Any

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import (
    DeleteAccount,
    ListAccounts,
    OpenAccount,
    ReportAccounts,
)
from brokerplane.core.account.model import PERSONAL_FIELDS
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.errors import MissingScope, ValidationError
from brokerplane.core.group.commands import CreateGroup

WORKER = frozenset(SCOPES) - {"admin"}
COLUMNS = (
    "login",
    "group",
    "name",
    "email",
    "city",
    "balance",
    "currency_digits",
    "registered_at",
    "broker",
)
CONTACT = {"email": "ann@example.com", "city": "London"}
ACTORS = [
    pytest.param(Actor(1, WORKER), id="everything"),
    pytest.param(Actor(2, WORKER, group_mask="demo\\*,!demo\\vip"), id="groups"),
    pytest.param(Actor(3, WORKER, white_labels="BRAND*"), id="white-label"),
    pytest.param(Actor(4, WORKER - {"personal_data"}), id="no-personal-data"),
    pytest.param(Actor(5, frozenset({"reports:read"}), group_mask="none"), id="nothing"),
]


@pytest.fixture
def accounts(services: Application, admin: Actor) -> Application:
    for name in ("demo\\usd", "demo\\vip", "real\\usd"):
        services.create_group(CreateGroup(name, "USD"), admin)
    for n in range(9):
        profile: dict[str, Any] = {**CONTACT, "broker": "BRAND-A" if n % 2 else "other"}
        group = ("demo\\usd", "demo\\vip", "real\\usd")[n % 3]
        services.open_account(
            OpenAccount(group=group, login=300_000 + n, name=f"Client {n}", profile=profile), admin
        )
    services.delete_account(DeleteAccount(300_004), admin)
    return services


def _listed(services: Application, cmd: ListAccounts, actor: Actor) -> list[tuple[Any, ...]]:
    """The same columns read from the accounts list_accounts gives."""
    out = []
    for acc in services.iter_accounts(ReportAccounts.of(cmd), actor):  # listed as a report
        assert acc.registered_at is not None
        iso = acc.registered_at.isoformat().replace("+00:00", "Z")
        out.append(tuple(iso if c == "registered_at" else getattr(acc, c) for c in COLUMNS))
    return out


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("page", [1, 2, 1000])
@pytest.mark.parametrize(
    "cmd",
    [
        ListAccounts(),
        ListAccounts(group_mask="*usd"),
        ListAccounts(logins=(300_001, 300_004)),
        ListAccounts(after_login=300_002, limit=1),
    ],
    ids=["all", "mask", "logins", "after"],
)
def test_the_export_holds_the_listed_accounts_page_by_page(
    accounts: Application,
    monkeypatch: pytest.MonkeyPatch,
    actor: Actor,
    page: int,
    cmd: ListAccounts,
) -> None:
    monkeypatch.setattr("brokerplane.core.account.service.EXPORT_PAGE", page)

    pages = list(accounts.export_accounts(cmd, actor, COLUMNS))

    assert all(0 < len(p) <= page for p in pages)
    assert [tuple(r) for p in pages for r in p] == _listed(accounts, cmd, actor)


def test_without_personal_data_contact_columns_are_empty(accounts: Application) -> None:
    plain = Actor(4, WORKER - {"personal_data"})
    rows = [r for p in accounts.export_accounts(ListAccounts(), plain, COLUMNS) for r in p]

    assert {r[COLUMNS.index("email")] for r in rows} == {""}
    assert {r[COLUMNS.index("city")] for r in rows} == {""}
    assert {"email", "city"} <= set(PERSONAL_FIELDS)


def test_the_export_refuses_what_the_list_refuses_at_the_first_page(accounts: Application) -> None:
    refusals = [
        (Actor(6, frozenset({"users:read"})), ListAccounts(), MissingScope),
        (Actor(4, WORKER - {"personal_data"}), ListAccounts(email="ann@example.com"), MissingScope),
        (Actor(1, WORKER), ListAccounts(logins=(0,)), ValidationError),
    ]
    for actor, cmd, error in refusals:
        with pytest.raises(error):
            next(accounts.export_accounts(cmd, actor, COLUMNS))

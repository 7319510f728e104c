"""Four-eyes thresholds over the fakes: per currency and per group, what they hold, setting,
replacing, removing and listing them, who may, and what is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import GroupNotFound, InvalidAmount, MissingScope, ValidationError
from brokerplane.core.group.model import Group
from tests.unit import approvals_support
from tests.unit.approvals_support import APPROVER, REQUESTER, _balance, _post, _threshold
from tests.unit.fakes import FakeClock, FakeUowFactory

# The approval tests' fixtures (tests/unit/approvals_support.py).
account = approvals_support.account
other_group = approvals_support.other_group


# --- thresholds ------------------------------------------------------------------------------


def test_a_currency_threshold_holds_operations_strictly_above_it(
    services: Application, admin: Actor, account: Account
) -> None:
    at = _post(services, account.login, "deposit", "1000.00")
    above = _post(services, account.login, "deposit", "1000.01")

    assert (at.status, above.status) == ("applied", "pending_approval")
    assert _balance(services, admin, account.login) == 600000


def test_a_threshold_is_set_in_minor_units_of_its_currency_and_listed(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    threshold = _threshold(services, admin, "1234.5", currency="usd")

    listed = services.list_approval_thresholds(admin)
    assert listed == [threshold]
    t = listed[0]
    assert (t.currency, t.amount, t.currency_digits, t.group_id, t.group, t.updated_at) == (
        "USD",
        123450,
        2,
        0,
        None,
        clock.now,
    )


def test_thresholds_are_listed_by_currency_then_group(
    services: Application, admin: Actor, usd_group: Group, other_group: Group
) -> None:
    _threshold(services, admin, "5", group="demo\\usd")
    _threshold(services, admin, "7", currency="EUR")
    _threshold(services, admin, "6", group="real\\standard")
    _threshold(services, admin, "4")

    listed = services.list_approval_thresholds(REQUESTER)

    assert [(t.currency, t.group, t.amount) for t in listed] == [
        ("EUR", None, 700),
        ("USD", None, 400),
        ("USD", "real\\standard", 600),
        ("USD", "demo\\usd", 500),
    ]


def test_a_group_threshold_overrides_its_currencys_for_that_group_only(
    services: Application, admin: Actor, account: Account, other_group: Group
) -> None:
    elsewhere = services.open_account(OpenAccount(group="demo\\usd"), admin).login
    _threshold(services, admin, "50", group="real\\standard")

    assert _post(services, account.login, "deposit", "60").status == "pending_approval"
    assert _post(services, elsewhere, "deposit", "60").status == "applied"
    assert _post(services, elsewhere, "deposit", "1000.01").status == "pending_approval"


def test_a_higher_group_threshold_lets_through_what_the_currency_would_hold(
    services: Application, admin: Actor, account: Account
) -> None:
    _threshold(services, admin, "3000", group="real\\standard")

    assert _post(services, account.login, "deposit", "2000").status == "applied"
    assert _post(services, account.login, "deposit", "3000.01").status == "pending_approval"


def test_a_group_threshold_without_a_currency_takes_the_groups(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    threshold = _threshold(services, admin, "10", currency="", group="real\\standard")

    assert threshold is not None
    assert (threshold.currency, threshold.group_id, threshold.group, threshold.amount) == (
        "USD",
        usd_group.id,
        "real\\standard",
        1000,
    )


def test_another_currencys_threshold_does_not_hold_operations(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)
    _threshold(services, admin, "1", currency="EUR")

    assert _post(services, acc.login, "deposit", "100").status == "applied"


def test_a_zero_threshold_holds_every_operation(
    services: Application, admin: Actor, account: Account
) -> None:
    _threshold(services, admin, "0")

    assert _post(services, account.login, "deposit", "0.01").status == "pending_approval"


def test_setting_a_threshold_again_replaces_it(
    services: Application, admin: Actor, account: Account
) -> None:
    _threshold(services, admin, "3000")

    assert [t.amount for t in services.list_approval_thresholds(admin)] == [300000]
    assert _post(services, account.login, "deposit", "2000").status == "applied"


def test_removing_a_threshold_lets_every_amount_through(
    services: Application, admin: Actor, account: Account
) -> None:
    removed = _threshold(services, admin, None)

    assert removed is None
    assert services.list_approval_thresholds(admin) == []
    assert _post(services, account.login, "deposit", "99999").status == "applied"


def test_removing_a_group_threshold_falls_back_to_the_currencys(
    services: Application, admin: Actor, account: Account
) -> None:
    _threshold(services, admin, "5000", group="real\\standard")
    _threshold(services, admin, None, group="real\\standard")

    assert _post(services, account.login, "deposit", "2000").status == "pending_approval"


def test_setting_and_removing_thresholds_is_audited(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    _threshold(services, admin, "10")
    _threshold(services, admin, "20")
    _threshold(services, admin, None)
    _threshold(services, admin, None)  # nothing left to remove: nothing recorded

    records = services.query_audit(AuditQuery(action="approval_threshold."), admin)

    assert [(r.action, r.entity_id, r.before, r.after) for r in records] == [
        (
            "approval_threshold.set",
            "USD:0",
            None,
            {"currency": "USD", "group_id": 0, "amount": 1000},
        ),
        (
            "approval_threshold.set",
            "USD:0",
            {"currency": "USD", "group_id": 0, "amount": 1000},
            {"currency": "USD", "group_id": 0, "amount": 2000},
        ),
        (
            "approval_threshold.removed",
            "USD:0",
            {"currency": "USD", "group_id": 0, "amount": 2000},
            None,
        ),
    ]


@pytest.mark.parametrize("scopes", [{"balances:write", "balances:approve", "users:read"}, set()])
def test_only_an_admin_may_set_thresholds(
    services: Application, usd_group: Group, uows: FakeUowFactory, scopes: set[str]
) -> None:
    with pytest.raises(MissingScope) as caught:
        _threshold(services, replace(APPROVER, scopes=frozenset(scopes)), "10")

    assert caught.value.context == {"scope": "admin"}
    assert uows.state.thresholds == {}


def test_listing_thresholds_needs_a_money_scope(services: Application, usd_group: Group) -> None:
    with pytest.raises(MissingScope):
        services.list_approval_thresholds(Actor(1009, frozenset({"reports:read"})))


@pytest.mark.parametrize("amount", ["-1", -0.01, "10.001", "ten", "NaN", "inf", True, [10]])
def test_a_threshold_that_is_not_a_non_negative_amount_is_refused(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory, amount: object
) -> None:
    with pytest.raises(InvalidAmount) as caught:
        _threshold(services, admin, amount)  # type: ignore[arg-type]  # what a caller may send

    assert [f.field for f in caught.value.fields] == ["amount"]
    assert uows.state.thresholds == {}


def test_a_threshold_for_an_unknown_group_is_refused(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    with pytest.raises(GroupNotFound):
        _threshold(services, admin, "10", group="real\\nope")


@pytest.mark.parametrize("currency", ["", "US D", "TOOLONGCUR", "€"])
def test_a_threshold_needs_a_currency_code(
    services: Application, admin: Actor, usd_group: Group, currency: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        _threshold(services, admin, "10", currency=currency)

    assert [f.field for f in caught.value.fields] == ["currency"]


def test_a_threshold_too_large_for_storage_is_refused(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    with pytest.raises(InvalidAmount):
        _threshold(services, admin, "1e30")

    assert uows.state.thresholds == {}

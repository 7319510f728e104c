"""Accounts, groups, symbols, managers and keys stored and read back on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core import passwords
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.account import service as account_service
from brokerplane.core.account.commands import (
    DisableAccount,
    ListAccounts,
    OpenAccount,
    UpdateAccount,
)
from brokerplane.core.account.model import TEXT_LIMITS, Account
from brokerplane.core.actor import Actor
from brokerplane.core.errors import LoginAlreadyExists, LoginRangeExhausted
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from brokerplane.core.symbol.commands import CreateSymbol
from brokerplane.storage.repositories.accounts import SqlAccounts
from tests.unit.fakes import FakeClock

MAX_BIGINT = 2**63 - 1


def _full_profile() -> dict[str, Any]:
    """A value other than the default in every profile field, each text at its longest."""
    texts = {name: ("Ωß" + "x" * limit)[:limit] for name, limit in TEXT_LIMITS.items()}
    texts["email"] = "Ülle.O'Brien+kyc@Example.com"
    return texts | {
        "country_id": 999,
        "color": 0xFFFFFFFF,
        "language": 0xFFFF,
        "agent": MAX_BIGINT,
        "client_id": MAX_BIGINT,
        "limited_risk": True,
        "limited_risk_strategy": "ACCORDING_TO_GSL",
        "max_leverage": 100_000_000,
        "send_own_statement": True,
        "send_statement_to_broker": True,
        "swap_free": True,
        "limit_orders": 1_000_000,
        "limit_positions": 7,
        "rights": 0x3FFFF,
        "access_rights": "CLOSE_ONLY",
        "account_type": "NETTED",
        "margin_mode": "NET",
        "api_data": [
            {
                "AppID": 1,
                "ID": 2,
                "ValueInt": -5,
                "ValueDouble": 1.5,
                "ValueString": "ü",
                "nested": {"list": [1, None, True]},
            }
        ],
        "attributes": {"kyc": "passed", "ünï": "çødé"},
    }


def _open(services: Application, admin: Actor, group: str = "real\\standard", **kw: Any) -> Account:
    return services.open_account(OpenAccount(group=group, **kw), admin)


def test_account_round_trip_keeps_every_field(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    opened = _open(
        services,
        admin,
        login=MAX_BIGINT,
        leverage=500,
        main_password="1Ar#pqkj",
        investor_password="2Bs$qrlk",
        phone_password="0000",
        profile=_full_profile(),
    )

    loaded = services.get_account(MAX_BIGINT, admin)

    assert loaded == opened
    assert passwords.verify(loaded.main_password, "1Ar#pqkj")
    assert passwords.verify(loaded.investor_password, "2Bs$qrlk")
    assert passwords.verify(loaded.phone_password, "0000")


def test_account_round_trip_keeps_the_timestamps_as_utc_to_the_microsecond(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 7, 1, 23, 59, 58, 999999, tzinfo=timezone(timedelta(hours=5)))
    opened = _open(services, admin, main_password="1Ar#pqkj")
    clock.advance(microseconds=1)
    disabled = services.disable_account(DisableAccount(opened.login, "audit"), admin)

    loaded = services.get_account(opened.login, admin)

    assert loaded == disabled
    stamps = [loaded.registered_at, loaded.updated_at, loaded.last_pass_change, loaded.disabled_at]
    assert all(s is not None and s.tzinfo is UTC for s in stamps)
    assert loaded.registered_at == datetime(2026, 7, 1, 18, 59, 58, 999999, tzinfo=UTC)
    assert loaded.disabled_at == datetime(2026, 7, 1, 18, 59, 59, tzinfo=UTC)
    assert services.verify_audit().ok  # the records were sealed with the +05:00 times


def test_account_round_trip_keeps_empty_and_null_fields_as_they_were(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    opened = _open(services, admin)

    loaded = services.get_account(opened.login, admin)

    assert loaded == opened
    assert (
        loaded.main_password,
        loaded.country_id,
        loaded.max_leverage,
        loaded.margin_mode,
        loaded.disabled_at,
        loaded.api_data,
        loaded.attributes,
    ) == (None, None, None, None, None, [], {})
    assert (loaded.balance, loaded.credit, loaded.bonus) == (0, 0, 0)


def test_update_round_trip_stores_every_changed_field(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    opened = _open(services, admin)
    profile = _full_profile()

    updated = services.update_account(UpdateAccount(opened.login, profile | {"leverage": 1}), admin)

    assert services.get_account(opened.login, admin) == updated
    assert {k: getattr(updated, k) for k in profile} == profile


def test_group_round_trip_keeps_decimals_exactly_and_json_attributes(
    services: Application, admin: Actor, clock: FakeClock
) -> None:
    settings = {
        "margin_call": "33.333333333333333333",
        "stop_out": Decimal("0.10"),
        "login_range_from": 1,
        "login_range_to": MAX_BIGINT,
        "plan_id": 3,
        "attributes": {"desk": "ü", "tier": "2"},
        "default_rights": 0x3FFFF,
        "permissions": 2**31 - 1,
        "description": "d" * 255,
        "currency_digits": 8,
    }
    created = services.create_group(CreateGroup("crypto\\btc", "BTC", settings), admin)

    loaded = services.get_group("crypto\\btc", admin)

    assert loaded == created
    assert str(loaded.margin_call) == "33.333333333333333333"
    assert str(loaded.stop_out) == "0.10"
    assert loaded.created_at == clock.now and loaded.created_at.tzinfo is UTC


def test_symbol_round_trip_keeps_decimals_exactly(services: Application, admin: Actor) -> None:
    created = services.create_symbol(
        CreateSymbol(
            "BTCUSD.micro",
            {
                "currency_base": "BTC",
                "currency_profit": "USD",
                "currency_margin": "BTC",
                "contract_size": "0.00000001",
                "volume_min": "0.001",
                "volume_max": "1000000",
                "volume_step": "0.001",
                "digits": 10,
                "path": "Crypto\\Majors",
                "isin": "X" * 15,
            },
        ),
        admin,
    )

    loaded = services.get_symbol("BTCUSD.micro", admin)

    assert loaded == created
    assert loaded.contract_size.as_tuple() == Decimal("0.00000001").as_tuple()
    assert loaded.volume_max.as_tuple() == Decimal("1000000").as_tuple()


def test_manager_and_key_round_trip_keep_rights_scopes_and_expiry(
    services: Application, admin: Actor, clock: FakeClock
) -> None:
    rights = frozenset({"users:read", "users:write", "reports:read"})
    manager = services.create_manager(
        CreateManager(
            MAX_BIGINT,
            name="Ops ü",
            password="manager-pw",
            rights=rights,
            group_mask="real\\*,!real\\vip",
            white_labels="wl1,wl2",
        ),
        admin,
    )
    expires = clock.now + timedelta(days=30, microseconds=7)
    issued = services.create_api_key(
        CreateApiKey(
            MAX_BIGINT, frozenset({"users:read", "reports:read"}), name="crm", expires_at=expires
        ),
        admin,
    )

    identity = services.authenticate_key(issued.secret)

    assert services.get_manager(MAX_BIGINT) == manager
    assert identity.manager == manager
    assert passwords.verify(identity.manager.verifiers["password"], "manager-pw")
    assert identity.key == issued.key
    assert identity.key.expires_at == expires
    assert identity.scopes == frozenset({"users:read", "reports:read"})


def test_key_use_is_stamped_in_storage(
    services: Application, admin: Actor, runtime: Runtime, clock: FakeClock
) -> None:
    services.create_manager(CreateManager(7), admin)
    issued = services.create_api_key(CreateApiKey(7, frozenset({"users:read"})), admin)
    used = clock.advance(seconds=3)

    services.authenticate_key(issued.secret)

    with runtime.storage.uow(write=False) as uow:
        stored = uow.api_keys.get(issued.key.id)
    assert stored is not None and stored.last_used_at == used


# --- listing ---------------------------------------------------------------------------------


@pytest.fixture
def population(services: Application, admin: Actor, clock: FakeClock) -> dict[str, list[int]]:
    """Six accounts in three groups, registered a minute apart; logins by group."""
    for name in ("real\\a", "real\\b", "demo\\a"):
        services.create_group(CreateGroup(name, "USD"), admin)
    by_group: dict[str, list[int]] = {"real\\a": [], "real\\b": [], "demo\\a": []}
    plan = [
        ("real\\a", "Ann.Lee@Example.com"),
        ("demo\\a", "ann.lee@example.com"),
        ("real\\b", "bob@example.com"),
        ("real\\a", ""),
        ("demo\\a", "carl@example.com"),
        ("real\\b", "ANN.LEE@EXAMPLE.COM"),
    ]
    for group, email in plan:
        acc = _open(services, admin, group=group, profile={"email": email})
        by_group[group].append(acc.login)
        clock.advance(minutes=1)
    return by_group


def _logins(services: Application, admin: Actor, **kw: Any) -> list[int]:
    return [a.login for a in services.list_accounts(ListAccounts(**kw), admin)]


def test_listing_without_filters_returns_every_account_in_login_order(
    services: Application, admin: Actor, population: dict[str, list[int]]
) -> None:
    assert _logins(services, admin) == list(range(100_000, 100_006))


def test_listing_by_group_mask_keeps_only_the_admitted_groups(
    services: Application, admin: Actor, population: dict[str, list[int]]
) -> None:
    real = sorted(population["real\\a"] + population["real\\b"])

    assert _logins(services, admin, group_mask="real\\*") == real
    assert _logins(services, admin, group_mask="*,!real\\b") == sorted(
        population["real\\a"] + population["demo\\a"]
    )
    assert _logins(services, admin, group_mask="nothing\\*") == []


def test_listing_by_email_ignores_case(
    services: Application, admin: Actor, population: dict[str, list[int]]
) -> None:
    found = services.list_accounts(ListAccounts(email="ann.LEE@example.com"), admin)

    assert [a.login for a in found] == [100_000, 100_001, 100_005]
    assert found[0].email == "Ann.Lee@Example.com"


def test_listing_by_logins_returns_only_those_that_exist(
    services: Application, admin: Actor, population: dict[str, list[int]]
) -> None:
    assert _logins(services, admin, logins=(100_004, 100_001, 5)) == [100_001, 100_004]


def test_listing_by_registration_includes_the_start_and_excludes_the_end(
    services: Application, admin: Actor, population: dict[str, list[int]], clock: FakeClock
) -> None:
    start = FakeClock().now  # the first account's registration time
    window = {
        "registered_from": start + timedelta(minutes=1),
        "registered_to": start + timedelta(minutes=4),
    }

    assert _logins(services, admin, **window) == [100_001, 100_002, 100_003]
    in_other_zone = {k: v.astimezone(timezone(timedelta(hours=-7))) for k, v in window.items()}
    assert _logins(services, admin, **in_other_zone) == [100_001, 100_002, 100_003]


def test_listing_pages_by_login_after_the_cursor(
    services: Application, admin: Actor, population: dict[str, list[int]]
) -> None:
    first = _logins(services, admin, limit=4)
    second = _logins(services, admin, limit=4, after_login=first[-1])

    assert first == [100_000, 100_001, 100_002, 100_003]
    assert second == [100_004, 100_005]
    assert _logins(services, admin, after_login=100_005) == []


def test_filters_combine(
    services: Application, admin: Actor, population: dict[str, list[int]]
) -> None:
    assert _logins(
        services, admin, group_mask="real\\*", email="ann.lee@example.com", after_login=100_000
    ) == [100_005]


def test_iterating_a_report_walks_every_page(
    services: Application,
    admin: Actor,
    population: dict[str, list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(account_service, "MAX_PAGE", 2)

    logins = [a.login for a in services.iter_accounts(ListAccounts(group_mask="*"), admin)]

    assert logins == list(range(100_000, 100_006))


# --- login allocation ------------------------------------------------------------------------


def _ranged(services: Application, admin: Actor, low: int, high: int) -> None:
    settings = {"login_range_from": low, "login_range_to": high}
    services.create_group(CreateGroup("real\\ranged", "USD", settings), admin)


def test_allocation_starts_at_the_server_range_for_a_group_without_one(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    start = runtime.settings.login_range_from

    assert [_open(services, admin).login for _ in range(2)] == [start, start + 1]


def test_allocation_uses_the_group_range_and_ignores_logins_outside_it(
    services: Application, admin: Actor
) -> None:
    _ranged(services, admin, 5000, 5009)
    _open(services, admin, group="real\\ranged", login=6000)
    _open(services, admin, group="real\\ranged", login=4999)

    assert _open(services, admin, group="real\\ranged").login == 5000
    assert _open(services, admin, group="real\\ranged").login == 5001


def test_allocation_fills_gaps_once_the_top_is_taken_then_reports_exhaustion(
    services: Application, admin: Actor
) -> None:
    _ranged(services, admin, 5000, 5005)
    for login in (5001, 5003, 5005):
        _open(services, admin, group="real\\ranged", login=login)

    allocated = [_open(services, admin, group="real\\ranged").login for _ in range(3)]

    assert allocated == [5000, 5002, 5004]
    with pytest.raises(LoginRangeExhausted) as caught:
        _open(services, admin, group="real\\ranged")
    assert caught.value.context == {"range_from": 5000, "range_to": 5005}


def test_allocation_in_a_range_of_one_login(services: Application, admin: Actor) -> None:
    _ranged(services, admin, MAX_BIGINT, MAX_BIGINT)

    assert _open(services, admin, group="real\\ranged").login == MAX_BIGINT
    with pytest.raises(LoginRangeExhausted):
        _open(services, admin, group="real\\ranged")


def test_duplicate_explicit_login_is_refused_and_the_first_account_kept(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    _open(services, admin, login=777, name="first")

    with pytest.raises(LoginAlreadyExists):
        _open(services, admin, login=777, name="second")

    assert services.get_account(777, admin).name == "first"


def test_a_login_taken_between_the_check_and_the_insert_is_refused_as_taken(
    services: Application, admin: Actor, usd_group: Group, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when a concurrent opening of the same login commits after this one's check: the
    insert itself fails, and is told apart from other failures by the database's error."""
    _open(services, admin, login=777, name="first")
    monkeypatch.setattr(SqlAccounts, "exists", lambda self, login: False)

    with pytest.raises(LoginAlreadyExists):
        _open(services, admin, login=777, name="second")

    assert services.get_account(777, admin).name == "first"
    assert _open(services, admin, login=778, name="third").login == 778

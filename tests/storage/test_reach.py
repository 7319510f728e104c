"""Reach in SQL on SQLite and PostgreSQL: the masks the database evaluates admit exactly the
names core.masks admits, and listings show exactly the accounts a manager may read one by one."""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest
from sqlalchemy import Engine, String, literal, select, union_all

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import ListAccounts, OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.approval.model import ApprovalQuery
from brokerplane.core.errors import AccountNotFound, ApprovalNotFound
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.core.masks import matches
from brokerplane.storage.sql.conditions import mask_condition

NAMES = [
    "demo\\vip",
    "demo\\VIP",
    "Demo\\Forex",
    "demo\\vip\\eu",
    "demo",
    "demo\\",
    "DEMO\\",
    "real\\x",
    "real_x",
    "REAL_X",
    "realax",
    "real\\eu\\vip",
    "real\\eu\\std",
    "real%x",
    "50%",
    "500",
    "5%",
    "50%off",
    "a\\b",
    "a\\\\b",
    "ab",
    "aXb",
    "a*b",
    "x%_\\y",
    "xa_\\y",
    "_",
    "%",
    "\\",
    "",
    "BEST_BROKER",
    "BESTXBROKER",
    "best_broker",
    "a" * 200,
    "a" * 200 + "b",
    "a\nb",
    "aba",
    "abba",
]
MASKS = [
    "*",
    "demo\\*",
    "DEMO\\*",
    "demo\\*,!demo\\vip",
    "!demo\\vip,demo\\*",
    "demo\\vip,!DEMO\\*",
    "!demo\\*",
    "!demo\\*,!real_x",
    "demo\\vip",
    "Demo\\VIP",
    "real_x",
    "REAL_x",
    "real\\x",
    "real%x",
    "real\\*\\vip",
    "*\\vip",
    "*\\vip*",
    "50%",
    "5*",
    "*%",
    "*%*",
    "%",
    "_",
    "____",
    "___________",
    "a\\b",
    "a\\\\b",
    "a*b",
    "a\\*",
    "*\\",
    "\\",
    "*\\*",
    "x%_\\y",
    "demo\\v*p",
    "*_*",
    "d*\\*i*",
    " demo\\vip , real_x ",
    "BEST_BROKER",
    "best_*",
    "*,!*_*,!*%*",
    "",
    ",",
    "!",
    # runs of stars, and many stars in one part: the database is asked for each
    "a**b",
    "***",
    "ab*ba",
    "a*a*a",
    "*a*a*a*a*a*a*a*a*a*a*a*a*b",
    "*a" * 15 + "*b",
    ("*a" * 15 + "*b,") * 3 + "!" + "*a" * 15 + "*%",
]


def _admitted_in_sql(engine: Engine, mask: str, names: list[str]) -> set[str]:
    table = union_all(*[select(literal(n, String).label("name")) for n in names]).subquery()
    with engine.connect() as conn:
        condition = mask_condition(table.c.name, mask, engine.dialect.name)
        found = conn.execute(select(table.c.name).where(condition))
        return {row.name for row in found}


def test_masks_admit_in_sql_exactly_the_names_they_admit_in_python(runtime: Runtime) -> None:
    engine = runtime.storage.engine
    disagreements: dict[str, dict[str, set[str]]] = {}

    for mask in MASKS:
        expected = {n for n in NAMES if matches(mask, n)}
        found = _admitted_in_sql(engine, mask, NAMES)
        if found != expected:
            disagreements[mask] = {"sql only": found - expected, "python only": expected - found}

    assert disagreements == {}


def test_the_mask_table_covers_what_it_is_meant_to(runtime: Runtime) -> None:
    """Guards the table above: the tricky masks do admit something, and something else not."""
    engine = runtime.storage.engine
    assert _admitted_in_sql(engine, "real_x", NAMES) == {"real_x", "REAL_X"}
    assert _admitted_in_sql(engine, "50%", NAMES) == {"50%"}
    assert _admitted_in_sql(engine, "a\\b", NAMES) == {"a\\b"}
    assert _admitted_in_sql(engine, "demo\\*,!demo\\vip", NAMES) == {
        "Demo\\Forex",
        "demo\\vip\\eu",
        "demo\\",
        "DEMO\\",
    }
    assert _admitted_in_sql(engine, "*%*", NAMES) == {
        "real%x",
        "50%",
        "5%",
        "50%off",
        "x%_\\y",
        "%",
    }


NON_ASCII_NAMES = ["Übung\\eu", "übung\\eu", "ÉCOLE", "école", "Straße"]
NON_ASCII_MASKS = ["übung\\*", "ÜBUNG\\*", "école", "ÉCOLE", "STRAßE", "*\\EU"]


def test_masks_treat_non_ascii_letters_alike_in_sql_and_in_python(runtime: Runtime) -> None:
    # ASCII case is ignored, other letters are compared as written: the same rule in both
    # places, whatever the engine or its locale folds
    engine = runtime.storage.engine
    disagreements = {}

    for mask in NON_ASCII_MASKS:
        expected = {n for n in NON_ASCII_NAMES if matches(mask, n)}
        found = _admitted_in_sql(engine, mask, NON_ASCII_NAMES)
        if found != expected:
            disagreements[mask] = (found, expected)

    assert disagreements == {}
    assert matches("übung\\*", "übung\\eu") and not matches("übung\\*", "Übung\\eu")


# --- listings by reach -----------------------------------------------------------------------

GROUPS = ["demo\\usd", "demo\\vip", "real\\standard"]
BROKERS = ["BEST_BROKER", "BESTXBROKER", "50%BROKER", "500BROKER", "Back\\Slash", "BackXSlash"]
WORKER = frozenset(SCOPES) - {"admin"}
REQUESTER = Actor(1000, WORKER)
# Each a manager limited in groups, in white labels, or both.
REACHES = [
    pytest.param("demo\\*", "*", id="demo-groups"),
    pytest.param("demo\\*,!demo\\vip", "*", id="demo-less-vip"),
    pytest.param("*", "BEST_BROKER", id="underscore-is-literal"),
    pytest.param("*", "best_broker", id="white-label-case"),
    pytest.param("*", "50%*", id="percent-is-literal"),
    pytest.param("*", "*%*", id="any-percent"),
    pytest.param("*", "Back\\Slash", id="backslash"),
    pytest.param("*", "*\\*", id="any-backslash"),
    pytest.param("*", "___________", id="only-underscores"),
    pytest.param("*", "*,!BEST_BROKER,!50%BROKER", id="exclusions"),
    pytest.param("real\\*", "B*,!*X*", id="both"),
    pytest.param("archive\\*", "*", id="no-group"),
]


@pytest.fixture
def spread(services: Application, admin: Actor) -> dict[int, Account]:
    """An account in every group under every white label, each with a deposit applied and,
    USD above 1000.00 being held, a 5000.00 deposit waiting for approval."""
    for name in GROUPS:
        services.create_group(CreateGroup(name, "USD"), admin)
    services.set_approval_threshold(SetApprovalThreshold("USD", "1000"), admin)
    accounts = {}
    for n, (group, broker) in enumerate(product(GROUPS, BROKERS), start=300_001):
        profile: dict[str, Any] = {"broker": broker}
        accounts[n] = services.open_account(OpenAccount(group, login=n, profile=profile), admin)
        services.post_ledger_entry(PostLedgerEntry(n, "deposit", "100"), REQUESTER)
        services.post_ledger_entry(PostLedgerEntry(n, "deposit", "5000"), REQUESTER)
    return accounts


@pytest.mark.parametrize(("group_mask", "white_labels"), REACHES)
def test_listings_show_exactly_the_accounts_a_manager_may_read_one_by_one(
    services: Application, spread: dict[int, Account], group_mask: str, white_labels: str
) -> None:
    actor = Actor(2001, WORKER, group_mask=group_mask, white_labels=white_labels)
    reached = {n for n, a in spread.items() if actor.reaches(a.group, a.broker)}

    assert {a.login for a in services.list_accounts(ListAccounts(limit=1000), actor)} == reached
    assert {a.login for a in services.iter_accounts(ListAccounts(), actor)} == reached
    assert {e.login for e in services.list_ledger(LedgerQuery(limit=1000), actor)} == reached
    assert {e.login for e in services.iter_ledger(LedgerQuery(), actor)} == reached
    held = services.list_approvals(ApprovalQuery(limit=1000), actor)
    assert {a.login for a in held} == reached
    for n in spread:
        if n in reached:
            assert services.get_account(n, actor).login == n
        else:
            with pytest.raises(AccountNotFound):
                services.get_account(n, actor)
            with pytest.raises(AccountNotFound):
                services.list_ledger(LedgerQuery(login=n), actor)
            assert services.list_approvals(ApprovalQuery(login=n), actor) == []
    for pending in services.list_approvals(ApprovalQuery(limit=1000), REQUESTER):
        if pending.login in reached:
            assert services.get_approval(pending.id, actor).login == pending.login
        else:
            with pytest.raises(ApprovalNotFound):
                services.get_approval(pending.id, actor)


def test_the_tricky_white_labels_reach_what_they_say(
    services: Application, spread: dict[int, Account]
) -> None:
    """Guards the table above against reaching nothing (or everything) for the wrong reason."""

    def brokers(white_labels: str) -> set[str]:
        actor = Actor(2001, WORKER, white_labels=white_labels)
        listed = services.list_accounts(ListAccounts(limit=1000), actor)
        return {a.broker for a in listed}

    assert brokers("BEST_BROKER") == brokers("best_broker") == {"BEST_BROKER"}
    assert brokers("50%*") == {"50%BROKER"}
    assert brokers("Back\\Slash") == brokers("*\\*") == {"Back\\Slash"}
    assert brokers("___________") == set()


def test_a_non_ascii_white_label_lists_as_it_reads(
    services: Application, admin: Actor, runtime: Runtime
) -> None:
    services.create_group(CreateGroup("demo\\usd", "USD"), admin)
    services.open_account(
        OpenAccount("demo\\usd", login=300_100, profile={"broker": "ÜBERBROKER"}), admin
    )
    same, other_case = (Actor(2001, WORKER, white_labels=w) for w in ("ÜBERBROKER", "überbroker"))

    assert services.get_account(300_100, same).login == 300_100
    assert [a.login for a in services.list_accounts(ListAccounts(), same)] == [300_100]
    # a non-ASCII letter in another case is another white label, for reads and lists alike
    with pytest.raises(AccountNotFound):
        services.get_account(300_100, other_case)
    assert services.list_accounts(ListAccounts(), other_case) == []

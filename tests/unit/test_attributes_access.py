"""Attributes over the fakes, who may touch what: reach and partial authorisation, managers'
own attributes, deleting, and the audit of every change."""

from __future__ import annotations

import pytest

from brokerplane.core.account.commands import DeleteAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.attribute.commands import DeleteAttributes, ListAttributes
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import (
    AccountNotFound,
    GroupNotFound,
    ManagerNotFound,
    MissingScope,
    PermissionDenied,
)
from brokerplane.core.kinds import Dialect
from tests.unit import attributes_support
from tests.unit.attributes_support import (
    BEST,
    BEST2,
    BRAND,
    DEMO,
    MISSING,
    OTHER,
    READER,
    REAL,
    REGULAR,
    SECOND,
    SUPER,
    WORKER,
    World,
    listed,
    put,
)
from tests.unit.fakes import FakeClock

# The attribute tests' fixtures (tests/unit/attributes_support.py).
world = attributes_support.world


# --- reach and partial authorisation ---------------------------------------------------------


def test_unreachable_traders_are_skipped_silently_by_upsert_list_and_delete(world: World) -> None:
    s = world.services
    s.set_attributes(put("account", (REAL, {"k": "admin"})), world.admin)

    applied = s.set_attributes(
        put("account", (BEST, {"k": "1"}), (REAL, {"k": "2"}), (MISSING, {"k": "3"})), DEMO
    )

    assert applied == (BEST,)
    assert listed(s, world.admin, "account", BEST, REAL) == {BEST: {"k": "1"}, REAL: {"k": "admin"}}
    assert listed(s, DEMO, "account", BEST, REAL) == {BEST: {"k": "1"}}
    assert s.delete_attributes(DeleteAttributes("account", (REAL, BEST)), DEMO) == (BEST,)
    assert listed(s, world.admin, "account", BEST, REAL) == {REAL: {"k": "admin"}}


def test_a_write_none_of_whose_traders_is_in_reach_is_refused_alike_for_missing_ones(
    world: World,
) -> None:
    s = world.services
    before = len(s.query_audit(AuditQuery(limit=1000), world.admin))

    with pytest.raises(PermissionDenied) as out_of_reach:
        s.set_attributes(put("account", (REAL, {"k": "v"})), DEMO)
    with pytest.raises(PermissionDenied) as missing:
        s.set_attributes(put("account", (MISSING, {"k": "v"})), DEMO)
    with pytest.raises(PermissionDenied):
        s.delete_attributes(DeleteAttributes("account", (OTHER,)), BRAND)

    assert out_of_reach.value.detail == missing.value.detail
    assert listed(s, world.admin, "account", REAL) == {}
    assert len(s.query_audit(AuditQuery(limit=1000), world.admin)) == before


def test_an_actor_who_sees_everything_learns_that_the_id_does_not_exist(world: World) -> None:
    s, admin = world.services, world.admin
    with pytest.raises(AccountNotFound):
        s.set_attributes(put("account", (MISSING, {"k": "v"})), admin)
    with pytest.raises(GroupNotFound):
        s.delete_attributes(DeleteAttributes("group", (999,)), admin)
    with pytest.raises(ManagerNotFound):
        s.set_attributes(put("manager", (9999, {"k": "v"})), admin)


def test_paging_all_traders_shows_only_those_in_reach(world: World) -> None:
    s = world.services
    s.set_attributes(
        put("account", *[(i, {"k": str(i)}) for i in (BEST, BEST2, OTHER, REAL)]), world.admin
    )

    def ids(actor: Actor) -> list[int]:
        return [x.entity_id for x in s.list_attributes(ListAttributes("account"), actor).sets]

    assert ids(DEMO) == [BEST, BEST2, OTHER]
    assert ids(BRAND) == [BEST, BEST2, REAL]
    limited = Actor(REGULAR, WORKER, group_mask="nothing\\*", dialect=Dialect.CTRADER)
    assert ids(limited) == []


def test_deleted_traders_no_longer_list_their_attributes(world: World) -> None:
    s = world.services
    s.set_attributes(put("account", (BEST, {"k": "1"}), (BEST2, {"k": "2"})), world.admin)
    s.delete_account(DeleteAccount(BEST), world.admin)

    assert [
        x.entity_id for x in s.list_attributes(ListAttributes("account"), world.admin).sets
    ] == [BEST2]
    with pytest.raises(AccountNotFound):
        s.set_attributes(put("account", (BEST, {"k": "3"})), world.admin)


def test_trader_attributes_need_users_read_to_list_and_users_write_to_change(
    world: World,
) -> None:
    s = world.services
    s.set_attributes(put("account", (BEST, {"k": "1"})), world.admin)
    nobody = Actor(REGULAR, frozenset(), dialect=Dialect.CTRADER)

    assert listed(s, READER, "account", BEST) == {BEST: {"k": "1"}}
    with pytest.raises(MissingScope):
        s.set_attributes(put("account", (BEST, {"k": "2"})), READER)
    with pytest.raises(MissingScope):
        s.delete_attributes(DeleteAttributes("group", (world.demo_group,)), READER)
    with pytest.raises(MissingScope):
        s.list_attributes(ListAttributes("account"), nobody)


def test_group_attributes_follow_the_managers_group_reach(world: World) -> None:
    s = world.services
    applied = s.set_attributes(
        put("group", (world.demo_group, {"tag": "demo"}), (world.real_group, {"tag": "real"})),
        DEMO,
    )

    assert applied == (world.demo_group,)
    assert listed(s, world.admin, "group", world.demo_group, world.real_group) == {
        world.demo_group: {"tag": "demo"}
    }
    with pytest.raises(PermissionDenied):
        s.set_attributes(put("group", (world.real_group, {"tag": "x"})), DEMO)
    s.set_attributes(put("group", (world.real_group, {"tag": "real"})), world.admin)
    assert listed(s, DEMO, "group", world.demo_group, world.real_group) == {
        world.demo_group: {"tag": "demo"}
    }


# --- managers --------------------------------------------------------------------------------


def test_a_regular_manager_touches_only_its_own_attributes_and_others_are_skipped(
    world: World,
) -> None:
    s = world.services
    s.set_attributes(put("manager", (SECOND, {"theme": "light"})), world.admin)

    applied = s.set_attributes(
        put("manager", (REGULAR, {"theme": "dark"}), (SECOND, {"theme": "hacked"})), DEMO
    )

    assert applied == (REGULAR,)
    assert listed(s, DEMO, "manager", REGULAR, SECOND) == {REGULAR: {"theme": "dark"}}
    assert listed(s, world.admin, "manager", SECOND) == {SECOND: {"theme": "light"}}
    for call in (
        lambda: s.set_attributes(put("manager", (SECOND, {"theme": "x"})), DEMO),
        lambda: s.delete_attributes(DeleteAttributes("manager", (SECOND,)), DEMO),
        lambda: s.list_attributes(ListAttributes("manager", ids=(SECOND,)), DEMO),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert s.delete_attributes(DeleteAttributes("manager", (SECOND, REGULAR)), DEMO) == (REGULAR,)
    assert listed(s, world.admin, "manager", REGULAR, SECOND) == {SECOND: {"theme": "light"}}


def test_a_super_admin_reads_and_writes_any_managers_attributes(world: World) -> None:
    s = world.services
    assert s.set_attributes(
        put("manager", (REGULAR, {"theme": "dark", "language": "en"}), (SECOND, {"theme": "x"})),
        SUPER,
    ) == (REGULAR, SECOND)

    assert listed(s, SUPER, "manager", REGULAR, SECOND, 4242) == {
        REGULAR: {"language": "en", "theme": "dark"},
        SECOND: {"theme": "x"},
    }
    # admin right with limited reach is not a super-admin: only its own id
    limited_admin = Actor(SECOND, frozenset(SCOPES), group_mask="demo\\*", dialect=Dialect.CTRADER)
    assert listed(s, limited_admin, "manager", REGULAR, SECOND) == {SECOND: {"theme": "x"}}


# --- delete and audit ------------------------------------------------------------------------


def test_delete_removes_the_named_attributes_or_all_with_no_names(world: World) -> None:
    s, admin = world.services, world.admin
    s.set_attributes(
        put(
            "account",
            (BEST, {"colorCode": "1", "label": "2"}),
            (BEST2, {"colorCode": "3"}),
            (OTHER, {"colorCode": "4", "x": "5"}),
        ),
        admin,
    )

    s.delete_attributes(DeleteAttributes("account", (BEST, BEST2), ("colorCode", "absent")), admin)
    assert listed(s, admin, "account", BEST, BEST2, OTHER) == {
        BEST: {"label": "2"},
        OTHER: {"colorCode": "4", "x": "5"},
    }
    s.delete_attributes(DeleteAttributes("account", (OTHER, BEST)), admin)
    assert listed(s, admin, "account", BEST, BEST2, OTHER) == {}


def test_every_change_is_audited_once_per_entity_with_before_and_after(
    world: World, clock: FakeClock
) -> None:
    s = world.services
    s.set_attributes(put("account", (BEST, {"a": "1", "b": "2"})), DEMO)
    s.set_attributes(put("account", (BEST, {"a": "1", "b": "3"})), DEMO)
    s.set_attributes(put("account", (BEST, {"a": "1"})), DEMO)  # no change: no record
    s.delete_attributes(DeleteAttributes("account", (BEST,), ("a", "zzz")), DEMO)
    s.delete_attributes(DeleteAttributes("account", (BEST,), ("a",)), DEMO)  # nothing left to go
    s.set_attributes(put("group", (world.demo_group, {"g": "1"})), DEMO)
    s.set_attributes(put("manager", (REGULAR, {"m": "1"})), DEMO)

    records = [
        r for r in s.query_audit(AuditQuery(limit=1000), world.admin) if "attributes" in r.action
    ]
    assert [(r.action, r.entity_type, r.entity_id, r.before, r.after) for r in records] == [
        (
            "account.attributes_set",
            "account",
            str(BEST),
            {"attributes": {}},
            {"attributes": {"a": "1", "b": "2"}},
        ),
        (
            "account.attributes_set",
            "account",
            str(BEST),
            {"attributes": {"b": "2"}},
            {"attributes": {"b": "3"}},
        ),
        (
            "account.attributes_deleted",
            "account",
            str(BEST),
            {"attributes": {"a": "1"}},
            {"attributes": {}},
        ),
        (
            "group.attributes_set",
            "group",
            "demo\\usd",
            {"attributes": {}},
            {"attributes": {"g": "1"}},
        ),
        (
            "manager.attributes_set",
            "manager",
            str(REGULAR),
            {"attributes": {}},
            {"attributes": {"m": "1"}},
        ),
    ]
    assert {(r.manager_login, r.dialect) for r in records} == {(REGULAR, "ctrader")}
    history = s.account_history(BEST, world.admin)
    assert [r.action for r in history][-3:] == [
        "account.attributes_set",
        "account.attributes_set",
        "account.attributes_deleted",
    ]

"""Attributes over the fakes: upsert, list (by ids and paged), delete, the limits of cTrader's
attribute calls, null values, partial authorisation, managers' own attributes, and the audit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import pytest

from brokerplane.application.app import Application
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.account.commands import DeleteAccount, OpenAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.attribute.commands import (
    AttributeValue,
    DeleteAttributes,
    EntityAttributes,
    ListAttributes,
    SetAttributes,
)
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import (
    AccountNotFound,
    GroupNotFound,
    ManagerNotFound,
    MissingScope,
    PermissionDenied,
    ValidationError,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.kinds import Dialect
from tests.unit.fakes import FakeClock

# Accounts: two in demo\usd under BESTBROKER, one in demo\usd under OTHERBROKER, one in
# real\std under BESTBROKER.
BEST, BEST2, OTHER, REAL = 300_001, 300_002, 300_003, 300_004
MISSING = 399_999
WORKER = frozenset(SCOPES) - {"admin"}
REGULAR, SECOND = 2001, 2002  # managers without admin
DEMO = Actor(REGULAR, WORKER, group_mask="demo\\*", dialect=Dialect.CTRADER)
BRAND = Actor(SECOND, WORKER, white_labels="BESTBROKER", dialect=Dialect.CTRADER)
READER = Actor(REGULAR, frozenset({"users:read"}), dialect=Dialect.CTRADER)
SUPER = Actor(1000, frozenset(SCOPES), dialect=Dialect.CTRADER)


@dataclass
class World:
    services: Application
    admin: Actor
    demo_group: int
    real_group: int


def build_world(services: Application, admin: Actor) -> World:
    """Two groups, four accounts, three managers: the same data for fakes and databases."""
    demo = services.create_group(CreateGroup("demo\\usd", "USD", {"broker": "BESTBROKER"}), admin)
    real = services.create_group(CreateGroup("real\\std", "USD", {"broker": "BESTBROKER"}), admin)
    accounts = [(BEST, demo, "BESTBROKER"), (BEST2, demo, "BESTBROKER"),
                (OTHER, demo, "OTHERBROKER"), (REAL, real, "BESTBROKER")]  # fmt: skip
    for login, group, broker in accounts:
        services.open_account(
            OpenAccount(group=group.name, login=login, profile={"broker": broker}), admin
        )
    for manager in (SUPER.manager_login, REGULAR, SECOND):
        assert manager is not None
        rights = frozenset(SCOPES) if manager == SUPER.manager_login else WORKER
        services.create_manager(CreateManager(manager, name=f"m{manager}", rights=rights), admin)
    return World(services, admin, demo.id, real.id)


def put(kind: str, *sets: tuple[int, Mapping[str, str | None]]) -> SetAttributes:
    return SetAttributes(
        kind,
        tuple(
            EntityAttributes(i, tuple(AttributeValue(n, v) for n, v in attrs.items()))
            for i, attrs in sets
        ),
    )


def listed(services: Application, actor: Actor, kind: str, *ids: int) -> dict[int, dict[str, str]]:
    page = services.list_attributes(ListAttributes(kind, ids=ids), actor)
    return {s.entity_id: s.as_dict() for s in page.sets}


@pytest.fixture
def world(services: Application, admin: Actor) -> World:
    return build_world(services, admin)


# --- upsert and list -------------------------------------------------------------------------


def test_upserted_trader_attributes_read_back_by_id_sorted_by_name_with_their_time(
    world: World, clock: FakeClock
) -> None:
    s = world.services
    applied = s.set_attributes(
        put("account", (BEST, {"prefixLabel": "VIP", "colorCode": "FF0000"}),
            (BEST2, {"colorCode": "00FF00"})),
        world.admin,
    )  # fmt: skip

    page = s.list_attributes(ListAttributes("account", ids=(BEST, BEST2, OTHER)), world.admin)

    assert applied == (BEST, BEST2)
    assert [(x.entity_id, [(a.name, a.value) for a in x.attributes]) for x in page.sets] == [
        (BEST, [("colorCode", "FF0000"), ("prefixLabel", "VIP")]),
        (BEST2, [("colorCode", "00FF00")]),
    ]  # OTHER has no attributes: left out
    assert all(x.updated_at == clock.now for x in page.sets)
    assert page.next_after_id is None


def test_upsert_overwrites_named_values_keeps_the_others_and_stamps_only_what_changed(
    world: World, clock: FakeClock
) -> None:
    s = world.services
    first = clock.now
    s.set_attributes(put("account", (BEST, {"a": "1", "b": "2"})), world.admin)
    later = clock.advance(minutes=5)

    s.set_attributes(put("account", (BEST, {"a": "1", "b": "3", "c": "4"})), world.admin)

    (got,) = s.list_attributes(ListAttributes("account", ids=(BEST,)), world.admin).sets
    assert [(a.name, a.value, a.updated_at) for a in got.attributes] == [
        ("a", "1", first), ("b", "3", later), ("c", "4", later),
    ]  # fmt: skip
    assert got.updated_at == later


def test_later_duplicates_in_one_upsert_win(world: World) -> None:
    s = world.services
    cmd = SetAttributes("account", (
        EntityAttributes(BEST, (AttributeValue("k", "1"), AttributeValue("k", "2"))),
        EntityAttributes(BEST, (AttributeValue("k", "3"),)),
    ))  # fmt: skip

    assert s.set_attributes(cmd, world.admin) == (BEST,)
    assert listed(s, world.admin, "account", BEST) == {BEST: {"k": "3"}}


def test_group_and_manager_attributes_are_kept_apart_from_trader_attributes(world: World) -> None:
    s = world.services
    s.set_attributes(put("group", (world.demo_group, {"groupTag": "Premium"})), world.admin)
    s.set_attributes(put("manager", (REGULAR, {"theme": "dark"})), world.admin)

    assert listed(s, world.admin, "group", world.demo_group) == {
        world.demo_group: {"groupTag": "Premium"}
    }
    assert listed(s, world.admin, "manager", REGULAR) == {REGULAR: {"theme": "dark"}}
    assert listed(s, world.admin, "account", world.demo_group, REGULAR) == {}


# --- null values and limits ------------------------------------------------------------------


def test_a_null_value_is_refused_naming_the_field_and_nothing_is_stored(world: World) -> None:
    s = world.services
    s.set_attributes(put("account", (BEST, {"colorCode": "FF0000"})), world.admin)

    with pytest.raises(ValidationError) as caught:
        s.set_attributes(
            put("account", (BEST2, {"ok": "1"}), (BEST, {"x": "y", "colorCode": None})),
            world.admin,
        )

    assert [f.field for f in caught.value.fields] == ["sets[1].attributes[1].value"]
    assert "delete" in caught.value.fields[0].message
    assert listed(s, world.admin, "account", BEST, BEST2) == {BEST: {"colorCode": "FF0000"}}


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("n" * 65, "v", "name"), ("", "v", "name"), ("   ", "v", "name"), ("a\x00b", "v", "name"),
        ("n", "v" * 513, "value"), ("n", "", "value"),
    ],
    ids=["name-65", "name-empty", "name-blank", "name-nul", "value-513", "value-empty"],
)  # fmt: skip
def test_names_and_values_outside_the_limits_are_refused(
    world: World, name: str, value: str, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        world.services.set_attributes(put("account", (BEST, {name: value})), world.admin)
    assert [f.field for f in caught.value.fields] == [f"sets[0].attributes[0].{field}"]


def test_names_of_64_and_values_of_512_characters_are_kept_whole(world: World) -> None:
    name, value = "ü" * 64, "€" * 512
    world.services.set_attributes(put("account", (BEST, {name: value})), world.admin)
    assert listed(world.services, world.admin, "account", BEST) == {BEST: {name: value}}


def test_batch_sizes_beyond_the_limits_are_refused(world: World) -> None:
    s, admin = world.services, world.admin
    sets_101 = put("account", *[(BEST, {"k": "v"})] * 101)
    attrs_101 = put("account", (BEST, {f"k{i}": "v" for i in range(101)}))
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: s.set_attributes(sets_101, admin), "sets"),
        (lambda: s.set_attributes(SetAttributes("account", ()), admin), "sets"),
        (lambda: s.set_attributes(attrs_101, admin), "sets[0].attributes"),
        (lambda: s.set_attributes(put("account", (BEST, {})), admin), "sets[0].attributes"),
        (lambda: s.list_attributes(ListAttributes("group", ids=tuple(range(1, 10_002))), admin),
         "ids"),
        (lambda: s.delete_attributes(DeleteAttributes("account", tuple(range(1, 10_002))), admin),
         "ids"),
        (lambda: s.delete_attributes(DeleteAttributes("account", ()), admin), "ids"),
        (lambda: s.delete_attributes(
            DeleteAttributes("account", (BEST,), tuple(f"n{i}" for i in range(101))), admin),
         "names"),
        (lambda: s.list_attributes(ListAttributes("account", limit=10_001), admin), "limit"),
        (lambda: s.list_attributes(ListAttributes("account", limit=0), admin), "limit"),
        (lambda: s.list_attributes(ListAttributes("account", after_id=-1), admin), "after_id"),
        (lambda: s.list_attributes(ListAttributes("account", name_contains="x" * 65), admin),
         "name_contains"),
    ]  # fmt: skip
    for call, field in cases:
        with pytest.raises(ValidationError) as caught:
            call()
        assert field in [f.field for f in caught.value.fields], field


def test_ten_thousand_ids_and_a_hundred_sets_of_a_hundred_attributes_are_accepted(
    world: World,
) -> None:
    s, admin = world.services, world.admin
    big = put("account", *[(BEST, {f"k{i}": "v" for i in range(100)})] * 100)

    assert s.set_attributes(big, admin) == (BEST,)
    page = s.list_attributes(ListAttributes("account", ids=tuple(range(1, 10_001))), admin)
    assert page.sets == []  # BEST is 300001: beyond the ids named
    assert len(listed(s, admin, "account", BEST)[BEST]) == 100


def test_paging_is_only_for_all_traders_and_groups_and_managers_need_ids(world: World) -> None:
    s, admin = world.services, world.admin
    for cmd, field in [
        (ListAttributes("account", ids=(BEST,), limit=5), "limit"),
        (ListAttributes("account", ids=(BEST,), after_id=0), "after_id"),
        (ListAttributes("group"), "ids"),
        (ListAttributes("manager", ids=()), "ids"),
        (ListAttributes("trader", ids=(BEST,)), "kind"),
    ]:
        with pytest.raises(ValidationError) as caught:
            s.list_attributes(cmd, admin)
        assert [f.field for f in caught.value.fields] == [field]


# --- paging, filters -------------------------------------------------------------------------


def test_all_traders_with_attributes_page_by_limit_and_the_next_cursor(world: World) -> None:
    s, admin = world.services, world.admin
    s.set_attributes(put("account", (REAL, {"k": "4"}), (BEST, {"k": "1"}), (OTHER, {"k": "3"})),
                     admin)  # fmt: skip

    first = s.list_attributes(ListAttributes("account", limit=2), admin)
    second = s.list_attributes(ListAttributes("account", limit=2, after_id=first.next_after_id),
                               admin)  # fmt: skip
    beyond = s.list_attributes(ListAttributes("account", limit=2, after_id=REAL), admin)
    whole = s.list_attributes(ListAttributes("account"), admin)

    assert ([x.entity_id for x in first.sets], first.next_after_id) == ([BEST, OTHER], OTHER)
    assert ([x.entity_id for x in second.sets], second.next_after_id) == ([REAL], None)
    assert (beyond.sets, beyond.next_after_id) == ([], None)
    assert [x.entity_id for x in whole.sets] == [BEST, OTHER, REAL]  # BEST2 has none


def test_a_page_that_ends_exactly_at_the_last_trader_has_no_next_cursor(world: World) -> None:
    s, admin = world.services, world.admin
    s.set_attributes(put("account", (BEST, {"k": "1"}), (BEST2, {"k": "2"})), admin)
    page = s.list_attributes(ListAttributes("account", limit=2), admin)
    assert ([x.entity_id for x in page.sets], page.next_after_id) == ([BEST, BEST2], None)


def test_the_name_filter_is_a_case_insensitive_substring_and_narrows_the_attributes(
    world: World,
) -> None:
    s, admin = world.services, world.admin
    s.set_attributes(
        put("account", (BEST, {"colorCode": "1", "prefixLabel": "2"}), (BEST2, {"label": "3"}),
            (OTHER, {"Straße": "4"}), (REAL, {"100%_sure": "5", "100x": "6"})),
        admin,
    )  # fmt: skip

    def names(contains: str) -> dict[int, list[str]]:
        page = s.list_attributes(ListAttributes("account", name_contains=contains), admin)
        return {x.entity_id: [a.name for a in x.attributes] for x in page.sets}

    assert names("LABEL") == {BEST: ["prefixLabel"], BEST2: ["label"]}
    assert names("STRASSE") == {OTHER: ["Straße"]}
    assert names("%_") == {REAL: ["100%_sure"]}
    assert names("nothing") == {}
    by_ids = s.list_attributes(ListAttributes("account", ids=(BEST,), name_contains="code"), admin)
    assert [a.name for a in by_ids.sets[0].attributes] == ["colorCode"]


def test_the_since_filter_keeps_entities_whose_newest_attribute_is_at_or_after_it(
    world: World, clock: FakeClock
) -> None:
    s, admin = world.services, world.admin
    s.set_attributes(put("account", (BEST, {"a": "1"}), (BEST2, {"a": "1"})), admin)
    cutoff = clock.advance(minutes=1)
    s.set_attributes(put("account", (BEST2, {"b": "2"})), admin)

    page = s.list_attributes(ListAttributes("account", since=cutoff), admin)
    assert [(x.entity_id, x.as_dict()) for x in page.sets] == [(BEST2, {"a": "1", "b": "2"})]
    later = s.list_attributes(ListAttributes("account", since=cutoff + timedelta(seconds=1)), admin)
    assert later.sets == []


# --- reach and partial authorisation ---------------------------------------------------------


def test_unreachable_traders_are_skipped_silently_by_upsert_list_and_delete(world: World) -> None:
    s = world.services
    s.set_attributes(put("account", (REAL, {"k": "admin"})), world.admin)

    applied = s.set_attributes(put("account", (BEST, {"k": "1"}), (REAL, {"k": "2"}),
                                   (MISSING, {"k": "3"})), DEMO)  # fmt: skip

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
    s.set_attributes(put("account", *[(i, {"k": str(i)}) for i in (BEST, BEST2, OTHER, REAL)]),
                     world.admin)  # fmt: skip

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

    assert [x.entity_id for x in s.list_attributes(ListAttributes("account"), world.admin).sets] \
        == [BEST2]  # fmt: skip
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
        REGULAR: {"language": "en", "theme": "dark"}, SECOND: {"theme": "x"},
    }  # fmt: skip
    # admin right with limited reach is not a super-admin: only its own id
    limited_admin = Actor(SECOND, frozenset(SCOPES), group_mask="demo\\*", dialect=Dialect.CTRADER)
    assert listed(s, limited_admin, "manager", REGULAR, SECOND) == {SECOND: {"theme": "x"}}


# --- delete and audit ------------------------------------------------------------------------


def test_delete_removes_the_named_attributes_or_all_with_no_names(world: World) -> None:
    s, admin = world.services, world.admin
    s.set_attributes(
        put("account", (BEST, {"colorCode": "1", "label": "2"}), (BEST2, {"colorCode": "3"}),
            (OTHER, {"colorCode": "4", "x": "5"})),
        admin,
    )  # fmt: skip

    s.delete_attributes(DeleteAttributes("account", (BEST, BEST2), ("colorCode", "absent")), admin)
    assert listed(s, admin, "account", BEST, BEST2, OTHER) == {
        BEST: {"label": "2"}, OTHER: {"colorCode": "4", "x": "5"},
    }  # fmt: skip
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

    records = [r for r in s.query_audit(AuditQuery(limit=1000), world.admin)
               if "attributes" in r.action]  # fmt: skip
    assert [(r.action, r.entity_type, r.entity_id, r.before, r.after) for r in records] == [
        ("account.attributes_set", "account", str(BEST), {"attributes": {}},
         {"attributes": {"a": "1", "b": "2"}}),
        ("account.attributes_set", "account", str(BEST), {"attributes": {"b": "2"}},
         {"attributes": {"b": "3"}}),
        ("account.attributes_deleted", "account", str(BEST), {"attributes": {"a": "1"}},
         {"attributes": {}}),
        ("group.attributes_set", "group", "demo\\usd", {"attributes": {}},
         {"attributes": {"g": "1"}}),
        ("manager.attributes_set", "manager", str(REGULAR), {"attributes": {}},
         {"attributes": {"m": "1"}}),
    ]  # fmt: skip
    assert {(r.manager_login, r.dialect) for r in records} == {(REGULAR, "ctrader")}
    history = s.account_history(BEST, world.admin)
    assert [r.action for r in history][-3:] == [
        "account.attributes_set", "account.attributes_set", "account.attributes_deleted",
    ]  # fmt: skip

"""Attributes over the fakes: upsert and list (by ids and paged), null values, the limits of
cTrader's attribute calls, and the name and since filters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from brokerplane.core.attribute.commands import (
    AttributeValue,
    DeleteAttributes,
    EntityAttributes,
    ListAttributes,
    SetAttributes,
)
from brokerplane.core.errors import ValidationError
from tests.unit import attributes_support
from tests.unit.attributes_support import BEST, BEST2, OTHER, REAL, REGULAR, World, listed, put
from tests.unit.fakes import FakeClock

# The attribute tests' fixtures (tests/unit/attributes_support.py).
world = attributes_support.world


# --- upsert and list -------------------------------------------------------------------------


def test_upserted_trader_attributes_read_back_by_id_sorted_by_name_with_their_time(
    world: World, clock: FakeClock
) -> None:
    s = world.services
    applied = s.set_attributes(
        put(
            "account",
            (BEST, {"prefixLabel": "VIP", "colorCode": "FF0000"}),
            (BEST2, {"colorCode": "00FF00"}),
        ),
        world.admin,
    )

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
        ("a", "1", first),
        ("b", "3", later),
        ("c", "4", later),
    ]
    assert got.updated_at == later


def test_later_duplicates_in_one_upsert_win(world: World) -> None:
    s = world.services
    cmd = SetAttributes(
        "account",
        (
            EntityAttributes(BEST, (AttributeValue("k", "1"), AttributeValue("k", "2"))),
            EntityAttributes(BEST, (AttributeValue("k", "3"),)),
        ),
    )

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
        ("n" * 65, "v", "name"),
        ("", "v", "name"),
        ("   ", "v", "name"),
        ("a\x00b", "v", "name"),
        ("n", "v" * 513, "value"),
        ("n", "", "value"),
    ],
    ids=["name-65", "name-empty", "name-blank", "name-nul", "value-513", "value-empty"],
)
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
        (
            lambda: s.list_attributes(ListAttributes("group", ids=tuple(range(1, 10_002))), admin),
            "ids",
        ),
        (
            lambda: s.delete_attributes(
                DeleteAttributes("account", tuple(range(1, 10_002))), admin
            ),
            "ids",
        ),
        (lambda: s.delete_attributes(DeleteAttributes("account", ()), admin), "ids"),
        (
            lambda: s.delete_attributes(
                DeleteAttributes("account", (BEST,), tuple(f"n{i}" for i in range(101))), admin
            ),
            "names",
        ),
        (lambda: s.list_attributes(ListAttributes("account", limit=10_001), admin), "limit"),
        (lambda: s.list_attributes(ListAttributes("account", limit=0), admin), "limit"),
        (lambda: s.list_attributes(ListAttributes("account", after_id=-1), admin), "after_id"),
        (
            lambda: s.list_attributes(ListAttributes("account", name_contains="x" * 65), admin),
            "name_contains",
        ),
    ]
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
    s.set_attributes(
        put("account", (REAL, {"k": "4"}), (BEST, {"k": "1"}), (OTHER, {"k": "3"})), admin
    )

    first = s.list_attributes(ListAttributes("account", limit=2), admin)
    second = s.list_attributes(
        ListAttributes("account", limit=2, after_id=first.next_after_id), admin
    )
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
        put(
            "account",
            (BEST, {"colorCode": "1", "prefixLabel": "2"}),
            (BEST2, {"label": "3"}),
            (OTHER, {"Straße": "4"}),
            (REAL, {"100%_sure": "5", "100x": "6"}),
        ),
        admin,
    )

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

"""Attributes in SQL on SQLite and PostgreSQL: upsert and delete, paging with reach, the name and
since filters, and the same answers as the in-memory fakes give."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from brokerplane.application.app import Application
from brokerplane.core.account.commands import DeleteAccount
from brokerplane.core.actor import Actor
from brokerplane.core.attribute.commands import DeleteAttributes, ListAttributes
from brokerplane.core.config import CoreConfig
from tests.unit.attributes_support import (
    BEST,
    BEST2,
    BRAND,
    DEMO,
    OTHER,
    REAL,
    REGULAR,
    SECOND,
    build_world,
    listed,
    put,
)
from tests.unit.fakes import FakeClock, FakeUowFactory


def test_upserted_attributes_read_back_whole_with_their_times_and_overwrite_in_place(
    services: Application, admin: Actor, clock: FakeClock
) -> None:
    build_world(services, admin)
    name, value = "ü" * 64, "€" * 512  # the longest allowed, in characters not bytes
    first = clock.now
    services.set_attributes(put("account", (BEST, {name: value, "b": "1"})), admin)
    later = clock.advance(seconds=90)

    services.set_attributes(put("account", (BEST, {"b": "2", "c": "3"})), admin)

    (got,) = services.list_attributes(ListAttributes("account", ids=(BEST,)), admin).sets
    assert [(a.name, a.value, a.updated_at) for a in got.attributes] == [
        ("b", "2", later),
        ("c", "3", later),
        (name, value, first),
    ]
    assert got.updated_at == later


def test_paging_all_traders_in_sql_keeps_to_reach_and_skips_deleted_accounts(
    services: Application, admin: Actor
) -> None:
    build_world(services, admin)
    services.set_attributes(
        put("account", *[(i, {"k": str(i)}) for i in (BEST, BEST2, OTHER, REAL)]), admin
    )
    services.delete_account(DeleteAccount(BEST2), admin)

    def pages(actor: Actor, limit: int) -> list[list[int]]:
        out, after = [], None
        while True:
            page = services.list_attributes(
                ListAttributes("account", limit=limit, after_id=after), actor
            )
            out.append([x.entity_id for x in page.sets])
            if page.next_after_id is None:
                return out
            after = page.next_after_id

    assert pages(admin, 2) == [[BEST, OTHER], [REAL]]
    assert pages(admin, 3) == [[BEST, OTHER, REAL]]
    assert pages(DEMO, 1) == [[BEST], [OTHER]]
    assert pages(BRAND, 5) == [[BEST, REAL]]


def test_name_and_since_filters_run_in_sql_as_in_python(
    services: Application, admin: Actor, clock: FakeClock
) -> None:
    build_world(services, admin)
    services.set_attributes(
        put(
            "account",
            (BEST, {"colorCode": "1", "prefixLabel": "2"}),
            (BEST2, {"LABEL": "3"}),
            (OTHER, {"Straße": "4"}),
            (REAL, {"100%_sure": "5", "100x_": "6"}),
        ),
        admin,
    )
    cutoff = clock.advance(minutes=1)
    services.set_attributes(put("account", (OTHER, {"late": "7"})), admin)

    def names(**filters: Any) -> dict[int, list[str]]:
        page = services.list_attributes(ListAttributes("account", **filters), admin)
        return {x.entity_id: [a.name for a in x.attributes] for x in page.sets}

    assert names(name_contains="label") == {BEST: ["prefixLabel"], BEST2: ["LABEL"]}
    assert names(name_contains="STRASSE") == {OTHER: ["Straße"]}
    assert names(name_contains="%_") == {REAL: ["100%_sure"]}
    assert names(name_contains="0x_") == {REAL: ["100x_"]}
    assert names(since=cutoff) == {OTHER: ["Straße", "late"]}
    assert names(since=cutoff, name_contains="straße") == {}
    assert names(ids=(BEST, REAL), name_contains="CODE") == {BEST: ["colorCode"]}


def test_deletes_by_name_and_all_on_every_kind(services: Application, admin: Actor) -> None:
    world = build_world(services, admin)
    services.set_attributes(put("account", (BEST, {"a": "1", "b": "2"}), (REAL, {"a": "3"})), admin)
    services.set_attributes(put("group", (world.demo_group, {"a": "1", "b": "2"})), admin)
    services.set_attributes(put("manager", (REGULAR, {"a": "1"}), (SECOND, {"a": "2"})), admin)

    services.delete_attributes(DeleteAttributes("account", (BEST, REAL), ("a",)), admin)
    services.delete_attributes(DeleteAttributes("group", (world.demo_group,), ("b", "x")), admin)
    services.delete_attributes(DeleteAttributes("manager", (SECOND,)), admin)

    assert listed(services, admin, "account", BEST, REAL) == {BEST: {"b": "2"}}
    assert listed(services, admin, "group", world.demo_group) == {world.demo_group: {"a": "1"}}
    assert listed(services, admin, "manager", REGULAR, SECOND) == {REGULAR: {"a": "1"}}


def _scenario(services: Application, admin: Actor, clock: FakeClock) -> list[Any]:
    """A run of writes and reads whose answers must not depend on the storage."""
    world = build_world(services, admin)
    answers: list[Any] = []
    services.set_attributes(
        put("account", (REAL, {"x": "1"}), (BEST, {"Aa": "1", "b": "2"})), admin
    )
    clock.advance(seconds=3)
    answers.append(
        services.set_attributes(put("account", (BEST2, {"aA": "3"}), (REAL, {"x": "2"})), DEMO)
    )
    services.set_attributes(put("group", (world.demo_group, {"g": "1"})), DEMO)
    services.set_attributes(put("manager", (REGULAR, {"m": "1"})), DEMO)
    services.delete_attributes(DeleteAttributes("account", (BEST,), ("b",)), BRAND)
    for cmd, actor in [
        (ListAttributes("account"), admin),
        (ListAttributes("account", limit=1, after_id=BEST), admin),
        (ListAttributes("account", name_contains="AA"), DEMO),
        (ListAttributes("account", since=clock.now), BRAND),
        (ListAttributes("account", ids=(REAL, BEST2, BEST)), DEMO),
        (ListAttributes("group", ids=(world.demo_group, world.real_group)), admin),
        (ListAttributes("manager", ids=(REGULAR, SECOND)), DEMO),
    ]:
        answers.append(services.list_attributes(cmd, actor))
    return answers


def test_sql_and_the_fakes_answer_the_same_scenario_alike(
    services: Application, admin: Actor, clock: FakeClock
) -> None:
    fake_clock = FakeClock(clock.now)
    config = CoreConfig(login_range_from=100_000, login_range_to=100_999, server_currency="USD")
    fake = Application(FakeUowFactory(), config, fake_clock)

    assert _scenario(services, admin, clock) == _scenario(fake, admin, fake_clock)


def test_concurrent_upserts_of_the_same_names_all_succeed_and_the_chain_holds(
    services: Application, admin: Actor
) -> None:
    build_world(services, admin)
    threads = 6
    start = threading.Barrier(threads)

    def work(i: int) -> None:
        start.wait(timeout=30)
        for n in range(5):
            services.set_attributes(
                put(
                    "account",
                    (BEST, {"shared": f"{i}-{n}", f"own{i}": str(n)}),
                    (REAL, {"shared": f"{i}-{n}"}),
                ),
                admin,
            )

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))

    got = listed(services, admin, "account", BEST)[BEST]
    assert {f"own{i}" for i in range(threads)} | {"shared"} == set(got)
    assert got["shared"].endswith("-4")
    assert services.verify_audit().ok

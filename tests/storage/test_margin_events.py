"""Margin-call and stop-out events from the risk pass, on both engines: a crossing is one event
however many passes see it, a recovery re-arms it, a pass rolled back records nothing, and two
passes seeing the same crossing (two server processes) record it once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.events.commands import ReadEvents
from brokerplane.core.events.model import MARGIN_TYPES, Event
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.symbol.commands import CreateSymbol
from brokerplane.core.trading import watch
from brokerplane.core.trading.commands import ClosePosition, OpenPosition, QuoteInput

FX = {
    "currency_base": "EUR",
    "currency_profit": "USD",
    "currency_margin": "EUR",
    "digits": 5,
    "contract_size": "100000",
}
# 2000 USD and a 1-lot EURUSD buy at 1.10020 (1:100, margin about 1100 USD); a bid of
ABOVE = ("1.10000", "1.10020")  # 1.10000: equity 1998, level about 181 %
MARGIN_CALL = ("1.09000", "1.09020")  # 1.09000: equity 980, level about 90 % (call: 100)
STOP_OUT = ("1.08500", "1.08520")  # 1.08500: equity 480, level about 44 % (stop out: 50)


@pytest.fixture
def book(services: Application, admin: Actor) -> Application:
    services.create_symbol(CreateSymbol("EURUSD", FX), admin)
    services.create_group(CreateGroup("real-usd", "USD"), admin)
    services.create_group(CreateGroup("demo-usd", "USD"), admin)
    quote(services, admin, ABOVE)
    return services


def quote(services: Application, admin: Actor, prices: tuple[str, str]) -> None:
    services.set_quotes([QuoteInput("EURUSD", *prices)], admin)


def trader(services: Application, admin: Actor, group: str = "real-usd") -> tuple[int, int]:
    """A funded account holding one lot of EURUSD: (login, position id)."""
    login = services.open_account(OpenAccount(group, leverage=100), admin).login
    services.post_ledger_entry(PostLedgerEntry(login, "deposit", "2000"), admin)
    opened = services.open_position(OpenPosition(login, "EURUSD", "buy", "1"), admin)
    assert opened.position is not None
    return login, opened.position.id


def cycle(services: Application, batch: int = 500) -> int:
    """One pass over every watched account, as the server runs it; crossings recorded."""
    after, recorded = 0, 0
    while True:
        result = services.risk_pass(after, batch)
        recorded += result.recorded
        if not result.next_after:
            return recorded
        after = result.next_after


def margin_events(services: Application, admin: Actor, actor: Actor | None = None) -> list[Event]:
    page = services.read_events(ReadEvents(types=MARGIN_TYPES, limit=1000), actor or admin)
    return page.events


def test_a_crossing_is_one_event_however_many_passes_see_it_and_recovery_rearms_it(
    book: Application, admin: Actor
) -> None:
    login, position = trader(book, admin)
    for _ in range(3):
        assert cycle(book) == 0
    assert margin_events(book, admin) == []

    quote(book, admin, MARGIN_CALL)
    for _ in range(3):
        cycle(book)
    [call] = margin_events(book, admin)
    assert call.type == "account.margin_call" and call.login == login
    assert call.group == "real-usd" and call.operator_id == "risk-pass"
    assert call.data["state"] == "margin_call" and call.data["previous_state"] == "ok"
    assert call.data["equity"] == "980.00" and call.data["margin_call"] == "100"
    assert 89 < float(call.data["margin_level"]) < 91

    quote(book, admin, STOP_OUT)
    for _ in range(3):
        cycle(book)
    assert [e.type for e in margin_events(book, admin)] == [
        "account.margin_call",
        "account.stop_out",
    ]
    # back above stop out but still in margin call: no event, and stop out is armed again
    quote(book, admin, MARGIN_CALL)
    cycle(book)
    quote(book, admin, STOP_OUT)
    cycle(book)
    cycle(book)
    # above the margin-call level: restored, which arms the margin call again
    quote(book, admin, ABOVE)
    cycle(book)
    cycle(book)
    quote(book, admin, MARGIN_CALL)
    cycle(book)
    assert [e.type for e in margin_events(book, admin)] == [
        "account.margin_call",
        "account.stop_out",
        "account.stop_out",
        "account.margin_restored",
        "account.margin_call",
    ]
    # the position closed (at a loss): no margin in use is above every level
    book.close_position(ClosePosition(position), admin)
    cycle(book)
    cycle(book)
    last = margin_events(book, admin)[-1]
    assert last.type == "account.margin_restored" and last.data["positions"] == 0
    assert cycle(book) == 0


def test_a_pass_rolled_back_records_nothing_and_the_next_one_records_once(
    runtime: Runtime, book: Application, admin: Actor
) -> None:
    trader(book, admin)
    quote(book, admin, MARGIN_CALL)
    with runtime.storage.uow(write=False) as uow:
        found = watch.scan(uow, 0, 100)
    assert [c.after for c in found.crossings] == ["margin_call"]
    with pytest.raises(RuntimeError), runtime.storage.uow(write=True) as uow:
        assert watch.record_crossings(uow, found.crossings, book.clock()) == 1
        raise RuntimeError("the pass fails before it commits")
    assert margin_events(book, admin) == []
    assert cycle(book) == 1
    assert cycle(book) == 0
    assert [e.type for e in margin_events(book, admin)] == ["account.margin_call"]


def test_two_passes_seeing_one_crossing_record_it_once(
    runtime: Runtime, book: Application, admin: Actor
) -> None:
    logins = [trader(book, admin)[0] for _ in range(5)]
    quote(book, admin, MARGIN_CALL)
    # two processes read the same states, then both write: the second finds them moved
    with runtime.storage.uow(write=False) as uow:
        first = watch.scan(uow, 0, 100)
    with runtime.storage.uow(write=False) as uow:
        second = watch.scan(uow, 0, 100)
    for found, want in ((first, 5), (second, 0)):
        with runtime.storage.uow(write=True) as uow:
            assert watch.record_crossings(uow, found.crossings, book.clock()) == want
            uow.commit()
    assert sorted(e.login or 0 for e in margin_events(book, admin)) == logins

    # and racing for real, in small batches (bounded work per transaction)
    quote(book, admin, STOP_OUT)
    start = threading.Barrier(4)

    def race(_: int) -> int:
        start.wait()
        return cycle(book, batch=2)

    with ThreadPoolExecutor(4) as pool:
        recorded = sum(pool.map(race, range(4)))
    assert recorded == 5
    stops = [e for e in margin_events(book, admin) if e.type == "account.stop_out"]
    assert sorted(e.login or 0 for e in stops) == logins


def test_margin_events_keep_to_the_readers_reach(book: Application, admin: Actor) -> None:
    from brokerplane.core.events.commands import FEED_SCOPES

    real, _ = trader(book, admin, "real-usd")
    demo, _ = trader(book, admin, "demo-usd")
    quote(book, admin, MARGIN_CALL)
    cycle(book)
    assert {e.login for e in margin_events(book, admin)} == {real, demo}
    desk = Actor(manager_login=3000, scopes=frozenset(FEED_SCOPES[:1]), group_mask="demo*")
    assert [e.login for e in margin_events(book, admin, desk)] == [demo]


def test_events_tail_shows_a_margin_call_as_a_line_a_person_reads(
    book: Application, admin: Actor, database_url: str
) -> None:
    from tests.e2e.test_cli_events import run

    login, _ = trader(book, admin)
    quote(book, admin, MARGIN_CALL)
    cycle(book)
    shown = run(
        "events",
        "tail",
        "--database-url",
        database_url,
        "--after",
        "0",
        "--no-follow",
        "--type",
        "account.margin_call",
    )
    assert shown.exit_code == 0, shown.output
    [line] = shown.stdout.splitlines()
    assert f"login {login} (real-usd)" in line and "margin level 89." in line
    assert "equity 980.00" in line and "by risk-pass via system" in line


@pytest.mark.engines("postgres")
def test_a_batch_reads_only_its_own_accounts_positions_however_many_follow(
    runtime: Runtime, book: Application, admin: Actor
) -> None:
    """The next batch of watched accounts reads about as many positions as the batch holds,
    not every position past the cursor: a cycle over a large book stays linear."""
    from sqlalchemy import text

    logins = [trader(book, admin)[0] for _ in range(40)]
    with runtime.storage.engine.begin() as conn:  # 50 more positions each (2040 in all)
        conn.execute(
            text(
                "INSERT INTO positions (login, symbol, side, volume, open_value, digits, "
                "contract_size, opened_at, updated_at, comment) SELECT p.login, p.symbol, p.side, "
                "p.volume, p.open_value, p.digits, p.contract_size, p.opened_at, p.updated_at, "
                "p.comment FROM positions p, generate_series(1, 50)"
            )
        )
        conn.execute(text("ANALYZE positions"))
    with runtime.storage.uow(write=False) as uow:
        assert uow.events.watched_logins(0, 2) == logins[:2]
        read = uow.events.c.execute(
            text(
                "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
                "FROM pg_stat_xact_user_tables WHERE relname = 'positions' "
                "AND schemaname = current_schema()"
            )
        ).scalar_one()
    assert read <= 3 * 51, f"{read} positions read for a batch of 2 accounts"

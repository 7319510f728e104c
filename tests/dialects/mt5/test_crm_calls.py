"""The MT5 calls CRMs make most, over HTTP on both engines through the real handshake: batch
reads of trade states, deals, filled orders and open orders (by logins, groups, tickets),
the what-if calls (check_margin, calc_profit), the balance check against the ledger, and the
archive (archive, read, restore); each within the manager's reach and rights."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from brokerplane.api.mt5 import crm
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.trading.commands import OpenPosition, QuoteInput
from tests.dialects.mt5.conftest import Mt5

PARAMS = "3 Invalid parameters"
PERMISSIONS = "8 Not enough permissions"
NOT_FOUND = "13 Not found"
PARTIAL = "14 Partial error"
INVALID_VOLUME = "10014 Invalid volume"
NO_PRICES = "10021 No prices"
EVERY_RIGHT = frozenset(SCOPES) - {"admin"}  # admin implies every right


def _strings(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_strings(v) for v in value.values())
    if isinstance(value, list):
        return all(_strings(v) for v in value)
    return isinstance(value, str)


def _open(mt5: Mt5, group: str = "demoforex", amount: str = "1000") -> int:
    cmd = OpenAccount(group, leverage=100, name="John Smith")
    login = int(mt5.services.open_account(cmd, mt5.admin).login)
    mt5.services.post_ledger_entry(PostLedgerEntry(login, "deposit", amount), mt5.admin)
    return login


def _quote(mt5: Mt5) -> None:
    mt5.services.set_quotes([QuoteInput("EURUSD", "1.10000", "1.10020")], mt5.admin)


@pytest.fixture
def accounts(mt5: Mt5) -> dict[str, int]:
    """Two demoforex accounts (1000 and 2000 USD) and one real\\standard (3000 USD)."""
    _quote(mt5)
    return {"demo1": _open(mt5), "demo2": _open(mt5, amount="2000"),
            "real": _open(mt5, "real\\standard", "3000")}  # fmt: skip


# ---- user records: ZipCode --------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["ZIPCode", "ZipCode", "zipcode"])
def test_user_records_carry_the_zip_code_under_both_spellings(mt5: Mt5, spelling: str) -> None:
    added = mt5.add_user(**{spelling: "3035"})
    got = mt5.ok(mt5.get("user/get", login=added["Login"]))
    assert (got["ZIPCode"], got["ZipCode"]) == ("3035", "3035")


def test_zip_code_is_blank_under_both_spellings_without_personal_data(mt5: Mt5) -> None:
    login = mt5.add_user(ZipCode="3035")["Login"]
    clerk = mt5.as_manager(1006, rights=EVERY_RIGHT - {"personal_data"})
    got = clerk.ok(clerk.get("user/get", login=login))
    assert (got["ZIPCode"], got["ZipCode"]) == ("", "")


# ---- user/account/get_batch -------------------------------------------------------------------


def test_account_batch_by_logins_answers_what_account_get_answers(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    demo1, demo2 = accounts["demo1"], accounts["demo2"]
    mt5.services.open_position(OpenPosition(demo1, "EURUSD", "buy", "0.1"), mt5.admin)
    batch = mt5.ok(mt5.get("user/account/get_batch", login=f"{demo2},{demo1},999999"))
    singles = [mt5.ok(mt5.get("user/account/get", login=str(x))) for x in (demo1, demo2)]
    assert batch == singles
    assert batch[0]["Margin"] != "0.00" and batch[1]["Balance"] == "2000.00"
    assert _strings(batch)


def test_account_batch_by_group_and_logins_answers_their_union_once(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    by_group = mt5.ok(mt5.get("user/account/get_batch", group="demo*"))
    assert [s["Login"] for s in by_group] == [str(accounts["demo1"]), str(accounts["demo2"])]
    both = mt5.ok(mt5.get("user/account/get_batch", group="real*",
                          login=f"{accounts['demo1']},{accounts['real']}"))  # fmt: skip
    assert [s["Login"] for s in both] == [str(accounts["real"]), str(accounts["demo1"])]


def test_account_batch_shows_a_limited_manager_only_its_groups(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    limited = mt5.as_manager(1006, group_mask="real*")
    every = ",".join(str(x) for x in accounts.values())
    assert [s["Login"] for s in limited.ok(limited.get("user/account/get_batch", login=every))] == [
        str(accounts["real"])
    ]
    assert limited.ok(limited.get("user/account/get_batch", group="demo*")) == []


def test_account_batch_above_its_bound_answers_the_first_ones_as_a_partial_error(
    mt5: Mt5, accounts: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crm, "MAX_BATCH", 2)
    body = mt5.get("user/account/get_batch", group="*").json()
    assert body["retcode"] == PARTIAL  # the lowest logins first: real's 5000, then demo1
    assert [s["Login"] for s in body["answer"]] == [str(accounts["real"]), str(accounts["demo1"])]


@pytest.mark.parametrize("query", [{}, {"login": "abc"}, {"login": "0"}, {"group": ""}])
def test_account_batch_without_a_valid_selection_is_invalid_parameters(
    mt5: Mt5, query: dict[str, str]
) -> None:
    assert mt5.retcode(mt5.get("user/account/get_batch", **query)) == PARAMS


def test_account_batch_needs_the_users_read_right(mt5: Mt5, accounts: dict[str, int]) -> None:
    writer = mt5.as_manager(1006, rights=frozenset({"balances:write"}))
    response = writer.get("user/account/get_batch", login=str(accounts["demo1"]))
    assert writer.retcode(response) == PERMISSIONS


# ---- deal/get_batch, history/get_batch, order/get_batch ----------------------------------------


def _trade(mt5: Mt5, login: int) -> None:
    mt5.services.open_position(OpenPosition(login, "EURUSD", "buy", "0.1"), mt5.admin)


def test_deal_batch_by_group_answers_each_deal_as_deal_get_does(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    _trade(mt5, accounts["demo1"])
    deals = mt5.ok(mt5.get("deal/get_batch", group="demo*"))
    assert [d["Login"] for d in deals] == [str(accounts["demo1"]), str(accounts["demo2"]),
                                           str(accounts["demo1"])]  # fmt: skip
    assert [d["Action"] for d in deals] == ["2", "2", "0"]  # balance, balance, buy
    assert deals == [mt5.ok(mt5.get("deal/get", ticket=d["Deal"])) for d in deals]
    assert _strings(deals)


def test_deal_batch_by_logins_tickets_and_time(mt5: Mt5, accounts: dict[str, int]) -> None:
    real = mt5.ok(mt5.get("deal/get_batch", login=str(accounts["real"])))
    assert [d["Profit"] for d in real] == ["3000.00"]
    ticket = real[0]["Deal"]
    by_ticket = mt5.ok(mt5.get("deal/get_batch", ticket=f"{ticket},999999"))
    assert [d["Deal"] for d in by_ticket] == [ticket]
    at = int(real[0]["Time"])
    inside = mt5.get(
        "deal/get_batch", login=str(accounts["real"]), **{"from": str(at), "to": str(at)}
    )
    assert len(mt5.ok(inside)) == 1
    after = mt5.get("deal/get_batch", login=str(accounts["real"]), **{"from": str(at + 1)})
    assert mt5.ok(after) == []


def test_deal_batch_shows_a_limited_manager_only_its_groups(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    limited = mt5.as_manager(1006, group_mask="real*")
    everyone = limited.ok(limited.get("deal/get_batch", group="*"))
    assert {d["Login"] for d in everyone} == {str(accounts["real"])}
    demo = limited.get("deal/get_batch", login=str(accounts["demo1"]))
    assert limited.ok(demo) == []
    ticket = mt5.ok(mt5.get("deal/get_batch", login=str(accounts["demo1"])))[0]["Deal"]
    assert limited.ok(limited.get("deal/get_batch", ticket=ticket)) == []


def test_deal_batch_above_its_bound_answers_the_oldest_as_a_partial_error(
    mt5: Mt5, accounts: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crm, "MAX_BATCH", 2)
    body = mt5.get("deal/get_batch", group="*").json()
    assert body["retcode"] == PARTIAL
    assert [d["Login"] for d in body["answer"]] == [str(accounts["demo1"]), str(accounts["demo2"])]


@pytest.mark.parametrize("cmd", ["deal/get_batch", "history/get_batch", "order/get_batch"])
@pytest.mark.parametrize(
    "query", [{}, {"login": "x"}, {"ticket": "0"}, {"login": "1", "from": "a"}]
)
def test_trade_batches_without_a_valid_selection_are_invalid_parameters(
    mt5: Mt5, cmd: str, query: dict[str, str]
) -> None:
    assert mt5.retcode(mt5.get(cmd, **query)) == PARAMS


def test_history_batch_answers_the_filled_orders_by_group(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    _trade(mt5, accounts["demo1"])
    _trade(mt5, accounts["real"])
    orders = mt5.ok(mt5.get("history/get_batch", group="demo*,real*"))
    assert [o["Login"] for o in orders] == [
        str(accounts["demo1"]),
        str(accounts["real"]),
    ]  # by ticket
    assert orders == [mt5.ok(mt5.get("history/get", ticket=o["Order"])) for o in orders]
    limited = mt5.as_manager(1006, group_mask="real*")
    seen = limited.ok(limited.get("history/get_batch", group="*"))
    assert [o["Login"] for o in seen] == [str(accounts["real"])]


def test_order_batch_answers_no_open_orders(mt5: Mt5, accounts: dict[str, int]) -> None:
    _trade(mt5, accounts["demo1"])
    assert mt5.ok(mt5.get("order/get_batch", group="*")) == []
    assert mt5.ok(mt5.get("order/get_batch", login=str(accounts["demo1"]))) == []


def test_batches_need_a_read_right(mt5: Mt5, accounts: dict[str, int]) -> None:
    trader = mt5.as_manager(1006, rights=frozenset({"trades:write"}))
    for cmd in ("deal/get_batch", "history/get_batch", "order/get_batch"):
        assert trader.retcode(trader.get(cmd, group="*")) == PERMISSIONS


# ---- trade/check_margin, trade/calc_profit ----------------------------------------------------


def test_check_margin_answers_the_state_now_and_with_the_order(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    login = str(accounts["demo2"])
    answer = mt5.ok(
        mt5.get("trade/check_margin", login=login, symbol="EURUSD", type="0", volume="100000000")
    )
    assert list(answer) == ["new", "current"]
    assert answer["current"] == mt5.ok(mt5.get("user/account/get", login=login))
    current, new = answer["current"], answer["new"]
    assert (current["Margin"], current["MarginFree"]) == ("0.00", "2000.00")
    # 1 lot x 100000 x 1.10020 (the ask) / leverage 100
    assert (new["Margin"], new["MarginFree"], new["MarginLevel"]) == ("1100.20", "899.80", "181.79")
    assert new["Profit"] == "0.00" and _strings(answer)
    # nothing was placed
    assert mt5.ok(mt5.get("position/get_total", login=login)) == {"Total": "0"}


def test_check_margin_prices_the_order_at_the_price_given(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    answer = mt5.ok(mt5.get("trade/check_margin", login=str(accounts["demo2"]), symbol="EURUSD",
                            type="1", volume="100000", price="1.27780"))  # fmt: skip
    assert answer["new"]["Margin"] == "1.28"  # 0.001 lot x 100000 x 1.2778 / 100


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"login": "L", "symbol": "EURUSD", "type": "0", "volume": "10000"}, PARAMS),
        ({"symbol": "EURUSD", "type": "9", "volume": "10000"}, PARAMS),
        ({"symbol": "EURUSD", "type": "0", "volume": "0"}, PARAMS),
        ({"symbol": "EURUSD", "type": "0", "volume": "10000", "price": "x"}, PARAMS),
        ({"symbol": "EURUSD", "type": "0", "volume": "1"}, INVALID_VOLUME),  # 1/10^8 lot
        ({"symbol": "NOPE", "type": "0", "volume": "10000"}, NOT_FOUND),
        ({"symbol": "XAUUSD", "type": "0", "volume": "10000"}, NO_PRICES),
    ],
)
def test_check_margin_refuses_what_it_cannot_price(
    mt5: Mt5, accounts: dict[str, int], query: dict[str, str], code: str
) -> None:
    params = {"login": str(accounts["demo1"]), **query}
    assert mt5.retcode(mt5.get("trade/check_margin", **params)) == code


def test_check_margin_of_an_account_out_of_reach_is_not_found(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    limited = mt5.as_manager(1006, group_mask="real*")
    response = limited.get("trade/check_margin", login=str(accounts["demo1"]), symbol="EURUSD",
                           type="0", volume="10000")  # fmt: skip
    assert limited.retcode(response) == NOT_FOUND


def test_calc_profit_answers_profit_and_rate_in_the_groups_currency(mt5: Mt5) -> None:
    _quote(mt5)
    query = {"symbol": "EURUSD", "type": "0", "volume": "10000000", "price_open": "1.11500",
             "price_close": "1.12500"}  # fmt: skip
    usd = mt5.ok(mt5.get("trade/calc_profit", group="demoforex", **query))
    assert usd == {"Profit": "100.000000", "Profit_rate": "1.000000"}
    eur = mt5.ok(mt5.get("trade/calc_profit", group="demo\\eur", **query))
    rate = (1 / Decimal("1.10010")).quantize(Decimal("0.000001"))
    assert eur == {"Profit": "90.900000", "Profit_rate": f"{rate}"}
    sell = mt5.ok(mt5.get("trade/calc_profit", group="demoforex", **{**query, "type": "1"}))
    assert sell["Profit"] == "-100.000000"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"group": "demoforex", "type": "0"}, PARAMS),  # no prices
        ({"group": "demoforex", "type": "2", "price_open": "1", "price_close": "2"}, PARAMS),
        ({"group": "demoforex", "type": "0", "price_open": "-1", "price_close": "2"}, PARAMS),
        ({"group": "nowhere", "type": "0", "price_open": "1", "price_close": "2"}, PERMISSIONS),
    ],
)
def test_calc_profit_refuses_bad_requests(mt5: Mt5, query: dict[str, str], code: str) -> None:
    _quote(mt5)
    params = {"symbol": "EURUSD", "volume": "10000", **query}
    assert mt5.retcode(mt5.get("trade/calc_profit", **params)) == code


def test_calc_profit_for_a_group_out_of_reach_is_not_permitted(mt5: Mt5) -> None:
    _quote(mt5)
    limited = mt5.as_manager(1006, group_mask="real*")
    response = limited.get("trade/calc_profit", group="demoforex", symbol="EURUSD", type="0",
                           volume="10000", price_open="1", price_close="2")  # fmt: skip
    assert limited.retcode(response) == PERMISSIONS


@pytest.mark.parametrize("price", ["1e30", "1000000001", "-1", "1e-30", "1e-999999", "1e999999"])
def test_check_margin_refuses_a_price_out_of_range_as_invalid_parameters(
    mt5: Mt5, accounts: dict[str, int], price: str
) -> None:
    response = mt5.get("trade/check_margin", login=str(accounts["demo1"]), symbol="EURUSD",
                       type="0", volume="1000000000000", price=price)  # fmt: skip
    assert mt5.retcode(response) == PARAMS


@pytest.mark.parametrize(
    ("price_open", "price_close"),
    [("1e30", "1e-30"), ("0", "1"), ("1", "1e-999999"), ("1e999999", "1"), ("1000000001", "1")],
)
def test_calc_profit_refuses_a_price_out_of_range_as_invalid_parameters(
    mt5: Mt5, price_open: str, price_close: str
) -> None:
    _quote(mt5)
    response = mt5.get("trade/calc_profit", group="demoforex", symbol="EURUSD", type="0",
                       volume="1000000000000", price_open=price_open,
                       price_close=price_close)  # fmt: skip
    assert mt5.retcode(response) == PARAMS


def test_the_largest_prices_and_volumes_still_get_an_answer(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    big = {"symbol": "EURUSD", "type": "0", "volume": "100000000000000000"}  # 10^9 lots
    margin = mt5.get("trade/check_margin", login=str(accounts["demo1"]), price="1000000000", **big)
    assert mt5.retcode(margin) == "0 Done"
    profit = mt5.get("trade/calc_profit", group="demoforex", price_open="0.0000000001",
                     price_close="1000000000", **big)  # fmt: skip
    assert mt5.retcode(profit) == "0 Done"


# ---- user/check_balance -----------------------------------------------------------------------


def _tamper(mt5: Mt5, login: int, balance: int, credit: int) -> None:
    """Change the cached figures behind brokerplane's back, as a hand-edited database would."""
    now = mt5.services.clock()
    mt5.services._write(lambda u: u.accounts.set_figures(login, balance, credit, 0, now))


def test_check_balance_answers_cache_and_ledger_in_mt5s_shape(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    login = accounts["demo1"]
    mt5.services.post_ledger_entry(PostLedgerEntry(login, "credit", "100"), mt5.admin)
    answer = mt5.ok(mt5.get("user/check_balance", login=str(login), fixflag="0"))
    assert answer == {
        "Balance": {"User": "1000.000000", "History": "1000.000000"},
        "Credit": {"User": "100.000000", "History": "100.000000"},
    }


def test_check_balance_shows_a_difference_and_fixflag_sets_the_cache_to_the_ledger(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    login = accounts["demo1"]
    _tamper(mt5, login, 300000, 50)
    seen = mt5.ok(mt5.get("user/check_balance", login=str(login)))
    assert seen == {
        "Balance": {"User": "3000.000000", "History": "1000.000000"},
        "Credit": {"User": "0.500000", "History": "0.000000"},
    }
    assert mt5.ok(mt5.get("user/check_balance", login=str(login), fixflag="1")) == seen
    fixed = mt5.ok(mt5.get("user/check_balance", login=str(login)))
    assert fixed["Balance"] == {"User": "1000.000000", "History": "1000.000000"}
    assert mt5.ok(mt5.get("user/get", login=str(login)))["Balance"] == "1000.00"
    actions = [r.action for r in mt5.services.account_history(login, mt5.admin)]
    assert actions.count("account.figures_fixed") == 1


def test_check_balance_fixing_needs_the_admin_right_and_changes_nothing_without_it(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    login = accounts["demo1"]
    _tamper(mt5, login, 300000, 0)
    dealer = mt5.as_manager(1006, rights=EVERY_RIGHT)
    assert (
        dealer.ok(dealer.get("user/check_balance", login=str(login)))["Balance"]["User"]
        == "3000.000000"
    )
    assert dealer.retcode(dealer.get("user/check_balance", login=str(login), fixflag="1")) \
        == PERMISSIONS  # fmt: skip
    assert mt5.ok(mt5.get("user/get", login=str(login)))["Balance"] == "3000.00"


@pytest.mark.parametrize(
    ("query", "code"),
    [({}, PARAMS), ({"login": "x"}, PARAMS), ({"login": "LOGIN", "fixflag": "2"}, PARAMS),
     ({"login": "999999"}, NOT_FOUND)],
)  # fmt: skip
def test_check_balance_refuses_bad_requests(
    mt5: Mt5, accounts: dict[str, int], query: dict[str, str], code: str
) -> None:
    if query.get("login") == "LOGIN":
        query = {**query, "login": str(accounts["demo1"])}
    assert mt5.retcode(mt5.get("user/check_balance", **query)) == code


def test_check_balance_of_an_account_out_of_reach_is_not_found(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    limited = mt5.as_manager(1006, group_mask="real*")
    assert limited.retcode(limited.get("user/check_balance", login=str(accounts["demo1"]))) \
        == NOT_FOUND  # fmt: skip


# ---- the archive ------------------------------------------------------------------------------


def test_an_archived_account_reads_from_the_archive_and_a_restored_one_is_back(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    login = str(accounts["demo1"])
    record = mt5.ok(mt5.get("user/get", login=login))
    assert mt5.ok(mt5.get("user/archive/add", login=login)) is None
    assert mt5.retcode(mt5.get("user/get", login=login)) == NOT_FOUND
    assert mt5.ok(mt5.get("user/archive/get", login=login)) == record
    assert mt5.ok(mt5.get("user/archive/get_batch", login=f"{login},999999")) == [record]
    assert mt5.ok(mt5.get("user/archive/get_batch", group="demo*")) == [record]
    assert mt5.retcode(mt5.get("user/archive/get", login=str(accounts["demo2"]))) == NOT_FOUND
    restored = mt5.ok(mt5.post("user/restore", json={"Login": login}))
    assert restored == record
    assert mt5.ok(mt5.get("user/get", login=login)) == record
    assert mt5.retcode(mt5.get("user/archive/get", login=login)) == NOT_FOUND
    assert mt5.ok(mt5.get("user/archive/get_batch", group="*")) == []
    actions = [r.action for r in mt5.services.account_history(int(login), mt5.admin)]
    assert actions[-2:] == ["account.deleted", "account.restored"]


def test_restoring_an_account_that_is_not_archived_is_not_found(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    assert mt5.retcode(mt5.get("user/restore", login=str(accounts["demo1"]))) == NOT_FOUND
    assert mt5.retcode(mt5.get("user/restore", login="999999")) == NOT_FOUND


def test_the_archive_shows_a_limited_manager_only_its_groups(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    for login in accounts.values():
        mt5.ok(mt5.get("user/archive/add", login=str(login)))
    limited = mt5.as_manager(1006, group_mask="real*")
    every = ",".join(str(x) for x in accounts.values())
    seen = limited.ok(limited.get("user/archive/get_batch", login=every))
    assert [u["Login"] for u in seen] == [str(accounts["real"])]
    demo = str(accounts["demo1"])
    assert limited.retcode(limited.get("user/archive/get", login=demo)) == NOT_FOUND
    assert limited.retcode(limited.get("user/restore", login=demo)) == NOT_FOUND
    assert mt5.retcode(mt5.get("user/archive/get", login=demo)) == "0 Done"


def test_archiving_and_restoring_need_the_delete_right(mt5: Mt5, accounts: dict[str, int]) -> None:
    login = str(accounts["demo1"])
    clerk = mt5.as_manager(1006, rights=EVERY_RIGHT - {"users:delete"})
    assert clerk.retcode(clerk.get("user/archive/add", login=login)) == PERMISSIONS
    mt5.ok(mt5.get("user/archive/add", login=login))
    assert clerk.ok(clerk.get("user/archive/get", login=login))["Login"] == login
    assert clerk.retcode(clerk.get("user/restore", login=login)) == PERMISSIONS
    assert mt5.retcode(mt5.get("user/get", login=login)) == NOT_FOUND


@pytest.mark.parametrize("cmd", ["user/archive/add", "user/archive/get", "user/restore"])
@pytest.mark.parametrize("query", [{}, {"login": "x"}, {"login": "0"}])
def test_archive_calls_without_a_valid_login_are_invalid_parameters(
    mt5: Mt5, cmd: str, query: dict[str, str]
) -> None:
    assert mt5.retcode(mt5.get(cmd, **query)) == PARAMS


def test_archive_batch_without_a_selection_is_invalid_parameters(mt5: Mt5) -> None:
    assert mt5.retcode(mt5.get("user/archive/get_batch")) == PARAMS


def test_deals_of_an_archived_account_stay_readable_by_login_and_group(
    mt5: Mt5, accounts: dict[str, int]
) -> None:
    login = str(accounts["real"])
    before = mt5.ok(mt5.get("deal/get_batch", login=login))
    mt5.ok(mt5.get("user/archive/add", login=login))
    assert mt5.ok(mt5.get("deal/get_batch", login=login)) == before
    assert mt5.ok(mt5.get("deal/get_batch", group="real*")) == before

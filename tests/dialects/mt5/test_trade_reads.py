"""MT5 trading history over HTTP on both engines: deals read back from the ledger (get, totals,
windows, pages, reach, rights) and the empty position, order and history reads. Every answer
is checked against the spec's shapes."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest

from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import PostLedgerEntry
from tests.dialects.mt5 import trade_support
from tests.dialects.mt5.conftest import Mt5
from tests.dialects.mt5.trade_support import (
    DEAL_FIELDS,
    DONE,
    EMPTY_API_DATA,
    NOT_FOUND,
    PARAMS,
    PERMISSIONS,
    _all_strings,
    _entries,
    _open,
    _ticket,
)

# The MT5 money tests' fixtures (tests/dialects/mt5/trade_support.py).
account = trade_support.account


# --- deals -----------------------------------------------------------------------------------


def test_deal_get_answers_the_balance_operation_as_a_deal(mt5: Mt5) -> None:
    login = _open(mt5)
    ticket = _ticket(mt5, login, 2, "1000", comment="onlinedeposit")
    [entry] = _entries(mt5, login)
    at = entry.at.astimezone(UTC)
    response = mt5.get("deal/get", ticket=ticket)
    body = response.json()
    assert body["retcode"] == DONE and list(body) == ["retcode", "answer"]
    deal = body["answer"]
    assert list(deal) == DEAL_FIELDS and _all_strings(deal)
    zeros = dict.fromkeys(DEAL_FIELDS, "0")
    assert deal == {
        **zeros,
        "Deal": str(ticket),
        "ExternalID": "",
        "Login": str(login),
        "Dealer": "1005",
        "Action": "2",
        "Reason": "2",
        "DigitsCurrency": "2",
        "Time": str(int(at.timestamp())),
        "TimeMsc": str(int(at.timestamp() * 1000)),
        "Symbol": "",
        "Profit": "1000.00",
        "ProfitRaw": "1000.00",
        "Comment": "onlinedeposit",
        "Gateway": "",
        "ApiData": EMPTY_API_DATA,
        "OrigTime": str(int(at.timestamp())),
    }


def test_a_withdrawal_deal_has_a_negative_profit(mt5: Mt5, account: int) -> None:
    ticket = _ticket(mt5, account, 2, "-250")
    deal = mt5.ok(mt5.get("deal/get", ticket=ticket))
    assert (deal["Action"], deal["Profit"]) == ("2", "-250.00")


def test_the_reference_of_a_native_operation_is_the_deals_external_id(mt5: Mt5) -> None:
    login = _open(mt5)
    cmd = PostLedgerEntry(login, "deposit", "10", reference="PSP-42")
    posting = mt5.services.post_ledger_entry(cmd, mt5.admin)
    deal = mt5.ok(mt5.get("deal/get", ticket=posting.operation_id))
    assert (deal["ExternalID"], deal["Dealer"]) == ("PSP-42", "0")


@pytest.mark.parametrize("ticket", ["999999", "9223372036854775807"])
def test_an_unknown_deal_is_not_found(mt5: Mt5, account: int, ticket: str) -> None:
    assert mt5.get("deal/get", ticket=ticket).json() == {"retcode": NOT_FOUND}


@pytest.mark.parametrize("ticket", [None, "0", "abc", "9223372036854775808"])
def test_a_missing_or_malformed_ticket_is_invalid_parameters(
    mt5: Mt5, account: int, ticket: str | None
) -> None:
    assert mt5.retcode(mt5.get("deal/get", ticket=ticket)) == PARAMS


def test_a_deal_of_an_account_out_of_reach_is_not_found(mt5: Mt5) -> None:
    outside = _open(mt5, "real\\standard")
    ticket = _ticket(mt5, outside, 2, "10")
    _ticket(mt5, _open(mt5), 2, "10")  # a later deal in reach must not stand in for it
    limited = mt5.as_manager(1006, group_mask="demo*")
    assert limited.retcode(limited.get("deal/get", ticket=ticket)) == NOT_FOUND
    assert limited.retcode(limited.get("deal/get_total", login=outside)) == NOT_FOUND
    assert limited.retcode(limited.get("deal/get_page", login=outside)) == NOT_FOUND


def test_reading_deals_needs_balances_write_or_reports_read(mt5: Mt5, account: int) -> None:
    ticket = _entries(mt5, account)[0].id
    nobody = mt5.as_manager(1006, rights=frozenset({"users:read"}))
    assert nobody.retcode(nobody.get("deal/get", ticket=ticket)) == PERMISSIONS
    assert nobody.retcode(nobody.get("deal/get_total", login=account)) == PERMISSIONS
    reporter = mt5.as_manager(1007, rights=frozenset({"reports:read"}))
    assert reporter.ok(reporter.get("deal/get", ticket=ticket))["Deal"] == str(ticket)


@pytest.fixture
def dealt(mt5: Mt5) -> tuple[int, list[int]]:
    """An account with five deposits over MT5 (1.00 to 5.00) and their tickets."""
    login = _open(mt5)
    tickets = [_ticket(mt5, login, 2, str(n)) for n in range(1, 6)]
    return login, tickets


def test_deal_get_total_counts_the_accounts_deals(mt5: Mt5, dealt: tuple[int, list[int]]) -> None:
    login = dealt[0]
    _ticket(mt5, _open(mt5), 2, "10")  # another account's deal is not counted
    response = mt5.get("deal/get_total", login=login, **{"from": 0, "to": 2**40})
    assert response.json() == {"retcode": DONE, "answer": {"Total": "5"}}
    assert mt5.ok(mt5.get("deal/get_total", login=login)) == {"Total": "5"}


def test_the_deal_window_includes_both_its_from_and_its_to_second(
    mt5: Mt5, dealt: tuple[int, list[int]]
) -> None:
    login = dealt[0]
    entries = _entries(mt5, login)
    first, last = int(entries[0].at.timestamp()), int(entries[-1].at.timestamp())
    window = {"from": first, "to": last}
    assert mt5.ok(mt5.get("deal/get_total", login=login, **window)) == {"Total": "5"}
    before = {"from": first - 100, "to": first - 1}
    assert mt5.ok(mt5.get("deal/get_total", login=login, **before)) == {"Total": "0"}
    after = {"from": last + 1, "to": last + 100}
    assert mt5.ok(mt5.get("deal/get_page", login=login, **after)) == []


def test_deal_get_page_answers_deals_oldest_first_from_the_offset(
    mt5: Mt5, dealt: tuple[int, list[int]]
) -> None:
    login, tickets = dealt
    window = {"from": 0, "to": 2**33}
    page = mt5.ok(mt5.get("deal/get_page", login=login, offset=1, total=2, **window))
    assert [d["Deal"] for d in page] == [str(t) for t in tickets[1:3]]
    assert [d["Profit"] for d in page] == ["2.00", "3.00"]
    assert all(list(d) == DEAL_FIELDS and _all_strings(d) for d in page)
    rest = mt5.ok(mt5.get("deal/get_page", login=login, offset=3, total=100, **window))
    assert [d["Deal"] for d in rest] == [str(t) for t in tickets[3:]]
    assert mt5.ok(mt5.get("deal/get_page", login=login, offset=5, total=10, **window)) == []


def test_deal_get_page_with_total_0_answers_all_up_to_100(mt5: Mt5) -> None:
    login = _open(mt5)
    admin = mt5.admin
    for _ in range(103):
        mt5.services.post_ledger_entry(PostLedgerEntry(login, "deposit", "1"), admin)
    everything = mt5.ok(mt5.get("deal/get_page", login=login, offset=0, total=0))
    assert len(everything) == 100
    capped = mt5.ok(mt5.get("deal/get_page", login=login, offset=0, total=500))
    assert len(capped) == 100
    tail = mt5.ok(mt5.get("deal/get_page", login=login, offset=100, total=0))
    assert len(tail) == 3
    assert mt5.ok(mt5.get("deal/get_total", login=login)) == {"Total": "103"}


@pytest.mark.parametrize("params", [{"offset": "-1"}, {"total": "-5"}, {"from": "x"}])
def test_a_malformed_page_is_invalid_parameters(
    mt5: Mt5, dealt: tuple[int, list[int]], params: dict[str, str]
) -> None:
    assert mt5.retcode(mt5.get("deal/get_page", login=dealt[0], **params)) == PARAMS


def test_deals_of_an_unknown_login_are_not_found(mt5: Mt5) -> None:
    assert mt5.get("deal/get_total", login=954499).json() == {"retcode": NOT_FOUND}
    assert mt5.get("deal/get_page", login=954499).json() == {"retcode": NOT_FOUND}
    assert mt5.retcode(mt5.get("deal/get_page")) == PARAMS


def test_an_operation_held_for_approval_is_no_deal_yet(mt5: Mt5, account: int) -> None:
    mt5.services.set_approval_threshold(SetApprovalThreshold("USD", "100"), mt5.admin)
    held = mt5.services.post_ledger_entry(
        PostLedgerEntry(account, "deposit", "500"),
        Actor(manager_login=1005, scopes=frozenset({"balances:write"}), dialect=Dialect.NATIVE),
    )
    assert held.approval is not None and held.status == "pending_approval"
    assert mt5.ok(mt5.get("deal/get_total", login=account)) == {"Total": "1"}


# --- positions, orders, history: empty until trading exists ---------------------------------

EMPTY = [
    ("position/get", {"symbol": "EURUSD"}, {"retcode": NOT_FOUND}),
    ("position/get_batch", {}, {"retcode": DONE, "answer": []}),
    ("position/get_total", {}, {"retcode": DONE, "answer": {"Total": "0"}}),
    ("position/get_page", {"offset": 0, "total": 100}, {"retcode": DONE, "answer": []}),
    ("order/get_total", {}, {"retcode": DONE, "answer": {"Total": "0"}}),
    ("order/get_page", {"offset": 0, "total": 0}, {"retcode": DONE, "answer": []}),
    ("history/get_total", {"from": 0, "to": 2**31}, {"retcode": DONE, "answer": {"Total": "0"}}),
    (
        "history/get_page",
        {"from": 0, "to": 2**31, "offset": 0, "total": 100},
        {"retcode": DONE, "answer": []},
    ),
]


@pytest.mark.parametrize(("cmd", "params", "expected"), EMPTY)
def test_positions_and_orders_of_a_known_login_are_empty(
    mt5: Mt5, account: int, cmd: str, params: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = mt5.get(cmd, login=account, **params)
    assert response.status_code == 200
    assert response.json() == expected


@pytest.mark.parametrize(("cmd", "params", "expected"), EMPTY)
def test_positions_and_orders_of_an_unknown_login_are_not_found(
    mt5: Mt5, cmd: str, params: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert mt5.get(cmd, login=954499, **params).json() == {"retcode": NOT_FOUND}


@pytest.mark.parametrize(("cmd", "params", "expected"), EMPTY)
def test_positions_and_orders_out_of_reach_are_not_found(
    mt5: Mt5, cmd: str, params: dict[str, Any], expected: dict[str, Any]
) -> None:
    outside = _open(mt5, "real\\standard")
    limited = mt5.as_manager(1006, group_mask="demo*")
    assert limited.get(cmd, login=outside, **params).json() == {"retcode": NOT_FOUND}


@pytest.mark.parametrize("cmd", ["position/get", "position/get_total", "order/get_page"])
def test_positions_and_orders_without_a_login_are_invalid_parameters(mt5: Mt5, cmd: str) -> None:
    assert mt5.retcode(mt5.get(cmd)) == PARAMS


def test_a_position_batch_by_group_or_several_logins_is_empty(mt5: Mt5, account: int) -> None:
    other = _open(mt5)
    assert mt5.ok(mt5.get("position/get_batch", group="demo*")) == []
    assert mt5.ok(mt5.get("position/get_batch", login=f"{account},{other}")) == []
    assert mt5.retcode(mt5.get("position/get_batch", login=f"{account},954499")) == NOT_FOUND
    assert mt5.retcode(mt5.get("position/get_batch")) == PARAMS


@pytest.mark.parametrize("cmd", ["order/get", "history/get"])
def test_an_order_ticket_is_not_found(mt5: Mt5, cmd: str) -> None:
    assert mt5.get(cmd, ticket=1).json() == {"retcode": NOT_FOUND}
    assert mt5.retcode(mt5.get(cmd)) == PARAMS


def test_the_legacy_root_paths_answer_positions_and_deals(mt5: Mt5, account: int) -> None:
    total = mt5.client.get("/position_get_total", params={"login": account}).json()
    assert total == {"retcode": DONE, "answer": {"Total": "0"}}
    deals = mt5.client.get("/deal_get_total", params={"login": account}).json()
    assert deals == {"retcode": DONE, "answer": {"Total": "1"}}

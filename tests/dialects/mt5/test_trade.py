"""MT5 money and trading history over HTTP on both engines: trade/balance into the core ledger
(types, signs, limits, approvals, rights), deals read back from the ledger, and the empty
position, order and history reads. Every answer is checked against the spec's shapes."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest

from brokerplane.core.access.commands import CreateApiKey
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery
from tests.dialects.mt5.conftest import Mt5

DONE = "0 Done"
PARAMS = "3 Invalid parameters"
PERMISSIONS = "8 Not enough permissions"
NOT_FOUND = "13 Not found"
MONEY_LIMIT = "4005 Money limit reached"
REJECTED = "10006 Request rejected"
NO_MONEY = "10019 Not enough money"

DEAL_FIELDS = [
    "Deal", "ExternalID", "Login", "Dealer", "Order", "Action", "Entry", "Reason", "Digits",
    "DigitsCurrency", "ContractSize", "Time", "TimeMsc", "Symbol", "Price", "Volume", "VolumeExt",
    "Profit", "Storage", "Commission", "CommissionAgent", "Fee", "RateProfit", "RateMargin",
    "ExpertID", "ExpertPositionID", "PositionID", "Comment", "ProfitRaw", "PricePosition",
    "PriceSL", "PriceTP", "VolumeClosed", "VolumeClosedExt", "TickValue", "TickSize", "Flags",
    "Gateway", "PriceGateway", "ModifyFlags", "Value", "MarketBid", "MarketAsk", "MarketLast",
    "ApiData", "OrigTime",
]  # fmt: skip
EMPTY_API_DATA = [{"AppID": "0", "ID": "0"}] * 16


def _open(mt5: Mt5, group: str = "demoforex") -> int:
    acc = mt5.services.open_account(OpenAccount(group=group, name="John Smith"), mt5.admin)
    return int(acc.login)


def _balance(mt5: Mt5, login: int, type_: Any, amount: Any, **extra: Any) -> Any:
    return mt5.get("trade/balance", login=login, type=type_, balance=amount, **extra)


def _ticket(mt5: Mt5, login: int, type_: Any, amount: Any, **extra: Any) -> int:
    return int(mt5.ok(_balance(mt5, login, type_, amount, **extra))["Ticket"])


def _figures(mt5: Mt5, login: int) -> tuple[Decimal, Decimal, Decimal]:
    acc = mt5.services.get_account(login, mt5.admin)
    return Decimal(acc.balance) / 100, Decimal(acc.credit) / 100, Decimal(acc.bonus) / 100


def _entries(mt5: Mt5, login: int) -> list[LedgerEntry]:
    return mt5.services.list_ledger(LedgerQuery(login=login), mt5.admin)


def _all_strings(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _all_strings(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_all_strings(v) for v in value)
    return isinstance(value, str)


@pytest.fixture
def account(mt5: Mt5) -> int:
    """A demoforex (USD) account holding 1000.00 deposited over MT5."""
    login = _open(mt5)
    _ticket(mt5, login, 2, "1000")
    return login


# --- trade/balance: golden pairs ------------------------------------------------------------


def test_a_deposit_answers_the_ticket_of_its_ledger_entry(mt5: Mt5) -> None:
    login = _open(mt5)
    response = mt5.get("trade/balance", login=login, type=2, balance=1000, comment="onlinedeposit")
    [entry] = _entries(mt5, login)
    assert response.status_code == 200
    assert response.json() == {"retcode": DONE, "answer": {"Ticket": str(entry.id)}}
    assert (entry.kind, entry.amount, entry.comment) == ("deposit", 100_000, "onlinedeposit")
    assert (entry.dialect, entry.manager_login) == ("mt5", 1005)
    assert _figures(mt5, login) == (Decimal("1000"), Decimal(0), Decimal(0))
    query = AuditQuery(entity_type="account", entity_id=str(login), action="ledger.entry_posted")
    [audit] = mt5.services.query_audit(query, mt5.admin)
    assert audit.request_id is not None
    assert (audit.manager_login, audit.dialect, audit.request_id[:4]) == (1005, "mt5", "mt5_")
    assert audit.after is not None and audit.after["entry"]["id"] == entry.id


def test_a_json_body_with_any_casing_and_bare_numbers_posts_the_same_way(mt5: Mt5) -> None:
    login = _open(mt5)
    body = {"Login": login, "Type": 2, "Balance": 250.5, "Comment": "wire", "Check_Margin": 0}
    answer = mt5.ok(mt5.post("trade/balance", json=body))
    [entry] = _entries(mt5, login)
    assert answer == {"Ticket": str(entry.id)}
    assert (entry.amount, entry.comment) == (25_050, "wire")


def test_the_body_overrides_the_query(mt5: Mt5) -> None:
    login = _open(mt5)
    mt5.ok(mt5.post("trade/balance", {"login": login, "type": 2, "balance": "1"},
                    {"balance": "7.25"}))  # fmt: skip
    assert _figures(mt5, login)[0] == Decimal("7.25")


def test_the_legacy_root_path_is_the_same_command(mt5: Mt5) -> None:
    login = _open(mt5)
    response = mt5.client.get("/trade_balance", params={"login": login, "type": 2, "balance": 5})
    assert response.json()["retcode"] == DONE
    assert _figures(mt5, login)[0] == Decimal("5")


# --- signed amounts per type ----------------------------------------------------------------

SIGNED = [
    # type, amount, kind in the ledger, (balance, credit, bonus) change, deal action
    (2, "100", "deposit", ("100", "0", "0"), "2"),
    (2, "-40.5", "withdrawal", ("-40.5", "0", "0"), "2"),
    (3, "50", "credit_in", ("0", "50", "0"), "3"),
    (3, "-20", "credit_out", ("0", "-20", "0"), "3"),
    (4, "-10", "charge", ("-10", "0", "0"), "4"),
    (4, "5", "correction", ("5", "0", "0"), "5"),
    (5, "-7.25", "correction", ("-7.25", "0", "0"), "5"),
    (5, "3", "correction", ("3", "0", "0"), "5"),
    (6, "30", "bonus_in", ("0", "0", "30"), "6"),
    (6, "-10", "bonus_out", ("0", "0", "-10"), "6"),
]


@pytest.mark.parametrize(("type_", "amount", "kind", "change", "action"), SIGNED)
def test_each_type_moves_its_figure_by_the_signed_amount(
    mt5: Mt5, type_: int, amount: str, kind: str, change: tuple[str, str, str], action: str
) -> None:
    login = _open(mt5)
    _ticket(mt5, login, 2, "1000")
    _ticket(mt5, login, 3, "100")
    _ticket(mt5, login, 6, "100")
    before = _figures(mt5, login)
    ticket = _ticket(mt5, login, type_, amount)
    after = _figures(mt5, login)
    assert tuple(a - b for a, b in zip(after, before, strict=True)) == tuple(
        Decimal(c) for c in change
    )
    assert _entries(mt5, login)[-1].kind == kind
    deal = mt5.ok(mt5.get("deal/get", ticket=ticket))
    assert deal["Action"] == action
    assert Decimal(deal["Profit"]) == Decimal(amount)
    assert deal["Profit"] == f"{Decimal(amount):.2f}"


# --- trade/balance: every refusal -----------------------------------------------------------


@pytest.mark.parametrize("type_", ["0", "1", "7", "12", "-2", "abc", ""])
def test_a_type_other_than_2_to_6_is_invalid_parameters(mt5: Mt5, account: int, type_: str) -> None:
    assert mt5.retcode(_balance(mt5, account, type_, "10")) == PARAMS
    assert len(_entries(mt5, account)) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"type": 2, "balance": "10"},  # no login
        {"login": "abc", "type": 2, "balance": "10"},
        {"login": "0", "type": 2, "balance": "10"},
        {"login": "ACCOUNT", "type": 2},  # no balance
        {"login": "ACCOUNT", "balance": "10"},  # no type
    ],
)
def test_missing_or_malformed_parameters_are_invalid_parameters(
    mt5: Mt5, account: int, params: dict[str, Any]
) -> None:
    if params.get("login") == "ACCOUNT":
        params["login"] = account
    assert mt5.retcode(mt5.get("trade/balance", **params)) == PARAMS
    assert _figures(mt5, account)[0] == Decimal("1000")


@pytest.mark.parametrize("amount", ["abc", "0", "-0", "1.234", "NaN", "1e", "", "1e-999999999"])
def test_an_amount_that_is_not_a_valid_money_figure_is_invalid_parameters(
    mt5: Mt5, account: int, amount: str
) -> None:
    assert mt5.retcode(_balance(mt5, account, 2, amount)) == PARAMS
    assert _figures(mt5, account)[0] == Decimal("1000")


@pytest.mark.parametrize(
    "amount", ["1000000001", "-1000000001", "1e12", "1000000000.01", "-1e999999999", "9" * 400]
)
def test_an_amount_beyond_one_billion_is_money_limit_reached(
    mt5: Mt5, account: int, amount: str
) -> None:
    assert mt5.retcode(_balance(mt5, account, 2, amount)) == MONEY_LIMIT
    assert _figures(mt5, account)[0] == Decimal("1000")


def test_an_amount_above_the_servers_own_per_operation_limit_is_money_limit_reached_too(
    mt5: Mt5, account: int
) -> None:
    # the core's default maximum is 100,000,000 per operation, below MT5's 1,000,000,000
    assert mt5.retcode(_balance(mt5, account, 2, "100000000.01")) == MONEY_LIMIT
    assert mt5.retcode(_balance(mt5, account, 2, "1000000000")) == MONEY_LIMIT
    assert mt5.retcode(_balance(mt5, account, 2, "100000000")) == DONE


@pytest.mark.parametrize(
    ("type_", "amount"),
    [(2, "-1000.01"), (4, "-1000.01"), (5, "-1000.01"), (3, "-0.01"), (6, "-0.01")],
)
def test_taking_more_than_the_figure_holds_is_not_enough_money(
    mt5: Mt5, account: int, type_: int, amount: str
) -> None:
    response = _balance(mt5, account, type_, amount)
    assert response.json() == {"retcode": NO_MONEY}
    assert _figures(mt5, account) == (Decimal("1000"), Decimal(0), Decimal(0))


def test_the_whole_balance_may_be_withdrawn(mt5: Mt5, account: int) -> None:
    _ticket(mt5, account, 2, "-1000")
    assert _figures(mt5, account)[0] == 0


def test_credit_does_not_pay_for_a_withdrawal_whatever_check_margin_says(
    mt5: Mt5, account: int
) -> None:
    _ticket(mt5, account, 3, "500")
    for flag in ("0", "1", None):
        assert mt5.retcode(_balance(mt5, account, 2, "-1200", check_margin=flag)) == NO_MONEY
    assert _figures(mt5, account) == (Decimal("1000"), Decimal("500"), Decimal(0))


@pytest.mark.parametrize("flag", ["0", "1"])
def test_check_margin_0_or_1_is_accepted(mt5: Mt5, account: int, flag: str) -> None:
    assert mt5.retcode(_balance(mt5, account, 2, "-10", check_margin=flag)) == DONE


@pytest.mark.parametrize("flag", ["2", "-1", "yes"])
def test_another_check_margin_is_invalid_parameters(mt5: Mt5, account: int, flag: str) -> None:
    assert mt5.retcode(_balance(mt5, account, 2, "-10", check_margin=flag)) == PARAMS


def test_an_unknown_login_is_not_found(mt5: Mt5) -> None:
    assert mt5.get("trade/balance", login=954499, type=2, balance="10").json() == {
        "retcode": NOT_FOUND
    }


def test_an_account_out_of_the_managers_reach_is_not_found(mt5: Mt5) -> None:
    outside = _open(mt5, "real\\standard")
    limited = mt5.as_manager(1006, group_mask="demo*")
    assert limited.retcode(_balance(limited, outside, 2, "10")) == NOT_FOUND
    assert _figures(mt5, outside)[0] == 0


def test_a_manager_without_balances_write_lacks_permissions(mt5: Mt5, account: int) -> None:
    reader = mt5.as_manager(1006, rights=frozenset({"users:read", "balances:approve"}))
    assert reader.get("trade/balance", login=account, type=2, balance="10").json() == {
        "retcode": PERMISSIONS
    }
    assert _figures(mt5, account)[0] == Decimal("1000")


def test_a_comment_longer_than_31_characters_is_cut_to_31(mt5: Mt5) -> None:
    login = _open(mt5)
    ticket = _ticket(mt5, login, 2, "10", comment="x" * 30 + "ABCDEFGHIJ")
    [entry] = _entries(mt5, login)
    assert entry.comment == "x" * 30 + "A"
    assert mt5.ok(mt5.get("deal/get", ticket=ticket))["Comment"] == "x" * 30 + "A"


def test_a_comment_of_31_characters_and_mt5_escapes_are_kept(mt5: Mt5) -> None:
    login = _open(mt5)
    _ticket(mt5, login, 2, "10", comment="a" * 31)
    _ticket(mt5, login, 2, "10", comment="wire\\|ref\\=7")
    assert [e.comment for e in _entries(mt5, login)] == ["a" * 31, "wire|ref=7"]


# --- approvals (held operations: test_money_retries_and_four_eyes.py) ---------------------------


@pytest.fixture
def threshold(mt5: Mt5) -> None:
    """USD operations above 1500.00 need approval."""
    mt5.services.set_approval_threshold(SetApprovalThreshold("USD", "1500"), mt5.admin)


def test_at_the_threshold_any_manager_with_balances_write_posts(
    mt5: Mt5, account: int, threshold: None
) -> None:
    teller = mt5.as_manager(1006, rights=frozenset({"balances:write"}))
    assert teller.retcode(_balance(teller, account, 2, "1500")) == DONE
    assert teller.retcode(_balance(teller, account, 2, "-1500")) == DONE


def test_short_funds_come_before_the_missing_approval(
    mt5: Mt5, account: int, threshold: None
) -> None:
    teller = mt5.as_manager(1006, rights=frozenset({"balances:write"}))
    assert teller.retcode(_balance(teller, account, 2, "-2000")) == NO_MONEY


# --- the same money through the native API ---------------------------------------------------


def test_a_deposit_over_mt5_reads_the_same_through_the_native_api(mt5: Mt5) -> None:
    login = _open(mt5)
    ticket = _ticket(mt5, login, 2, "1234.56", comment="crm deposit")
    _ticket(mt5, login, 3, "100")
    key = mt5.services.create_api_key(CreateApiKey(1005, frozenset(SCOPES)), mt5.admin).secret
    headers = {"Authorization": f"Bearer {key}"}
    user = mt5.client.get(f"/v1/users/{login}", headers=headers).json()
    assert (user["balance"], user["credit"], user["bonus"]) == ("1234.56", "100.00", "0.00")
    history = mt5.client.get("/v1/balances/history", params={"login": login}, headers=headers)
    first = history.json()["items"][0]
    assert first["operation_id"] == ticket
    assert (first["kind"], first["amount"], first["balance"]) == ("deposit", "1234.56", "1234.56")
    assert (first["comment"], first["dialect"], first["manager_login"]) == (
        "crm deposit", "mt5", 1005,
    )  # fmt: skip
    account = mt5.ok(mt5.get("deal/get", ticket=ticket))
    assert account["Profit"] == first["amount"]


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
        "Deal": str(ticket), "ExternalID": "", "Login": str(login), "Dealer": "1005",
        "Action": "2", "Reason": "2", "DigitsCurrency": "2",
        "Time": str(int(at.timestamp())), "TimeMsc": str(int(at.timestamp() * 1000)),
        "Symbol": "", "Profit": "1000.00", "ProfitRaw": "1000.00", "Comment": "onlinedeposit",
        "Gateway": "", "ApiData": EMPTY_API_DATA, "OrigTime": str(int(at.timestamp())),
    }  # fmt: skip


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
    ("history/get_page", {"from": 0, "to": 2**31, "offset": 0, "total": 100},
     {"retcode": DONE, "answer": []}),
]  # fmt: skip


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

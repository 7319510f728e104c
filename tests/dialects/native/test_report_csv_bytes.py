"""The CSV inventory report byte for byte: what it streams is exactly what rendering each
listed account with render_account and writing its CSV columns gives, for awkward text,
currencies of 0, 2 and 8 digits, negative figures, deleted and disabled accounts, every filter,
managers of limited reach or without personal data, and page boundaries."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from brokerplane.api.native.accounts import CSV_COLUMNS, render_account
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.account.commands import DeleteAccount, ListAccounts, ReportAccounts
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.clock import Clock
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.kinds import Dialect
from tests.dialects.native.conftest import Api

# The CSV export reads its rows with engine-specific SQL (storage/repositories/exports.py): both
# engines.
pytestmark = pytest.mark.engines("sqlite", "postgres")

START = datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)  # whole seconds: ISO text without a fraction
EVERY = frozenset(SCOPES)
WORKER = EVERY - {"admin"}
AWKWARD: list[dict[str, Any]] = [
    {
        "name": "Zoë Ångström-Øre",
        "first_name": "Zoë",
        "last_name": "Ångström",
        "city": "Zürich",
        "country": "Switzerland",
        "email": "zoe@example.com",
    },
    {"name": 'Smith, "Bob"', "comment": 'says "hi", then leaves', "company": "A, B & C"},
    {"name": "王小明", "address": "line one\nline two", "state": "\r\n", "lead_source": "'"},
    {"name": "🚀 Rocket", "zip_code": "  ", "lead_campaign": ",", "phone": "+1 (555) 010"},
    {"name": "Tab\tand\\backslash", "comment": '"', "agent": 9_000_000_000_000},
    {"name": "plain"},  # every optional field empty
    # text a spreadsheet would run as a formula, and a carriage return that would split the row
    {
        "name": '=HYPERLINK("http://x")',
        "comment": "@SUM(A1)",
        "company": "-2+3+cmd|'!A0",
        "city": "\t=1",
        "address": "\r=1",
        "state": "x\r=1",
        "lead_source": "-5",
        "lead_campaign": "+",
        "zip_code": "-",
        "email": "=a@example.com",
    },
]
# What the report writes as numbers (or times); every other column is text a client typed.
NOT_TEXT = {
    "login",
    "leverage",
    "balance",
    "credit",
    "bonus",
    "enabled",
    "rights",
    "agent",
    "registered_at",
    "updated_at",
}


@dataclass
class Seat:
    """A manager's key and the Actor the native API builds for it."""

    key: str
    actor: Actor


def _seat(api: Api, login: int, scopes: frozenset[str], mask: str = "*", labels: str = "*") -> Seat:
    services = api.runtime.app
    services.create_manager(
        CreateManager(
            login,
            f"Manager {login}",
            "Manag3r!pw",
            rights=scopes,
            group_mask=mask,
            white_labels=labels,
        ),
        api.admin,
    )
    key = services.create_api_key(CreateApiKey(login, scopes), api.admin)
    actor = Actor(
        manager_login=login,
        scopes=scopes,
        key_id=key.key.id,
        group_mask=mask,
        white_labels=labels,
        dialect=Dialect.NATIVE,
    )
    return Seat(key.secret, actor)


def _at(moment: datetime) -> Clock:
    return lambda: moment


@pytest.fixture
def seats(api: Api) -> dict[str, Seat]:
    return make_seats(api, AWKWARD)


def make_seats(api: Api, profiles: list[dict[str, Any]]) -> dict[str, Seat]:
    """Accounts with `profiles` (three times over) in groups of every currency's digits, some
    with deposits, odd figures, disabled or deleted; and the managers reading them."""
    services = api.runtime.app
    made: list[tuple[str, str, dict[str, Any]]] = [
        ("demo\\jpy", "JPY", {}),
        ("demo\\btc", "BTC", {}),
        ("demo\\odd", "XYZ", {"currency_digits": 5}),
        ("real\\eur", "EUR", {}),
    ]
    for name, currency, settings in made:
        services.create_group(CreateGroup(name, currency, settings), api.admin)
    groups = [
        "demo-usd",
        "demo-eur",
        "demo\\vip",
        "demo\\jpy",
        "demo\\btc",
        "demo\\odd",
        "real\\eur",
    ]
    brokers = ["", "brand-a", "Brand-B", 'brand-a, "quoted"']
    login = 820_000
    for number, profile in enumerate(profiles * 3):
        login += 1
        # Times with and without microseconds, a day apart, so time filters cut the list.
        services.clock = _at(START + timedelta(days=number, microseconds=7 * (number % 2)))
        group = groups[number % len(groups)]
        api.open(
            login=login, group=group, leverage=1 + number, broker=brokers[number % 4], **profile
        )
        if number % 3 == 0:
            amount = {
                "demo\\jpy": "1234567",
                "demo\\btc": "0.00000001",
                "demo\\odd": "12.34567",
            }.get(group, "1000.5")
            done = api.post("/v1/balances/deposit", {"login": login, "amount": amount})
            assert done.status_code == 200, done.text
    services.clock = _at(START + timedelta(days=40, microseconds=123_456))
    # Figures only trading or corrections of old data produce: negative, huge, tiny.
    with api.runtime.storage.uow() as uow:
        uow.accounts.set_figures(820_002, -1_050, -1, 0, START)
        uow.accounts.set_figures(
            820_003,
            9_223_372_036_854_775_807,
            5,
            -9_223_372_036_854_775_807,
            START + timedelta(microseconds=1),
        )
        uow.commit()
    assert api.post("/v1/users/820004/disable", {"reason": "fraud"}).status_code == 200
    services.delete_account(DeleteAccount(820_005), api.admin)
    return {
        "admin": Seat(
            api.admin_key, Actor(manager_login=1000, scopes=EVERY, dialect=Dialect.NATIVE)
        ),
        "demo": _seat(api, 1101, WORKER, "demo*,!demo\\vip"),
        "plain": _seat(api, 1102, WORKER - {"personal_data"}, "demo*"),
        "brand": _seat(api, 1103, frozenset({"reports:read", "personal_data"}), "*", "brand-a*"),
        "nothing": _seat(api, 1104, frozenset({"reports:read"}), "nowhere\\*"),
    }


def _safe(column: str, value: Any) -> Any:
    """A text cell starting like a formula, unless it is a plain number, gets a leading '."""
    if column in NOT_TEXT or not isinstance(value, str):
        return value
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not re.fullmatch(r"-?\d+(\.\d+)?", value):
        return "'" + value
    return value


def _expected(api: Api, actor: Actor, cmd: ListAccounts) -> bytes:
    """The report as it was written from Account objects: render_account per listed account,
    text made safe for spreadsheets, a row holding a carriage return quoted throughout."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    quoted = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_COLUMNS)
    for acc in api.runtime.app.iter_accounts(ReportAccounts.of(cmd), actor):
        data = render_account(acc)
        row = [_safe(c, data[c]) if data[c] is not None else "" for c in CSV_COLUMNS]
        cr = any(isinstance(cell, str) and "\r" in cell for cell in row)
        (quoted if cr else writer).writerow(row)
    return buf.getvalue().encode("utf-8")


QUERIES: list[tuple[dict[str, Any], ListAccounts]] = [
    ({}, ListAccounts()),
    ({"group": "demo\\*,!demo\\btc"}, ListAccounts(group_mask="demo\\*,!demo\\btc")),
    ({"group": "DEMO-*"}, ListAccounts(group_mask="DEMO-*")),
    ({"email": "ZOE@example.com"}, ListAccounts(email="ZOE@example.com")),
    (
        {"logins": "820001,820005,820007,820018,1"},
        ListAccounts(logins=(820001, 820005, 820007, 820018, 1)),
    ),
    (
        {
            "registered_from": (START + timedelta(days=3)).isoformat(),
            "registered_to": (START + timedelta(days=11, microseconds=7)).isoformat(),
        },
        ListAccounts(
            registered_from=START + timedelta(days=3),
            registered_to=START + timedelta(days=11, microseconds=7),
        ),
    ),
    ({"cursor": None, "limit": 1}, ListAccounts(after_login=820_006)),  # cursor set below
]


def _params(api: Api, params: dict[str, Any]) -> dict[str, Any]:
    if "cursor" in params:  # the next_cursor the JSON report gives after 820006
        page = api.get("/v1/reports/users", params={"logins": "820006", "limit": 1}).json()
        params = {**params, "cursor": page["next_cursor"]}
    return {"format": "csv", **params}


@pytest.mark.parametrize("query", range(len(QUERIES)), ids=lambda i: f"query{i}")
def test_csv_bytes_match_render_account(api: Api, seats: dict[str, Seat], query: int) -> None:
    params, cmd = QUERIES[query]
    for who, seat in seats.items():
        if cmd.email and not seat.actor.has("personal_data"):
            continue  # searching by email needs personal_data (a refusal, tested below)
        response = api.get("/v1/reports/users", key=seat.key, params=_params(api, params))

        assert response.status_code == 200, (who, response.text)
        assert response.content == _expected(api, seat.actor, cmd), who


def test_the_fixture_covers_what_it_says(api: Api, seats: dict[str, Seat]) -> None:
    text = _expected(api, seats["admin"].actor, ListAccounts()).decode()
    rows = {r["login"]: r for r in csv.DictReader(io.StringIO(text))}
    assert "820005" not in rows and len(rows) == 20  # the deleted account is left out
    assert rows["820002"]["balance"] == "-10.50" and rows["820002"]["credit"] == "-0.01"
    assert rows["820003"]["bonus"] == "-92233720368547758.07"
    assert {rows[n]["currency"] for n in rows} == {"USD", "EUR", "JPY", "BTC", "XYZ"}
    assert rows["820004"]["enabled"] == "False" and rows["820001"]["enabled"] == "True"
    assert rows["820003"]["address"] == "line one\nline two"
    formulas = rows["820007"]  # text a spreadsheet would run is written as text, in one row
    assert (formulas["name"], formulas["comment"]) == ('\'=HYPERLINK("http://x")', "'@SUM(A1)")
    assert (formulas["city"], formulas["address"]) == ("'\t=1", "'\r=1")
    assert (formulas["state"], formulas["lead_source"], formulas["zip_code"]) == (
        "x\r=1",
        "-5",
        "'-",
    )
    assert rows["820001"]["registered_at"] == "2031-02-03T04:05:06Z"
    assert rows["820002"]["registered_at"] == "2031-02-04T04:05:06.000007Z"
    assert rows["820003"]["updated_at"] == "2031-02-03T04:05:06.000001Z"
    plain = _expected(api, seats["plain"].actor, ListAccounts()).decode()
    assert "zoe@example.com" not in plain and "Zürich" not in plain and "Zoë" in plain


@pytest.mark.parametrize("page", [1, 2, 3, 17])
def test_csv_bytes_match_across_page_boundaries(
    api: Api, seats: dict[str, Seat], monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    monkeypatch.setattr("brokerplane.core.account.service.EXPORT_PAGE", page)
    for who in ("admin", "demo"):
        response = api.get("/v1/reports/users", key=seats[who].key, params={"format": "csv"})
        assert response.content == _expected(api, seats[who].actor, ListAccounts())


def test_refusals_are_clean_errors_before_any_row(api: Api, seats: dict[str, Seat]) -> None:
    plain = seats["plain"].key
    by_email = api.get("/v1/reports/users", key=plain, params={"format": "csv", "email": "a@b.co"})
    assert by_email.status_code == 403
    bad_login = api.get("/v1/reports/users", params={"format": "csv", "logins": "0"})
    assert bad_login.status_code == 400
    no_scope = api.get("/v1/reports/users", key=api.key("users:read"), params={"format": "csv"})
    assert no_scope.status_code == 403
    for response in (by_email, bad_login, no_scope):
        assert response.headers["content-type"].startswith("application/problem+json")

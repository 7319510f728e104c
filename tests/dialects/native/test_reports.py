"""The account inventory report: JSON pages and a streamed CSV for CRM sync."""

from __future__ import annotations

import csv
import io

import pytest

from tests.dialects.native.conftest import Api

# The reports read with engine-specific SQL (storage/repositories/exports.py): both engines.
pytestmark = pytest.mark.engines("sqlite", "postgres")


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_by_accept_header_lists_every_account_with_its_money(api: Api) -> None:
    api.open(login=810001, email="a@example.com", name="Alice")
    api.open(login=810002, group="demo-eur", name="Bob")
    response = api.get("/v1/reports/users", headers={"Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = _rows(response.text)
    assert [(r["login"], r["name"], r["currency"], r["balance"]) for r in rows] == [
        ("810001", "Alice", "USD", "0.00"),
        ("810002", "Bob", "EUR", "0.00"),
    ]
    assert rows[0]["email"] == "a@example.com" and rows[0]["enabled"] == "True"


def test_csv_by_format_parameter_and_filters(api: Api) -> None:
    api.open(login=810001)
    api.open(login=810002, group="demo-eur")
    response = api.get("/mt4/manager/reports/users", params={"format": "csv", "group": "demo-eur"})
    assert [r["login"] for r in _rows(response.text)] == ["810002"]


def test_csv_streams_across_pages_without_losing_or_repeating_rows(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("brokerplane.core.account.service.MAX_PAGE", 3)
    monkeypatch.setattr("brokerplane.core.account.service.EXPORT_PAGE", 3)
    logins = sorted(api.open()["login"] for _ in range(8))
    rows = _rows(api.get("/v1/reports/users?format=csv").text)
    assert [int(r["login"]) for r in rows] == logins


def test_an_empty_inventory_is_a_header_only_csv(api: Api) -> None:
    text = api.get("/v1/reports/users?format=csv").text
    assert text.splitlines()[0].startswith("login,group,name")
    assert len(text.splitlines()) == 1


def test_json_report_pages_like_the_user_list(api: Api) -> None:
    for login in (810001, 810002, 810003):
        api.open(login=login)
    first = api.get("/v1/reports/users?limit=2").json()
    assert [i["login"] for i in first["items"]] == [810001, 810002]
    rest = api.get(f"/v1/reports/users?limit=2&cursor={first['next_cursor']}").json()
    assert [i["login"] for i in rest["items"]] == [810003] and rest["next_cursor"] is None


@pytest.mark.engines("sqlite")  # refused before any SQL: translation
def test_an_unknown_report_format_is_400(api: Api) -> None:
    assert api.get("/v1/reports/users?format=xml").status_code == 400

"""The CSV inventory report written by the database (PostgreSQL's `COPY ... CSV`, SQLite's
finished cells through csv.writer: storage/sql/csvcells.py) byte for byte as the rows formatted
in Python write it: pages without a carriage return (PostgreSQL: or a line break) in a cell take
that path, and must not tell. The same text as test_report_csv_bytes,
less those two characters, plus the formula cases (`;` before a formula character, numbers)."""

from __future__ import annotations

from typing import Any

import pytest

from brokerplane.core.account.model import CsvPage
from brokerplane.storage.repositories.exports import SqlExports
from tests.dialects.native.conftest import Api
from tests.dialects.native.test_report_csv_bytes import (
    AWKWARD,
    QUERIES,
    Seat,
    _expected,
    _params,
    make_seats,
)

pytestmark = pytest.mark.engines("sqlite", "postgres")

FORMULAS: list[dict[str, Any]] = [
    {
        "name": "a;=9+9",
        "comment": 'x;"=1',
        "company": "-12.50",
        "city": "-1.",
        "state": "--",
        "address": "1;2",
        "lead_source": ";",
        "lead_campaign": ";@",
        "zip_code": "-0",
        "email": "a;+b@example.com",
        "phone": "+",
    },
    {"name": "é;\t=1", "comment": "\\.", "company": '"', "city": "'=", "address": ";;-"},
]
# `_expected` (test_report_csv_bytes) knows the leading-character rule only, not the `;` one.
FORMULAS_ONLY_IN_PYTHON = {";"}
# No carriage return or line break in a cell: every page is written by the database.
PROFILES = [
    {k: v.replace("\r", "").replace("\n", " ") if isinstance(v, str) else v for k, v in p.items()}
    for p in AWKWARD
] + FORMULAS


@pytest.fixture
def written(
    api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Seat], list[str]]:
    """The seats over PROFILES, and a record of how each export page was read; with "off" in
    the record, the database writes nothing (the rows formatted in Python: the reference)."""
    seen: list[str] = []
    real = SqlExports.account_csv

    def spy(self: SqlExports, *args: Any, **kwargs: Any) -> CsvPage | None:
        page = None if "off" in seen else real(self, *args, **kwargs)
        seen.append("rows" if page is None else "csv")
        return page

    monkeypatch.setattr(SqlExports, "account_csv", spy)
    return make_seats(api, PROFILES), seen


def _in_python(api: Api, seen: list[str], key: str, params: dict[str, Any]) -> bytes:
    """The report as the rows formatted in Python write it (the database writing nothing)."""
    seen[:] = ["off"]
    try:
        response = api.get("/v1/reports/users", key=key, params=params)
    finally:
        seen.clear()
    assert response.status_code == 200, response.text
    content: bytes = response.content
    return content


def _engine_writes(database_url: str) -> str:
    return "csv"  # both engines write these pages


@pytest.mark.parametrize("query", range(len(QUERIES)), ids=lambda i: f"query{i}")
def test_database_written_csv_matches(
    api: Api, written: tuple[dict[str, Seat], list[str]], database_url: str, query: int
) -> None:
    seats, seen = written
    params, cmd = QUERIES[query]
    for who, seat in seats.items():
        if cmd.email and not seat.actor.has("personal_data"):
            continue
        sent = _params(api, params)
        expected = _in_python(api, seen, seat.key, sent)
        response = api.get("/v1/reports/users", key=seat.key, params=sent)
        assert response.status_code == 200, (who, response.text)
        assert response.content == expected, who
        assert set(seen) <= {_engine_writes(database_url)}, who
        if not FORMULAS_ONLY_IN_PYTHON.intersection(expected.decode()):  # the plain reference
            assert response.content == _expected(api, seat.actor, cmd), who


@pytest.mark.parametrize("page", [1, 2, 7])
def test_database_written_pages_join_up(
    api: Api,
    written: tuple[dict[str, Seat], list[str]],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    page: int,
) -> None:
    seats, seen = written
    monkeypatch.setattr("brokerplane.core.account.service.EXPORT_PAGE", page)
    monkeypatch.setattr("brokerplane.core.account.service.EXPORT_CSV_PAGE", page + 1)
    for who in ("admin", "demo", "plain"):
        expected = _in_python(api, seen, seats[who].key, {"format": "csv"})
        response = api.get("/v1/reports/users", key=seats[who].key, params={"format": "csv"})
        assert response.content == expected, who
        assert set(seen) == {_engine_writes(database_url)}


def test_a_page_with_a_line_break_keeps_its_bytes(
    api: Api, written: tuple[dict[str, Seat], list[str]], database_url: str
) -> None:
    """PostgreSQL's COPY pages fall back to rows; SQLite writes such a row's line itself
    (every cell quoted, as the users CSV writes a row holding a carriage return)."""
    seats, seen = written
    api.open(login=829_999, group="demo-usd", address="one\ntwo", state="x\r=1")
    expected = _in_python(api, seen, seats["admin"].key, {"format": "csv"})
    response = api.get("/v1/reports/users", params={"format": "csv"})
    assert response.content == expected
    assert b'"829999",' in response.content
    assert seen[-1] == ("csv" if database_url.startswith("sqlite") else "rows")

"""Native balance operations and ledger history, through real HTTP on both engines."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from brokerplane.api.native.money import HISTORY_COLUMNS
from tests.dialects.native.conftest import Api

LOGIN = 910024


def _post(api: Api, op: str, amount: Any, login: int = LOGIN, **body: Any) -> Any:
    return api.post(f"/v1/balances/{op}", {"login": login, "amount": amount, **body})


def _ok(api: Api, op: str, amount: Any, login: int = LOGIN, **body: Any) -> dict[str, Any]:
    response = _post(api, op, amount, login, **body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _figures(api: Api, login: int = LOGIN) -> tuple[str, str, str]:
    acc = api.get(f"/v1/users/{login}").json()
    return acc["balance"], acc["credit"], acc["bonus"]


def _history(api: Api, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/v1/balances/history", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


@pytest.fixture
def account(api: Api) -> int:
    return int(api.open(login=LOGIN)["login"])


# ---- each operation: its answer and the figures after -----------------------------------------


def test_a_deposit_adds_to_the_balance_and_answers_the_applied_entry(
    api: Api, account: int
) -> None:
    body = _ok(api, "deposit", "100.5", comment="card", reference="crm-1")
    assert body == {
        "operation_id": body["operation_id"],
        "approval_id": None,
        "login": LOGIN,
        "kind": "deposit",
        "amount": "100.50",
        "balance": "100.50",
        "credit": "0.00",
        "bonus": "0.00",
        "currency": "USD",
        "status": "applied",
        "comment": "card",
        "reference": "crm-1",
    }
    assert isinstance(body["operation_id"], int)
    assert _figures(api) == ("100.50", "0.00", "0.00")


def test_a_json_number_amount_is_taken_as_its_decimal(api: Api, account: int) -> None:
    assert _ok(api, "deposit", 12.1)["amount"] == "12.10"
    assert _ok(api, "deposit", 3)["balance"] == "15.10"


def test_a_withdrawal_takes_from_the_balance_and_is_signed_negative(api: Api, account: int) -> None:
    _ok(api, "deposit", "100")
    body = _ok(api, "withdraw", "30.25")
    assert (body["kind"], body["amount"], body["balance"]) == ("withdrawal", "-30.25", "69.75")
    assert _figures(api) == ("69.75", "0.00", "0.00")


def test_credit_in_and_out_move_only_the_credit(api: Api, account: int) -> None:
    given = _ok(api, "credit", "50")
    assert (given["kind"], given["amount"], given["credit"]) == ("credit_in", "50.00", "50.00")
    taken = _ok(api, "credit", "-20")
    assert (taken["kind"], taken["amount"], taken["credit"]) == ("credit_out", "-20.00", "30.00")
    assert _figures(api) == ("0.00", "30.00", "0.00")


def test_bonus_in_and_out_move_only_the_bonus(api: Api, account: int) -> None:
    given = _ok(api, "bonus", "40")
    assert (given["kind"], given["amount"], given["bonus"]) == ("bonus_in", "40.00", "40.00")
    taken = _ok(api, "bonus", "-15.5")
    assert (taken["kind"], taken["amount"], taken["bonus"]) == ("bonus_out", "-15.50", "24.50")
    assert _figures(api) == ("0.00", "0.00", "24.50")


def test_a_correction_is_a_signed_balance_adjustment(api: Api, account: int) -> None:
    up = _ok(api, "correction", "10")
    assert (up["kind"], up["amount"], up["balance"]) == ("correction", "10.00", "10.00")
    down = _ok(api, "correction", "-2.5")
    assert (down["kind"], down["amount"], down["balance"]) == ("correction", "-2.50", "7.50")
    assert _figures(api) == ("7.50", "0.00", "0.00")


def test_a_charge_takes_a_fee_from_the_balance(api: Api, account: int) -> None:
    _ok(api, "deposit", "10")
    body = _ok(api, "charge", "1.99")
    assert (body["kind"], body["amount"], body["balance"]) == ("charge", "-1.99", "8.01")
    assert _figures(api) == ("8.01", "0.00", "0.00")


def test_every_answer_shows_all_three_figures_after_the_operation(api: Api, account: int) -> None:
    _ok(api, "deposit", "100")
    _ok(api, "credit", "20")
    body = _ok(api, "bonus", "5")
    assert (body["balance"], body["credit"], body["bonus"]) == ("100.00", "20.00", "5.00")


def test_an_eur_account_answers_in_eur(api: Api) -> None:
    login = api.open(login=910030, group="demo-eur")["login"]
    body = _ok(api, "deposit", "7", login=login)
    assert (body["currency"], body["amount"], body["balance"]) == ("EUR", "7.00", "7.00")
    assert _history(api, login=login)[0]["currency"] == "EUR"


def test_a_jpy_account_has_no_decimals(api: Api) -> None:
    created = api.post("/v1/groups", {"name": "demo-jpy", "currency": "JPY"})
    assert created.status_code == 201, created.text
    login = api.open(login=910031, group="demo-jpy")["login"]
    body = _ok(api, "deposit", "1500", login=login)
    assert (body["currency"], body["amount"], body["balance"]) == ("JPY", "1500", "1500")
    refused = _post(api, "deposit", "1.5", login=login)
    assert refused.status_code == 400 and _fields(refused) == ["amount"]
    assert _figures(api, login)[0] == "1500"


def test_a_three_digit_currency_keeps_three_decimals(api: Api) -> None:
    body = {"name": "demo-kwd", "currency": "KWD", "currency_digits": 3}
    assert api.post("/v1/groups", body).status_code == 201
    login = api.open(login=910032, group="demo-kwd")["login"]
    answer = _ok(api, "deposit", "1.234", login=login)
    assert (answer["amount"], answer["balance"]) == ("1.234", "1.234")
    assert _ok(api, "withdraw", "0.2", login=login)["balance"] == "1.034"
    assert _post(api, "deposit", "0.0001", login=login).status_code == 400


# ---- the rules --------------------------------------------------------------------------------


def test_a_withdrawal_may_empty_the_balance_but_never_go_below_zero(api: Api, account: int) -> None:
    _ok(api, "deposit", "50")
    refused = _post(api, "withdraw", "50.01")
    assert refused.status_code == 400
    problem = refused.json()
    assert (problem["title"], problem["code"]) == ("ValidationError", "ledger.insufficient_funds")
    assert _fields(refused) == ["amount"] and problem["available"] == "50.00"
    assert _figures(api) == ("50.00", "0.00", "0.00")
    assert _ok(api, "withdraw", "50")["balance"] == "0.00"


@pytest.mark.parametrize(
    ("op", "amount", "figure"),
    [
        ("credit", "-10.01", "credit"),
        ("bonus", "-10.01", "bonus"),
        ("charge", "1000.01", "balance"),
        ("correction", "-1000.01", "balance"),
    ],
)
def test_nothing_may_take_more_than_the_figure_it_moves_holds(
    api: Api, account: int, op: str, amount: str, figure: str
) -> None:
    _ok(api, "deposit", "1000")
    _ok(api, "credit", "10")
    _ok(api, "bonus", "10")
    refused = _post(api, op, amount)
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "ledger.insufficient_funds"
    assert refused.json()["figure"] == figure
    assert _figures(api) == ("1000.00", "10.00", "10.00")
    assert len(_history(api)) == 3


def test_credit_out_is_refused_beyond_the_credit_even_when_the_balance_covers_it(
    api: Api, account: int
) -> None:
    _ok(api, "deposit", "1000")
    _ok(api, "credit", "5")
    assert _post(api, "credit", "-6").status_code == 400
    assert _ok(api, "credit", "-5")["credit"] == "0.00"


def test_an_unknown_login_is_404_not_found(api: Api) -> None:
    response = _post(api, "deposit", "10", login=999999)
    assert response.status_code == 404
    assert (response.json()["title"], response.json()["code"]) == ("NotFound", "account.not_found")
    assert _history(api) == []


def test_a_disabled_account_still_accepts_deposits_and_withdrawals(api: Api, account: int) -> None:
    assert api.post(f"/v1/users/{LOGIN}/disable", {"reason": "kyc"}).status_code == 200
    assert _ok(api, "deposit", "25")["balance"] == "25.00"
    assert _ok(api, "withdraw", "5")["balance"] == "20.00"
    assert api.get(f"/v1/users/{LOGIN}").json()["enabled"] is False


def test_the_default_per_operation_maximum_is_one_hundred_million(api: Api, account: int) -> None:
    assert _ok(api, "deposit", "100000000")["balance"] == "100000000.00"
    refused = _post(api, "deposit", "100000000.01")
    assert refused.status_code == 400
    assert refused.json()["code"] == "ledger.amount_limit" and _fields(refused) == ["amount"]
    assert _post(api, "correction", "-100000000.01").status_code == 400
    assert _figures(api)[0] == "100000000.00"


def test_the_per_operation_maximum_follows_the_configuration(api: Api, account: int) -> None:
    services = api.runtime.app
    services.config = replace(services.config, max_operation_amount=Decimal("500"))
    assert _ok(api, "deposit", "500")["balance"] == "500.00"
    for op, amount in (("deposit", "500.01"), ("withdraw", "501"), ("credit", "-600")):
        refused = _post(api, op, amount)
        assert refused.status_code == 400 and _fields(refused) == ["amount"], (op, refused.text)
        assert "500.00 USD" in refused.json()["errors"][0]["message"]
    assert _figures(api) == ("500.00", "0.00", "0.00")


# ---- bad input: 400 naming the field, nothing applied -----------------------------------------

LONG_COMMENT = "c" * 256
LONG_REFERENCE = "r" * 128
BAD_BODIES = [
    ("deposit", {"login": LOGIN, "amount": "-5"}, "amount"),
    ("deposit", {"login": LOGIN, "amount": -5}, "amount"),
    ("deposit", {"login": LOGIN, "amount": "0"}, "amount"),
    ("credit", {"login": LOGIN, "amount": "0"}, "amount"),
    ("correction", {"login": LOGIN, "amount": 0}, "amount"),
    ("deposit", {"login": LOGIN, "amount": "1.001"}, "amount"),
    ("deposit", {"login": LOGIN, "amount": 0.001}, "amount"),
    ("deposit", {"login": LOGIN, "amount": "ten"}, "amount"),
    ("deposit", {"login": LOGIN, "amount": "NaN"}, "amount"),
    ("deposit", {"login": LOGIN, "amount": "Infinity"}, "amount"),
    ("deposit", {"login": LOGIN, "amount": "-Infinity"}, "amount"),
    ("deposit", {"login": LOGIN, "amount": True}, "amount"),
    ("deposit", {"login": LOGIN, "amount": None}, "amount"),
    ("deposit", {"login": LOGIN, "amount": ["10"]}, "amount"),
    ("deposit", {"login": LOGIN}, "amount"),
    ("deposit", {"amount": "10"}, "login"),
    ("deposit", {"login": str(LOGIN), "amount": "10"}, "login"),
    ("deposit", {"login": 0, "amount": "10"}, "login"),
    ("deposit", {"login": LOGIN, "amount": "10", "comment": LONG_COMMENT}, "comment"),
    ("deposit", {"login": LOGIN, "amount": "10", "reference": LONG_REFERENCE}, "reference"),
    ("deposit", {"login": LOGIN, "amount": "10", "currency": "USD"}, "currency"),
    ("deposit", [{"login": LOGIN, "amount": "10"}], "body"),
]


BAD_IDS = [f"{op}-{i}-{field}" for i, (op, _, field) in enumerate(BAD_BODIES)]


@pytest.mark.parametrize(("op", "body", "field"), BAD_BODIES, ids=BAD_IDS)
def test_bad_input_is_a_400_naming_the_field_and_applies_nothing(
    api: Api, account: int, op: str, body: Any, field: str
) -> None:
    response = api.post(f"/v1/balances/{op}", body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["title"] == "ValidationError"
    assert _fields(response) == [field], response.text
    assert _figures(api) == ("0.00", "0.00", "0.00")
    assert _history(api) == []


@pytest.mark.parametrize(
    "raw",
    [b'{"login": 910024, "amount": ', b"not json", b""],
    ids=["truncated", "garbage", "empty"],
)
def test_a_body_that_is_not_usable_json_is_a_400_and_applies_nothing(
    api: Api, account: int, raw: bytes
) -> None:
    response = api.client.post(
        "/v1/balances/deposit",
        content=raw,
        headers={**api.headers(), "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert _fields(response) == ["body"], response.text
    assert _figures(api) == ("0.00", "0.00", "0.00")
    assert _history(api) == []


@pytest.mark.parametrize("amount", [b"1e400", b"-1e400", b"Infinity", b"NaN"])
def test_a_json_number_beyond_a_float_is_a_400_naming_the_amount(
    api: Api, account: int, amount: bytes
) -> None:
    response = api.client.post(
        "/v1/balances/deposit",
        content=b'{"login": 910024, "amount": ' + amount + b"}",
        headers={**api.headers(), "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert (response.json()["code"], _fields(response)) == ("validation.amount", ["amount"])
    assert _history(api) == []


def test_amount_strings_with_underscores_or_non_ascii_digits_are_refused(
    api: Api, account: int
) -> None:
    for amount in ("1_000", "\u0661\u0660\u0660", "\uff11\uff10\uff10"):
        response = _post(api, "deposit", amount)
        assert response.status_code == 400, (amount, response.text)
        assert _fields(response) == ["amount"]
    assert _history(api) == []


# ---- scopes -----------------------------------------------------------------------------------

OPERATIONS = ["deposit", "withdraw", "credit", "bonus", "correction", "charge"]


@pytest.mark.parametrize("op", OPERATIONS)
def test_every_balance_write_needs_balances_write(api: Api, account: int, op: str) -> None:
    key = api.key("users:read", "users:write", "reports:read", "balances:approve")
    response = api.post(f"/v1/balances/{op}", {"login": LOGIN, "amount": "1"}, key=key)
    assert response.status_code == 403
    assert response.json()["title"] == "PermissionDenied"
    assert _history(api) == []


def test_a_key_with_only_balances_write_may_move_money(api: Api, account: int) -> None:
    key = api.key("balances:write")
    response = api.post("/v1/balances/deposit", {"login": LOGIN, "amount": "1"}, key=key)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("scopes", "status"),
    [(("balances:write",), 200), (("reports:read",), 200), (("users:read", "users:write"), 403)],
)
def test_history_needs_balances_write_or_reports_read(
    api: Api, account: int, scopes: tuple[str, ...], status: int
) -> None:
    _ok(api, "deposit", "1")
    response = api.get("/v1/balances/history", key=api.key(*scopes))
    assert response.status_code == status
    csv_response = api.get("/v1/balances/history?format=csv", key=api.key(*scopes))
    assert csv_response.status_code == status


# ---- history ----------------------------------------------------------------------------------


def test_history_lists_each_entry_with_its_figures_after_and_who_made_it(
    api: Api, account: int
) -> None:
    first = _ok(api, "deposit", "100", comment="card", reference="crm-1")
    api.post(
        "/v1/balances/withdraw",
        {"login": LOGIN, "amount": "40"},
        headers={"x-operator-id": "ops-7", "x-request-id": "req-w1"},
    )
    items = _history(api, login=LOGIN)
    assert [(i["kind"], i["amount"], i["balance"]) for i in items] == [
        ("deposit", "100.00", "100.00"),
        ("withdrawal", "-40.00", "60.00"),
    ]
    head, tail = items
    assert head["operation_id"] == first["operation_id"]
    assert (head["comment"], head["reference"], head["currency"]) == ("card", "crm-1", "USD")
    assert (head["manager_login"], head["dialect"], head["approval_id"]) == (1000, "native", None)
    assert (tail["operator_id"], tail["request_id"]) == ("ops-7", "req-w1")
    assert tail["time"].endswith("Z") and tail["approved_by"] is None


def test_history_filters_by_login(api: Api, account: int) -> None:
    other = api.open(login=910025)["login"]
    _ok(api, "deposit", "1")
    _ok(api, "deposit", "2", login=other)
    assert [i["login"] for i in _history(api, login=other)] == [other]
    assert len(_history(api)) == 2


def test_history_filters_by_a_comma_list_of_kinds(api: Api, account: int) -> None:
    _ok(api, "deposit", "100")
    _ok(api, "withdraw", "1")
    _ok(api, "credit", "5")
    _ok(api, "charge", "2")
    kinds = [i["kind"] for i in _history(api, kind="withdrawal,charge")]
    assert kinds == ["withdrawal", "charge"]
    assert [i["kind"] for i in _history(api, kind="credit_in")] == ["credit_in"]


def test_history_filters_by_time_range_with_an_exclusive_end(api: Api, account: int) -> None:
    for amount in ("1", "2", "3"):
        _ok(api, "deposit", amount)
    times = [i["time"] for i in _history(api)]
    assert len(set(times)) == 3
    assert [i["amount"] for i in _history(api, **{"from": times[1]})] == ["2.00", "3.00"]
    assert [i["amount"] for i in _history(api, to=times[1])] == ["1.00"]
    window = _history(api, **{"from": times[1], "to": times[2]})
    assert [i["amount"] for i in window] == ["2.00"]


def test_history_filters_by_reference(api: Api, account: int) -> None:
    _ok(api, "deposit", "1", reference="crm-1")
    _ok(api, "deposit", "2", reference="crm-2")
    assert [i["amount"] for i in _history(api, reference="crm-2")] == ["2.00"]
    assert _history(api, reference="crm-3") == []


def test_cursor_paging_gives_every_entry_exactly_once_in_order(api: Api, account: int) -> None:
    made = [_ok(api, "deposit", str(n))["operation_id"] for n in range(1, 8)]
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 3}
    pages = 0
    while True:
        page = api.get("/v1/balances/history", params=params).json()
        seen += [i["operation_id"] for i in page["items"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        params = {"limit": 3, "cursor": page["next_cursor"]}
    assert seen == made and pages == 3


def test_a_csv_by_format_parameter_has_a_header_row_and_every_entry(api: Api, account: int) -> None:
    _ok(api, "deposit", "100", comment='a, quoted "one"', reference="crm-1")
    _ok(api, "withdraw", "0.5")
    response = api.get("/v1/balances/history", params={"format": "csv", "login": LOGIN})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert lines[0] == ",".join(HISTORY_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["kind"], r["amount"], r["balance"], r["currency"]) for r in rows] == [
        ("deposit", "100.00", "100.00", "USD"),
        ("withdrawal", "-0.50", "99.50", "USD"),
    ]
    assert rows[0]["comment"] == 'a, quoted "one"' and rows[0]["reference"] == "crm-1"
    assert rows[0]["manager_login"] == "1000" and rows[0]["approval_id"] == ""


def test_a_csv_by_accept_header_matches_the_json_history(api: Api, account: int) -> None:
    _ok(api, "deposit", "10")
    _ok(api, "bonus", "3")
    response = api.get("/v1/balances/history", headers={"Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected = _history(api)
    assert [int(r["operation_id"]) for r in rows] == [e["operation_id"] for e in expected]
    assert [r["time"] for r in rows] == [e["time"] for e in expected]


def test_an_empty_history_csv_is_only_the_header(api: Api, account: int) -> None:
    text = api.get("/v1/balances/history?format=csv").text
    assert text.splitlines() == [",".join(HISTORY_COLUMNS)]


def test_the_mt4_manager_alias_moves_money_and_reads_history(api: Api, account: int) -> None:
    body = api.post("/mt4/manager/balances/deposit", {"login": LOGIN, "amount": "9"}).json()
    assert body["balance"] == "9.00"
    items = api.get("/mt4/manager/balances/history", params={"login": LOGIN}).json()["items"]
    assert [i["operation_id"] for i in items] == [body["operation_id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "deposit,gift"}, "kind"),
        ({"kind": "credit"}, "kind"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"from": "yesterday"}, "from"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_history_queries_are_400_naming_the_parameter(
    api: Api, account: int, params: dict[str, Any], field: str
) -> None:
    response = api.get("/v1/balances/history", params=params)
    assert response.status_code == 400, response.text
    assert _fields(response) == [field]


def test_history_of_an_unknown_login_is_404(api: Api) -> None:
    response = api.get("/v1/balances/history", params={"login": 999999})
    assert response.status_code == 404 and response.json()["code"] == "account.not_found"


def test_the_largest_page_of_1000_is_allowed(api: Api, account: int) -> None:
    assert api.get("/v1/balances/history", params={"limit": 1000}).status_code == 200

"""Reach and personal data through real HTTP: a second manager limited to `demo\\*` never sees
an account of another group in lists, reads, writes, reports, exports, history, balances or
approvals, and meets each one exactly as a login that does not exist."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.account.model import PERSONAL_FIELDS
from brokerplane.core.actor import SCOPES
from brokerplane.core.group.commands import CreateGroup
from tests.dialects.native.conftest import Api

# Lists, reports, exports, the balance history and approvals filter by reach in SQL of their
# own per engine (storage/sql/conditions.py): those run on both engines (BOTH). One account, one
# approval, groups, thresholds, the audit trail and personal-data redaction are decided by core
# rules in Python: translation, on SQLite only (tests/conftest.py).
BOTH = pytest.mark.engines("sqlite", "postgres")

LIMITED = 1002
INSIDE, VIP = 710_001, 710_002  # demo\usd and demo\vip: within reach
REAL, DASH = 5000, 710_003  # real\standard and demo-usd: out of reach
WITHIN = [INSIDE, VIP]
OUTSIDE = [REAL, DASH]
UNKNOWN = 799_999
CONTACT = {
    "email": "ann@example.com",
    "phone": "+44 20 7946 0000",
    "address": "1 High Street",
    "city": "London",
    "state": "LDN",
    "zip_code": "EC1A 1BB",
    "id_document": "P1234567",
    "bank_account": "GB00BANK0001",
    "mqid": "ABCD1234",
}
WORKER = frozenset(SCOPES) - {"admin"}


@dataclass
class Desk:
    """Manager 1002 (every right but admin, reach `demo\\*`) and its keys."""

    api: Api
    key: str  # every right of the manager, personal_data included
    plain: str  # the same without personal_data

    def get(self, path: str, key: str | None = None, **kw: Any) -> Any:
        return self.api.get(path, key=key or self.key, **kw)

    def post(self, path: str, json: Any = None, key: str | None = None, **kw: Any) -> Any:
        return self.api.post(path, json, key=key or self.key, **kw)

    def patch(self, path: str, json: Any = None, key: str | None = None) -> Any:
        return self.api.patch(path, json, key=key or self.key)


@pytest.fixture
def desk(api: Api) -> Desk:
    services = api.runtime.app
    services.create_group(CreateGroup("demo\\usd", "USD"), api.admin)
    services.create_manager(
        CreateManager(LIMITED, "Demo desk", "Dem0!desk-pw", rights=WORKER, group_mask="demo\\*"),
        api.admin,
    )
    key = services.create_api_key(CreateApiKey(LIMITED, WORKER), api.admin).secret
    plain_scopes = WORKER - {"personal_data"}
    plain = services.create_api_key(CreateApiKey(LIMITED, plain_scopes), api.admin).secret
    for login, group in (
        (INSIDE, "demo\\usd"),
        (VIP, "demo\\vip"),
        (REAL, "real\\standard"),
        (DASH, "demo-usd"),
    ):
        api.open(login=login, group=group, name=f"Client {login}", **CONTACT)
        deposit = api.post("/v1/balances/deposit", {"login": login, "amount": "100"})
        assert deposit.status_code == 200, deposit.text
    return Desk(api, key, plain)


def _problem(response: Any, subject: object) -> dict[str, Any]:
    """A problem document with the subject (login, group, approval id) masked out."""
    body = dict(response.json())
    body.pop("request_id")
    text = str(subject)
    body = {k: ("<subject>" if str(v) == text else v) for k, v in body.items()}
    body["detail"] = body["detail"].replace(text, "<subject>")
    return {"status": response.status_code, **body}


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _logins(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["login"] for item in response.json()["items"]]


def _state(api: Api) -> tuple[list[dict[str, Any]], int]:
    """Every account as the admin reads it, and the audit trail's length."""
    accounts = api.get("/v1/users?limit=1000").json()["items"]
    return accounts, api.runtime.app.verify_audit().records


# --- lists, reports and exports --------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("prefix", ["/v1", "/mt4/manager"])
def test_account_lists_and_reports_show_only_accounts_within_reach(desk: Desk, prefix: str) -> None:
    every = ",".join(str(n) for n in WITHIN + OUTSIDE)

    assert _logins(desk.get(f"{prefix}/users")) == WITHIN
    assert _logins(desk.get(f"{prefix}/users", params={"logins": every})) == WITHIN
    assert _logins(desk.get(f"{prefix}/users", params={"group": "real\\*,demo-usd"})) == []
    assert _logins(desk.get(f"{prefix}/users", params={"group": "*"})) == WITHIN
    assert _logins(desk.get(f"{prefix}/reports/users")) == WITHIN
    first = desk.get(f"{prefix}/reports/users", params={"limit": 1}).json()
    rest = desk.get(f"{prefix}/reports/users", params={"limit": 1, "cursor": first["next_cursor"]})
    assert [i["login"] for i in first["items"]] + _logins(rest) == WITHIN
    assert _logins(desk.api.get(f"{prefix}/users")) == sorted(WITHIN + OUTSIDE)


@BOTH
def test_csv_exports_hold_only_accounts_within_reach(desk: Desk) -> None:
    by_header = desk.get("/v1/reports/users", headers={"Accept": "text/csv"})
    by_format = desk.get("/v1/reports/users", params={"format": "csv"})

    for response in (by_header, by_format):
        assert response.status_code == 200
        assert [int(r["login"]) for r in _rows(response.text)] == WITHIN
    ledger = desk.get("/v1/balances/history", params={"format": "csv"})
    assert ledger.status_code == 200
    assert sorted(int(r["login"]) for r in _rows(ledger.text)) == WITHIN


@BOTH
def test_balance_history_lists_only_entries_of_accounts_within_reach(desk: Desk) -> None:
    assert sorted(_logins(desk.get("/v1/balances/history"))) == WITHIN
    first = desk.get("/v1/balances/history", params={"limit": 1}).json()
    rest = desk.get("/v1/balances/history", params={"cursor": first["next_cursor"]})
    assert [i["login"] for i in first["items"]] + _logins(rest) == WITHIN
    for login in WITHIN:
        assert _logins(desk.get("/v1/balances/history", params={"login": login})) == [login]


def test_groups_out_of_reach_are_not_listed_and_read_as_unknown(desk: Desk) -> None:
    listed = desk.get("/v1/groups")
    assert [g["name"] for g in listed.json()["items"]] == ["demo\\usd", "demo\\vip"]
    filtered = desk.get("/v1/groups", params={"name": "real\\*,*vip"}).json()["items"]
    assert [g["name"] for g in filtered] == ["demo\\vip"]
    unknown = _problem(desk.get("/v1/groups/nope"), "nope")
    for name in ("real\\standard", "demo-usd", "demo-eur"):
        response = desk.get(f"/v1/groups/{quote(name, safe='')}")
        assert _problem(response, name) == unknown
    assert unknown["status"] == 404


# --- one account out of reach ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/users/{login}",
        "/v1/users/{login}/history",
        "/mt4/manager/users/{login}",
        "/v1/balances/history?login={login}",
        "/v1/balances/history?login={login}&format=csv",
    ],
)
def test_reading_an_account_out_of_reach_is_a_404_exactly_like_an_unknown_login(
    desk: Desk, path: str
) -> None:
    unknown = _problem(desk.get(path.format(login=UNKNOWN)), UNKNOWN)

    for login in OUTSIDE:
        assert _problem(desk.get(path.format(login=login)), login) == unknown
    assert (unknown["status"], unknown["title"], unknown["code"]) == (
        404,
        "NotFound",
        "account.not_found",
    )


WRITES = [
    pytest.param("patch", "/v1/users/{login}", {"comment": "mine now"}, id="update"),
    pytest.param("patch", "/v1/users/{login}", {"group": "demo\\usd"}, id="move-in"),
    pytest.param("post", "/v1/users/{login}/disable", {"reason": "x"}, id="disable"),
    pytest.param("post", "/v1/users/{login}/enable", None, id="enable"),
    pytest.param("post", "/v1/balances/deposit", {"amount": "5"}, id="deposit"),
    pytest.param("post", "/v1/balances/withdraw", {"amount": "5"}, id="withdraw"),
    pytest.param("post", "/v1/balances/credit", {"amount": "-5"}, id="credit"),
    pytest.param("post", "/v1/balances/correction", {"amount": "5"}, id="correction"),
    pytest.param("delete", "/v1/users/{login}", None, id="delete"),
    pytest.param(
        "put",
        "/v1/users/{login}/password",
        {"type": "main", "password": "N3w!pass1"},
        id="password",
    ),
    pytest.param(
        "post",
        "/v1/users/{login}/password/check",
        {"type": "main", "password": "N3w!pass1"},
        id="password-check",
    ),
    pytest.param("patch", "/v1/users/{login}", {"main_password": "N3w!pass1"}, id="patch-pw"),
    pytest.param(
        "post", "/v1/balances/transfer", {"amount": "5", "to_login": INSIDE}, id="transfer-out"
    ),
    pytest.param(
        "post", "/v1/balances/transfer", {"amount": "5", "from_login": INSIDE}, id="transfer-in"
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_writing_to_an_account_out_of_reach_is_a_404_like_an_unknown_login_and_changes_nothing(
    desk: Desk, method: str, path: str, body: dict[str, Any] | None
) -> None:
    api = desk.api
    api.post(f"/v1/users/{REAL}/disable", {"reason": "held"})  # so enabling would change it

    def send(login: int, **headers: str) -> Any:
        payload = None if body is None else {**body}
        if payload is not None and path.endswith("/transfer"):
            payload["to_login" if "from_login" in payload else "from_login"] = login
        elif payload is not None and path.startswith("/v1/balances"):
            payload["login"] = login
        return api.client.request(
            method.upper(),
            path.format(login=login),
            json=payload,
            headers={**api.headers(desk.key), **headers},
        )

    unknown = _problem(send(UNKNOWN), UNKNOWN)
    before = _state(api)

    for login in OUTSIDE:
        assert _problem(send(login), login) == unknown
        keyed = send(login, **{"Idempotency-Key": f"try-{login}"})
        assert _problem(keyed, login) == unknown

    assert unknown["status"] == 404 and unknown["code"] == "account.not_found"
    assert _state(api) == before


def test_an_account_cannot_be_opened_in_or_moved_to_a_group_out_of_reach(desk: Desk) -> None:
    api = desk.api

    def open_in(group: str) -> Any:
        return desk.post(
            "/v1/users", {"name": "N", "group": group, "login": 710_100, "leverage": 100}
        )

    unknown_open = _problem(open_in("nope"), "nope")
    unknown_move = _problem(desk.patch(f"/v1/users/{INSIDE}", {"group": "nope"}), "nope")
    before = _state(api)

    for group in ("real\\standard", "demo-usd"):
        moved = desk.patch(f"/v1/users/{INSIDE}", {"group": group})
        assert _problem(open_in(group), group) == unknown_open
        assert _problem(moved, group) == unknown_move

    assert unknown_open["status"] == unknown_move["status"] == 404
    assert unknown_open["code"] == unknown_move["code"] == "group.not_found"
    assert _state(api) == before
    assert open_in("demo\\usd").status_code == 201


def test_accounts_within_reach_are_read_and_written_as_usual(desk: Desk) -> None:
    for login in WITHIN:
        assert desk.get(f"/v1/users/{login}").json()["email"] == CONTACT["email"]
        assert desk.patch(f"/v1/users/{login}", {"comment": "desk"}).json()["comment"] == "desk"
        assert desk.post(f"/v1/users/{login}/disable").json()["enabled"] is False
        assert desk.post(f"/v1/users/{login}/enable").json()["enabled"] is True
        deposit = desk.post("/v1/balances/deposit", {"login": login, "amount": "5"})
        assert deposit.status_code == 200 and deposit.json()["balance"] == "105.00"
        actions = [r["action"] for r in desk.get(f"/v1/users/{login}/history").json()["items"]]
        assert actions[0] == "account.opened" and "account.disabled" in actions
    moved = desk.patch(f"/v1/users/{INSIDE}", {"group": "demo\\vip"})
    assert moved.status_code == 200 and moved.json()["group"] == "demo\\vip"


# --- approvals -------------------------------------------------------------------------------


@pytest.fixture
def held(desk: Desk) -> dict[int, int]:
    """USD above 1000.00 is held; manager 1000 asks for 5000.00 on each account: login -> id."""
    api = desk.api
    threshold = api.put("/v1/approval-thresholds", {"currency": "USD", "amount": "1000"})
    assert threshold.status_code == 200, threshold.text
    ids = {}
    for login in WITHIN + OUTSIDE:
        response = api.post("/v1/balances/deposit", {"login": login, "amount": "5000"})
        assert response.status_code == 202, response.text
        ids[login] = response.json()["approval_id"]
    return ids


@BOTH
def test_approvals_of_accounts_out_of_reach_are_not_listed(
    desk: Desk, held: dict[int, int]
) -> None:
    assert sorted(_logins(desk.get("/v1/approvals"))) == WITHIN
    assert sorted(_logins(desk.get("/v1/approvals", params={"state": "pending"}))) == WITHIN
    for login in OUTSIDE:
        assert _logins(desk.get("/v1/approvals", params={"login": login})) == []
    assert sorted(_logins(desk.api.get("/v1/approvals"))) == sorted(WITHIN + OUTSIDE)


@pytest.mark.parametrize("action", ["", "/approve", "/reject"], ids=["read", "approve", "reject"])
def test_an_approval_out_of_reach_is_a_404_like_an_unknown_one_and_stays_pending(
    desk: Desk, held: dict[int, int], action: str
) -> None:
    send = desk.get if not action else desk.post
    unknown = _problem(send(f"/v1/approvals/999999{action}"), 999999)
    before = _state(desk.api)

    for login in OUTSIDE:
        approval_id = held[login]
        assert _problem(send(f"/v1/approvals/{approval_id}{action}"), approval_id) == unknown
        assert desk.api.get(f"/v1/approvals/{approval_id}").json()["state"] == "pending"

    assert (unknown["status"], unknown["code"]) == (404, "approval.not_found")
    assert _state(desk.api) == before
    if action:
        decided = desk.post(f"/v1/approvals/{held[INSIDE]}{action}")
        assert decided.status_code == 200, decided.text
        assert decided.json()["state"] == ("approved" if action == "/approve" else "rejected")


def test_approval_thresholds_of_groups_out_of_reach_are_not_listed(desk: Desk) -> None:
    api = desk.api
    for group in ("real\\standard", "demo\\vip"):
        body = {"currency": "USD", "amount": "50", "group": group}
        assert api.put("/v1/approval-thresholds", body).status_code == 200

    listed = desk.get("/v1/approval-thresholds").json()["items"]

    assert [t["group"] for t in listed] == ["demo\\vip"]


# --- the audit trail -------------------------------------------------------------------------


def test_the_audit_trail_is_refused_to_a_manager_of_limited_reach(desk: Desk) -> None:
    response = desk.get("/v1/audit")

    assert response.status_code == 403
    assert (response.json()["title"], response.json()["code"]) == (
        "PermissionDenied",
        "auth.permission_denied",
    )
    assert "/users/{login}/history" in response.json()["detail"]
    assert desk.api.get("/v1/audit").status_code == 200


def test_a_limited_manager_holding_admin_still_cannot_read_the_audit_trail(api: Api) -> None:
    services = api.runtime.app
    services.create_manager(
        CreateManager(1003, rights=frozenset({"admin"}), white_labels="BESTBROKER"), api.admin
    )
    key = services.create_api_key(CreateApiKey(1003, frozenset({"admin"})), api.admin).secret

    assert api.get("/v1/audit", key=key).status_code == 403


# --- personal data ---------------------------------------------------------------------------

CSV_CONTACTS = [
    f for f in PERSONAL_FIELDS if f in ("email", "phone", "address", "city", "state", "zip_code")
]


def test_without_personal_data_contact_fields_read_back_empty(desk: Desk) -> None:
    seen = desk.get(f"/v1/users/{INSIDE}", key=desk.plain).json()
    full = desk.get(f"/v1/users/{INSIDE}").json()

    assert {f: seen[f] for f in PERSONAL_FIELDS} == dict.fromkeys(PERSONAL_FIELDS, "")
    assert {f: full[f] for f in PERSONAL_FIELDS} == CONTACT
    assert {k: v for k, v in seen.items() if k not in PERSONAL_FIELDS} == {
        k: v for k, v in full.items() if k not in PERSONAL_FIELDS
    }


@BOTH
@pytest.mark.parametrize("path", ["/v1/users", "/v1/reports/users"])
def test_without_personal_data_lists_and_reports_blank_contact_fields(
    desk: Desk, path: str
) -> None:
    items = desk.get(path, key=desk.plain).json()["items"]

    assert [i["login"] for i in items] == WITHIN
    assert all(item[f] == "" for item in items for f in PERSONAL_FIELDS)
    assert all(i["name"] == f"Client {i['login']}" for i in items)


@BOTH
def test_without_personal_data_the_csv_export_has_empty_contact_columns(desk: Desk) -> None:
    plain = _rows(desk.get("/v1/reports/users?format=csv", key=desk.plain).text)
    full = _rows(desk.get("/v1/reports/users?format=csv").text)

    assert [r["login"] for r in plain] == [str(n) for n in WITHIN]
    assert all(r[c] == "" for r in plain for c in CSV_CONTACTS)
    assert all(r["email"] == CONTACT["email"] and r["city"] == "London" for r in full)
    assert [r["name"] for r in plain] == [r["name"] for r in full]


def test_without_personal_data_history_snapshots_blank_contact_fields(desk: Desk) -> None:
    desk.api.patch(f"/v1/users/{INSIDE}", {"email": "new@example.com"})

    plain = desk.get(f"/v1/users/{INSIDE}/history", key=desk.plain).json()["items"]
    full = desk.get(f"/v1/users/{INSIDE}/history").json()["items"]

    opened, updated = plain[0], plain[-1]
    assert (opened["action"], updated["action"]) == ("account.opened", "account.updated")
    assert all(opened["after"][f] == "" for f in PERSONAL_FIELDS)
    assert (updated["before"]["email"], updated["after"]["email"]) == ("", "")
    assert updated["after"]["name"] == f"Client {INSIDE}"
    assert full[-1]["after"]["email"] == "new@example.com"
    assert [r["hash"] for r in plain] == [r["hash"] for r in full]


@pytest.mark.parametrize("path", ["/v1/users", "/v1/reports/users"])
def test_filtering_by_email_needs_personal_data(desk: Desk, path: str) -> None:
    refused = desk.get(path, key=desk.plain, params={"email": CONTACT["email"]})
    assert refused.status_code == 403
    assert refused.json()["code"] == "auth.missing_scope"
    assert "personal_data" in refused.json()["detail"]

    found = desk.get(path, params={"email": CONTACT["email"]})
    assert _logins(found) == WITHIN  # and never the accounts out of reach with the same email


def test_a_replayed_write_shows_no_contact_fields_to_a_key_without_personal_data(
    desk: Desk,
) -> None:
    body = {"name": "R", "group": "demo\\usd", "login": 710_200, "leverage": 100, **CONTACT}
    headers = {"Idempotency-Key": "open-710200"}
    first = desk.post("/v1/users", body, headers=headers)
    assert first.status_code == 201 and first.json()["email"] == CONTACT["email"]

    replay = desk.post("/v1/users", body, key=desk.plain, headers=headers)

    assert replay.status_code == 201
    assert replay.json()["email"] == ""

"""The manager token (deterministic, stored hashed, invalidated by a new password), the error
body and the one table mapping every CoreError to an HTTP status and errorCode."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from brokerplane.api.ctrader.errors import ERROR_TABLE
from brokerplane.cli.main import main
from brokerplane.core import passwords
from brokerplane.core.access.commands import UpdateManager
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import all_error_classes
from brokerplane.storage import tables
from tests.dialects.ctrader.conftest import JSON, MANAGER, PASSWORD, CTrader, get_token, md5
from tests.unit.fakes import FakeClock


def test_every_core_error_class_has_a_status_and_an_error_code() -> None:
    missing = [cls.__name__ for cls in all_error_classes() if cls not in ERROR_TABLE]
    assert missing == []
    for status, code in ERROR_TABLE.values():
        assert 400 <= status < 600 and code.isupper()


def test_the_same_credentials_always_get_the_same_token(ct: CTrader) -> None:
    again = get_token(ct.client, MANAGER, PASSWORD)
    assert again.status_code == 200
    assert again.json() == {"webservToken": ct.token}
    assert len(ct.token) == 36 and ct.token.count("-") == 4


def test_the_database_keeps_only_a_hash_of_the_token(ct: CTrader) -> None:
    with ct.runtime.storage.engine.connect() as conn:
        rows = conn.execute(select(tables.manager_tokens)).all()
    assert len(rows) == 1
    assert rows[0].manager_login == MANAGER and rows[0].dialect == "ctrader"
    assert ct.token not in str(tuple(rows[0]))


def test_a_wrong_password_is_authentication_failed(ct: CTrader) -> None:
    response = get_token(ct.client, MANAGER, "not the password")
    assert ct.error(response, 401) == "AUTHENTICATION_FAILED"
    assert ct.error(get_token(ct.client, 999, PASSWORD), 401) == "AUTHENTICATION_FAILED"


def test_an_unknown_or_missing_token_is_401_with_the_error_body(ct: CTrader) -> None:
    unknown = ct.get("/traders/1", token="00000000-0000-0000-0000-000000000000")
    assert ct.error(unknown, 401) == "CH_CLIENT_AUTH_FAILURE"
    missing = ct.client.get("/v2/webserv/traders/1", headers={"Accept": "application/json"})
    assert ct.error(missing, 401) == "CH_CLIENT_AUTH_FAILURE"


def test_a_bearer_header_beside_the_token_is_ignored(ct: CTrader) -> None:
    headers = {"Accept": "application/json", "Authorization": "Bearer garbage"}
    assert ct.get("/tradergroups", headers=headers).status_code == 200
    bearer = {"Accept": "application/json", "Authorization": f"Bearer {ct.token}"}
    alone = ct.client.get("/v2/webserv/tradergroups", headers=bearer)
    assert ct.error(alone, 401) == "CH_CLIENT_AUTH_FAILURE"


def test_a_new_manager_password_invalidates_the_token(ct: CTrader) -> None:
    ct.services.update_manager(UpdateManager(MANAGER, password="Changed#2024"), ct.admin)
    assert ct.error(ct.get("/tradergroups"), 401) == "CH_CLIENT_AUTH_FAILURE"
    fresh = get_token(ct.client, MANAGER, "Changed#2024")
    assert fresh.status_code == 200 and fresh.json()["webservToken"] != ct.token
    assert ct.get("/tradergroups", token=fresh.json()["webservToken"]).status_code == 200
    assert ct.error(get_token(ct.client, MANAGER, PASSWORD), 401) == "AUTHENTICATION_FAILED"


def test_a_disabled_manager_token_stops_working(ct: CTrader) -> None:
    ct.services.update_manager(UpdateManager(MANAGER, enabled=False), ct.admin)
    assert ct.error(ct.get("/tradergroups"), 401) == "CH_CLIENT_AUTH_FAILURE"


def test_the_token_answers_in_xml_unless_json_is_asked_for(ct: CTrader) -> None:
    body = {"login": str(MANAGER), "hashedPassword": md5(PASSWORD)}
    response = ct.client.post("/v2/webserv/managers/token", headers={"Accept": "*/*"}, json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert f"<webservToken>{ct.token}</webservToken>" in response.text


def test_errors_answer_in_xml_for_xml_clients(ct: CTrader) -> None:
    response = ct.get("/traders/424242", headers={"Accept": "*/*"})
    assert response.status_code == 404
    assert "<errorCode>TRADER_NOT_FOUND</errorCode>" in response.text


def test_an_unknown_path_is_a_ctrader_error_not_a_problem(ct: CTrader) -> None:
    assert ct.error(ct.get("/nothing/here"), 404) == "ENTITY_NOT_FOUND"


def test_a_body_that_is_not_json_is_invalid_request(ct: CTrader) -> None:
    response = ct.client.post(
        "/v2/webserv/traders",
        params={"token": ct.token},
        content=b"{not json",
        headers={"Accept": "application/json"},
    )
    assert ct.error(response, 400) == "INVALID_REQUEST"


def test_trader_groups_list_id_name_and_description(ct: CTrader) -> None:
    body = ct.get("/tradergroups").json()
    names = {g["name"] for g in body["traderGroup"]}
    assert {"Default", "DX_452"} <= names
    assert all(
        set(g) == {"id", "name", "description"} and isinstance(g["id"], int)
        for g in body["traderGroup"]
    )


def test_json_nested_past_the_recursion_limit_is_invalid_request_not_a_crash(ct: CTrader) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in ("/v2/webserv/traders", "/v2/webserv/traders/attributes/list", "/cid/ctid/create"):
        response = ct.client.post(
            path, params={"token": ct.token}, content=deep, headers={"Accept": "application/json"}
        )
        assert ct.error(response, 400) == "INVALID_REQUEST", path
        assert "not valid JSON" in response.json()["error"]["description"]


def test_a_stored_reach_mask_past_the_limits_is_invalid_request_not_a_server_error(
    ct: CTrader,
) -> None:
    # a reach written before masks had limits (or by hand): refused in cTrader's words
    with ct.runtime.storage.engine.begin() as conn:
        conn.execute(
            tables.managers.update()
            .where(tables.managers.c.login == MANAGER)
            .values(group_mask="demo\\" + "*a" * 17)
        )

    response = ct.get(
        "/traders", params={"from": "2020-01-01T00:00:00.000", "to": "2030-01-01T00:00:00.000"}
    )

    assert ct.error(response, 400) == "INVALID_REQUEST"
    assert "at most 16" in response.json()["error"]["description"]


def _still(ct: CTrader, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The server's clock, stopped at now: the test moves it past a lock, no sleeping."""
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr(ct.services, "clock", clock)
    return clock


def test_after_five_wrong_passwords_the_right_one_waits_for_the_lock_to_end(
    ct: CTrader, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _still(ct, monkeypatch)
    for n in range(5):
        forwarded = {"X-Forwarded-For": f"198.51.100.{n}"}  # a new address each time: no help
        guess = {"login": MANAGER, "hashedPassword": md5(f"guess{n}")}
        wrong = ct.client.post(
            "/v2/webserv/managers/token", headers={**JSON, **forwarded}, json=guess
        )
        assert ct.error(wrong, 401) == "AUTHENTICATION_FAILED"

    held = get_token(ct.client, MANAGER, PASSWORD)
    assert ct.error(held, 401) == "AUTHENTICATION_FAILED"
    assert "try again in 1 s" in held.json()["error"]["description"]
    clock.advance(seconds=1)
    assert get_token(ct.client, MANAGER, PASSWORD).json() == {"webservToken": ct.token}


def test_an_unknown_manager_costs_the_same_password_hash_work(
    ct: CTrader, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real = passwords.verify_md5

    def counted(verifier: str | None, md5hex: str) -> bool:
        checks.append(md5hex)
        return real(verifier, md5hex)

    monkeypatch.setattr(passwords, "verify_md5", counted)
    for login in (MANAGER, 4242):
        checks.clear()
        assert ct.error(get_token(ct.client, login, "Wrong#123456"), 401) == "AUTHENTICATION_FAILED"
        assert checks == [md5("Wrong#123456")], login


def _later(ct: CTrader, monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> None:
    """Moves the server's clock `delta` past now."""
    when = datetime.now(UTC) + delta
    monkeypatch.setattr(ct.services, "clock", lambda: when)


def test_a_token_is_refused_as_expired_once_its_lifetime_has_passed(
    ct: CTrader, monkeypatch: pytest.MonkeyPatch
) -> None:
    login = ct.create()["login"]
    _later(ct, monkeypatch, timedelta(hours=24, seconds=5))

    assert ct.error(ct.get("/tradergroups"), 401) == "CID_TOKEN_EXPIRED"
    money = ct.post(
        f"/traders/{login}/changebalance", {"login": login, "preciseAmount": 10, "type": "DEPOSIT"}
    )
    assert ct.error(money, 401) == "CID_TOKEN_EXPIRED"
    assert ct.services.get_account(login, ct.admin).balance == 0
    cid = ct.client.get(
        "/cid/oauth2/ctid/getUserId",
        params={"token": ct.token, "email": "a@b.c"},
        headers={"Accept": "application/json"},
    )
    assert ct.error(cid, 401) == "CID_TOKEN_EXPIRED"
    fresh = get_token(ct.client, MANAGER, PASSWORD).json()["webservToken"]
    assert fresh != ct.token
    assert ct.get("/tradergroups", token=fresh).status_code == 200


def test_the_same_token_comes_back_for_half_its_lifetime_and_then_a_new_one(
    ct: CTrader, monkeypatch: pytest.MonkeyPatch
) -> None:
    _later(ct, monkeypatch, timedelta(hours=11))
    assert get_token(ct.client, MANAGER, PASSWORD).json() == {"webservToken": ct.token}

    _later(ct, monkeypatch, timedelta(hours=13))
    newer = get_token(ct.client, MANAGER, PASSWORD).json()["webservToken"]
    assert newer != ct.token
    assert ct.get("/tradergroups").status_code == 200  # the older one lives out its lifetime
    assert get_token(ct.client, MANAGER, PASSWORD).json() == {"webservToken": newer}

    _later(ct, monkeypatch, timedelta(hours=25))
    assert ct.error(ct.get("/tradergroups"), 401) == "CID_TOKEN_EXPIRED"
    assert ct.get("/tradergroups", token=newer).status_code == 200


def test_a_password_set_with_the_cli_deletes_the_managers_tokens_and_no_money_moves(
    ct: CTrader, database_url: str
) -> None:
    login = ct.create()["login"]
    result = CliRunner().invoke(
        main,
        [
            "manager",
            "set-password",
            "--database-url",
            database_url,
            str(MANAGER),
            "--password",
            "N3w#Passw0rd",
        ],
    )
    assert result.exit_code == 0, result.output

    money = ct.post(
        f"/traders/{login}/changebalance", {"login": login, "preciseAmount": 10, "type": "DEPOSIT"}
    )
    assert ct.error(money, 401) == "CH_CLIENT_AUTH_FAILURE"
    assert ct.services.get_account(login, ct.admin).balance == 0
    with ct.runtime.storage.engine.connect() as conn:
        assert conn.execute(select(tables.manager_tokens)).all() == []


def test_disabling_a_manager_deletes_its_tokens(ct: CTrader) -> None:
    ct.services.update_manager(UpdateManager(MANAGER, enabled=False), ct.admin)
    with ct.runtime.storage.engine.connect() as conn:
        assert conn.execute(select(tables.manager_tokens)).all() == []
    ct.services.update_manager(UpdateManager(MANAGER, enabled=True), ct.admin)
    assert ct.error(ct.get("/tradergroups"), 401) == "CH_CLIENT_AUTH_FAILURE"
    fresh = get_token(ct.client, MANAGER, PASSWORD).json()["webservToken"]
    assert ct.get("/tradergroups", token=fresh).status_code == 200


def test_a_body_over_the_limit_is_413_invalid_request_before_the_token_is_checked(
    ct: CTrader,
) -> None:
    big = b'{"groupName": "' + b"x" * (1 << 20) + b'"}'
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    for path in ("/v2/webserv/traders", "/webserv/traders", "/cid/ctid/create"):
        response = ct.client.post(path, content=big, headers=headers)
        assert ct.error(response, 413) == "INVALID_REQUEST"
        assert response.json()["error"]["description"] == "the request body is larger than 1 MiB"
    xml = ct.client.post("/v2/webserv/traders", content=(b" " * 65536 for _ in range(32)))
    assert xml.status_code == 413
    assert xml.headers["content-type"].startswith("application/xml")
    assert "<errorCode>INVALID_REQUEST</errorCode>" in xml.text


# A race between connections on the lockout counters (row locks differ per engine).
@pytest.mark.engines("sqlite", "postgres")
def test_forty_parallel_wrong_passwords_reach_the_password_check_at_most_five_times(
    ct: CTrader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attempt is counted before its password is checked, in one step with the lock: a
    burst cannot slip more guesses past the lockout than its threshold."""
    _still(ct, monkeypatch)
    checks: list[str] = []
    real = passwords.verify_md5

    def counted(verifier: str | None, md5hex: str) -> bool:
        checks.append(md5hex)
        return real(verifier, md5hex)

    monkeypatch.setattr(passwords, "verify_md5", counted)
    go = threading.Barrier(40)

    def guess(n: int) -> int:
        go.wait(timeout=30)
        return get_token(ct.client, MANAGER, f"Guess#{n}").status_code

    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(guess, range(40)))

    assert statuses == [401] * 40
    assert len(checks) == 5


def test_an_operator_unlocks_a_locked_manager_and_a_new_password_does_too(
    ct: CTrader, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _still(ct, monkeypatch)
    for n in range(5):
        assert ct.error(get_token(ct.client, MANAGER, f"Guess#{n}"), 401) == "AUTHENTICATION_FAILED"
    assert "try again in" in get_token(ct.client, MANAGER, PASSWORD).json()["error"]["description"]

    unlocked = CliRunner().invoke(
        main, ["manager", "unlock", str(MANAGER), "--json", "--database-url", database_url]
    )
    assert unlocked.exit_code == 0, unlocked.output
    # the login's counters, from this address and from all: the address's own stays
    assert json.loads(unlocked.output) == {"login": MANAGER, "counters_cleared": 2}
    assert get_token(ct.client, MANAGER, PASSWORD).status_code == 200
    audit = [r.action for r in ct.services.query_audit(AuditQuery(entity_type="manager"), ct.admin)]
    assert "manager.unlocked" in audit

    for n in range(5):
        get_token(ct.client, MANAGER, f"Guess#{n}")
    ct.services.update_manager(UpdateManager(MANAGER, password="Another#Pass1"), ct.admin)
    assert get_token(ct.client, MANAGER, "Another#Pass1").status_code == 200


def test_unlocking_a_manager_that_does_not_exist_says_so(ct: CTrader, database_url: str) -> None:
    result = CliRunner().invoke(main, ["manager", "unlock", "4242", "--database-url", database_url])
    assert result.exit_code != 0
    assert "4242" in result.output

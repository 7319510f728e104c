"""Bad input to every MT5 command gets a retcode that explains it: no 500, no lost session."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.mt5.wire import COMMANDS
from tests.dialects.mt5.conftest import Mt5

# Parameter names the commands read, each given a garbage value at once.
NAMES = (
    "login",
    "group",
    "name",
    "leverage",
    "type",
    "balance",
    "comment",
    "ticket",
    "index",
    "count",
    "mask",
    "symbol",
    "from",
    "to",
    "offset",
    "total",
    "password",
    "rights",
    "agent",
    "check_margin",
    "email",
    "pass_main",
    "pass_investor",
)
# Values that reach the database as text, masks or integers past BIGINT (NUL, escapes, huge
# numbers) meet PostgreSQL's own errors and mask SQL, so they run on both engines; values a
# command's parser refuses before any SQL run on SQLite only (tests/conftest.py).
BOTH = pytest.mark.engines("sqlite", "postgres")
GARBAGE = (
    pytest.param("x", marks=BOTH),
    "-1",
    "0",
    "1e999",
    pytest.param("99999999999999999999999999", marks=BOTH),
    pytest.param("", marks=BOTH),
    pytest.param("\\|\\=\\\\", marks=BOTH),
    "NaN",
    "[]",
    pytest.param("9" * 400, marks=BOTH),
    pytest.param("\u0000", marks=BOTH),
    pytest.param("demo\\*,!", marks=BOTH),
    "1.5",
)
BODIES = (
    b"[]",
    b'"text"',
    b"{not json",
    b'{"Login": {"a": 1}, "Group": [1, 2]}',
    pytest.param(b'{"Login": 1e400, "Balance": "1e99999", "Type": true}', marks=BOTH),
    b"\xff\xfe",
    b"a=b&c",
    b"[" * 100_000,  # nested past Python's recursion limit
)


def _is_answered(mt5: Mt5, response: object) -> None:
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    code = response.json()["retcode"]  # type: ignore[attr-defined]
    assert isinstance(code, str) and code.split(" ", 1)[0].isdigit()
    # the session survives whatever was sent
    assert mt5.retcode(mt5.get("test/access")) == "0 Done"


@pytest.mark.parametrize("value", GARBAGE)
def test_garbage_parameters_get_a_retcode_from_every_command(mt5: Mt5, value: str) -> None:
    for name in sorted(COMMANDS):
        _is_answered(mt5, mt5.get(name, **dict.fromkeys(NAMES, value)))


@pytest.mark.parametrize("body", BODIES)
def test_garbage_bodies_get_a_retcode_from_every_command(mt5: Mt5, body: bytes) -> None:
    for name in sorted(COMMANDS):
        _is_answered(mt5, mt5.post(name, {"login": "1"}, content=body))


def test_an_unknown_command_is_12000_and_the_session_lives_on(mt5: Mt5) -> None:
    assert mt5.retcode(mt5.get("mail/send", id="1")) == "12000 Not implement yet"
    assert mt5.retcode(mt5.get("test/access")) == "0 Done"


def test_numbers_written_with_underscores_or_other_scripts_digits_are_invalid(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]
    for amount in ("1_000", "١٠٠"):
        answer = mt5.get("trade/balance", login=login, type="2", balance=amount)
        assert mt5.retcode(answer) == "3 Invalid parameters"
    assert mt5.retcode(mt5.get("user/get", login=f"{login[:2]}_{login[2:]}")) == (
        "3 Invalid parameters"
    )
    assert mt5.ok(mt5.get("user/get", login=login))["Balance"] == "0.00"


@pytest.mark.parametrize(
    "params",
    [
        {"login": "x"},
        {"login": "1005", "version": "new"},
        {"login": "99999999999999999999999"},
        {"srv_rand_answer": "00", "cli_rand": ["a", "b"]},
    ],
)
def test_garbage_in_the_handshake_gets_a_retcode(mt5: Mt5, params: dict[str, object]) -> None:
    other = mt5.as_manager(1006)
    for step in ("auth/start", "auth/answer"):
        response = other.post(step, json=params)
        assert response.json()["retcode"] == "3 Invalid parameters" or (
            response.status_code == 403
        ), response.text
    assert mt5.retcode(mt5.get("test/access")) == "0 Done"


def test_a_body_over_the_limit_is_refused_413_with_retcode_3_before_the_session_check(
    mt5: Mt5,
) -> None:
    big = b'{"PassMain": "' + b"x" * (1 << 20) + b'"}'
    anonymous = TestClient(mt5.client.app, client=("testclient", 50999))
    for client in (anonymous, mt5.client):
        for path in ("/api/user/add?group=demoforex", "/user_add?group=demoforex"):
            response = client.post(path, content=big)
            assert response.status_code == 413, response.text
            assert response.json() == {
                "retcode": "3 Invalid parameters",
                "reason": "the request body is larger than 1 MiB",
            }
            assert response.headers["connection"] == "close"
    chunked = anonymous.post("/api/user/add", content=(b" " * 65536 for _ in range(32)))
    assert chunked.status_code == 413
    assert chunked.json()["retcode"] == "3 Invalid parameters"
    anonymous.close()

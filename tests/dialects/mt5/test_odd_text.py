"""Text no secret or store can hold (a handshake answer outside ASCII, a JSON string holding
half a UTF-16 pair, a percent-escape of a surrogate) is answered as MT5 answers bad input, never
with a 500."""

from __future__ import annotations

import json
import secrets

from tests.dialects.mt5.conftest import MANAGER, Mt5

# Translation: the body or query is refused while it is decoded, before any SQL (and neither
# engine's driver can encode a lone surrogate), so SQLite only (tests/conftest.py).


def test_a_handshake_answer_outside_ascii_is_a_wrong_answer(mt5: Mt5) -> None:
    client = mt5.client
    query = {"version": "3470", "agent": "pytest", "login": str(MANAGER), "type": "manager"}
    start = client.get("/api/auth/start", params=query)
    assert start.status_code == 200, start.text

    answer = client.get(
        "/api/auth/answer", params={"srv_rand_answer": "é" * 32, "cli_rand": secrets.token_hex(16)}
    )

    assert answer.status_code == 403, answer.text


def test_a_lone_surrogate_in_a_json_password_is_bad_parameters(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]
    raw = json.dumps({"login": login, "type": "main", "password": "@@"})
    raw = raw.replace('"@@"', '"\\ud800"')

    answer = mt5.post(
        "user/check_password", content=raw.encode(), headers={"Content-Type": "application/json"}
    )

    assert mt5.retcode(answer).startswith("3 ")


def test_a_percent_escaped_surrogate_in_the_query_is_read_as_replacement_text(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    answer = mt5.client.get(f"/api/user/check_password?login={login}&type=main&password=%ED%A0%80")

    assert answer.status_code == 200, answer.text
    assert not answer.json()["retcode"].startswith("0 ")

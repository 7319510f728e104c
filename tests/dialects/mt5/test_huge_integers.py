"""Integers past a signed 64-bit number (or below a command's range) get "3 Invalid
parameters" from every MT5 command: never a query, a 500 or a lost session."""

from __future__ import annotations

import logging

import pytest

from brokerplane.api.mt5 import mount as mt5_mount
from brokerplane.api.mt5.wire import COMMANDS, Answer, Context, command
from tests.dialects.mt5.conftest import Mt5

# Translation: each dialect refuses an integer past 64 bits while parsing it, before any SQL
# (SQLite's driver cannot bind one either: a missed check fails here as loudly as on
# PostgreSQL), so SQLite only (tests/conftest.py).

HUGE = str(2**70)

# Every integer parameter an MT5 command reads, by the names clients send.
INTEGERS = (
    "id",
    "login",
    "ticket",
    "deal",
    "order",
    "position",
    "type",
    "action",
    "volume",
    "volumeext",
    "leverage",
    "index",
    "count",
    "from",
    "to",
    "offset",
    "total",
    "trans_id",
    "check_margin",
    "agent",
    "rights",
)


@pytest.mark.parametrize("name", INTEGERS)
def test_a_huge_integer_parameter_is_invalid_in_every_command_and_the_session_lives_on(
    mt5: Mt5, name: str
) -> None:
    for cmd in sorted(COMMANDS):
        if cmd == "quit":
            continue
        response = mt5.get(cmd, **{name: HUGE})
        code = mt5.retcode(response)
        assert not code.startswith("2 "), (cmd, response.text)
        assert mt5.retcode(mt5.get("test/access")) == "0 Done", cmd


@pytest.mark.parametrize(
    ("cmd", "params"),
    [
        ("dealer/get_request_result", {"id": HUGE}),
        ("dealer/get_request_result", {"id": "5," + HUGE}),
        ("dealer/get_request_result", {"id": "-1"}),
        ("dealer/get_request_result", {"id": "0"}),
        (
            "dealer/send_request",
            {"Action": "200", "Login": HUGE, "Type": "0", "Symbol": "EURUSD", "Volume": "10000"},
        ),
        (
            "dealer/send_request",
            {
                "Action": "200",
                "Login": "1",
                "Type": "0",
                "Symbol": "EURUSD",
                "Volume": "10000",
                "Position": HUGE,
            },
        ),
        ("dealer/send_request", {"Action": HUGE}),
        ("user/get", {"login": HUGE}),
        ("user/get_batch", {"login": HUGE}),
        ("user/get_batch", {"login": "-1"}),
        ("user/account/get", {"login": HUGE}),
        ("position/get_batch", {"ticket": HUGE}),
        ("position/get_batch", {"login": HUGE}),
        ("deal/get", {"ticket": HUGE}),
        ("deal/get_page", {"login": "1", "from": "0", "to": HUGE, "offset": HUGE, "total": "1"}),
        ("order/get", {"ticket": HUGE}),
        ("trade/balance", {"login": HUGE, "type": "2", "balance": "1"}),
        ("user/add", {"login": HUGE, "group": "demoforex", "name": "A B", "leverage": "100"}),
        ("user/add", {"group": "demoforex", "name": "A B", "leverage": HUGE}),
        ("tick/last", {"symbol": "EURUSD", "trans_id": HUGE}),
    ],
)
def test_out_of_range_integers_are_3_invalid_parameters(
    mt5: Mt5, cmd: str, params: dict[str, str]
) -> None:
    if cmd not in COMMANDS:
        pytest.skip(f"{cmd} is not served")
    assert mt5.retcode(mt5.post(cmd, params)) == "3 Invalid parameters"
    assert mt5.retcode(mt5.get("test/access")) == "0 Done"


def test_a_huge_request_id_in_the_json_body_is_3_and_the_next_command_runs(mt5: Mt5) -> None:
    response = mt5.post("dealer/get_request_result", json={"id": 2**70})
    assert mt5.retcode(response) == "3 Invalid parameters"
    assert mt5.retcode(mt5.get("time/server")) == "0 Done"


def test_an_unexpected_error_is_2_common_error_in_the_mt5_envelope_and_the_session_lives_on(
    mt5: Mt5, caplog: pytest.LogCaptureFixture
) -> None:
    @command("test/explode")
    def explode(ctx: Context) -> Answer:
        raise RuntimeError("boom: secret internals")

    try:
        with caplog.at_level(logging.ERROR, logger=mt5_mount.log.name):
            response = mt5.get("test/explode")
        assert response.status_code == 200
        assert response.json() == {"retcode": "2 Common error"}
        assert "boom" not in response.text
        assert "unexpected error in MT5 command test/explode" in caplog.text
        assert mt5.retcode(mt5.get("test/access")) == "0 Done"
    finally:
        COMMANDS.pop("test/explode", None)

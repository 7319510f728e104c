"""Symbol execution parameters (spread, stops level, swaps, sessions) through the native API,
read by every key that reads symbols, set only with admin, and served by MT5's symbol records."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dialects.native.conftest import Api

SESSIONS = {"MON": ["00:05-12:00", "13:00-23:55"], "FRI": ["00:05-21:00"]}


def test_execution_parameters_default_set_and_read_back(api: Api) -> None:
    fresh = api.get("/v1/symbols/EURUSD").json()
    assert (
        fresh["spread"],
        fresh["stops_level"],
        fresh["swap_long"],
        fresh["swap_short"],
        fresh["sessions"],
    ) == (0, 0, "0", "0", None)
    change = {
        "spread": 12,
        "stops_level": 30,
        "swap_long": "-4.25",
        "swap_short": 1.5,
        "sessions": {"mon": SESSIONS["MON"], "FRI": SESSIONS["FRI"]},
    }
    response = api.patch("/v1/symbols/EURUSD", change)
    assert response.status_code == 200, response.text
    reader = api.key("users:read")
    for body in (response.json(), api.get("/v1/symbols/EURUSD", key=reader).json()):
        assert (
            body["spread"],
            body["stops_level"],
            body["swap_long"],
            body["swap_short"],
            body["sessions"],
        ) == (12, 30, "-4.25", "1.5", SESSIONS)
    listed = api.get("/v1/symbols", params={"name": "EURUSD"}).json()["items"]
    assert listed[0]["sessions"] == SESSIONS
    created = api.post("/v1/symbols", {"name": "GBPUSD", "spread": 20, "swap_long": "-1"})
    assert created.status_code == 201, created.text
    assert (created.json()["spread"], created.json()["swap_long"]) == (20, "-1")
    history = api.get("/v1/audit", params={"action": "symbol.updated"}).json()["items"]
    assert history[-1]["after"]["sessions"] == SESSIONS
    assert history[-1]["after"]["swap_long"] == "-4.25"


BAD: list[tuple[str, Any]] = [
    ("spread", -1),
    ("spread", 100_001),
    ("spread", "12"),
    ("stops_level", 1.5),
    ("swap_long", "1e9"),
    ("swap_short", "NaN"),
    ("swap_long", "0.123456789"),
    ("sessions", {"MOON": ["00:00-24:00"]}),
    ("sessions", {"MON": ["12:00-11:00"]}),
    ("sessions", {"MON": ["10:00-12:00", "11:00-13:00"]}),
    ("sessions", {"MON": ["24:01-24:02"]}),
    ("sessions", {"MON": ["0:00-24:00"]}),
    ("sessions", {"MON": ["00:00-01:00"] * 9}),
    ("sessions", ["MON"]),
]


@pytest.mark.parametrize(("name", "value"), BAD, ids=[f"{n}={v!r}"[:40] for n, v in BAD])
def test_bad_execution_parameters_are_refused_naming_the_field(
    api: Api, name: str, value: Any
) -> None:
    response = api.patch("/v1/symbols/EURUSD", {name: value})
    assert response.status_code == 400, response.text
    assert name in [e["field"] for e in response.json()["errors"]]
    assert api.get("/v1/symbols/EURUSD").json()[name] in (0, "0", None)


def test_only_admin_sets_execution_parameters(api: Api) -> None:
    for scope in ("users:write", "users:read", "reports:read"):
        refused = api.patch("/v1/symbols/EURUSD", {"spread": 3}, key=api.key(scope))
        assert refused.status_code == 403
    assert api.get("/v1/symbols/EURUSD").json()["spread"] == 0

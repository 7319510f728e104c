"""Fields newer MT5 builds add to deals, positions and history orders, as brokerplane fills them.

`ApiData`: the 16 cells applications attach to a record (`{AppID, ID}` and one value each);
brokerplane keeps none on trade records, so all 16 are empty, as a real server sends a record no
application wrote to. `OrigTime*`: the record's times as first recorded; brokerplane never moves a
trade record's time, so they equal the record's own (`Time`, `TimeCreate`/`TimeUpdate`,
`TimeSetup`/`TimeExpiration`/`TimeDone`), in unix seconds.
"""

from __future__ import annotations

from typing import Any

API_DATA_CELLS = 16


def empty_api_data() -> list[dict[str, Any]]:
    return [{"AppID": 0, "ID": 0} for _ in range(API_DATA_CELLS)]


def deal_fields(time: int) -> dict[str, Any]:
    return {"ApiData": empty_api_data(), "OrigTime": time}


def position_fields(created: int, updated: int) -> dict[str, Any]:
    return {"ApiData": empty_api_data(), "OrigTimeCreate": created, "OrigTimeUpdate": updated}


def order_fields(setup: int, expiration: int, done: int) -> dict[str, Any]:
    return {
        "ApiData": empty_api_data(),
        "OrigTimeSetup": setup,
        "OrigTimeExpiration": expiration,
        "OrigTimeDone": done,
    }

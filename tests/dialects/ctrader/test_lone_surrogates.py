"""A JSON string holding half a UTF-16 pair (`"\\ud800"`), which no UTF-8 text or store can
hold, is INVALID_REQUEST like any malformed body, never a 500."""

from __future__ import annotations

import json

from tests.dialects.ctrader.conftest import MINIMAL, CTrader

# Translation: the body or query is refused while it is decoded, before any SQL (and neither
# engine's driver can encode a lone surrogate), so SQLite only (tests/conftest.py).


def test_a_lone_surrogate_in_a_new_traders_name_is_an_invalid_request(ct: CTrader) -> None:
    raw = json.dumps({**MINIMAL, "name": "@@"}).replace('"@@"', '"a\\udfffb"')

    answer = ct.client.post(
        "/v2/webserv/traders",
        params={"token": ct.token},
        content=raw.encode(),
        headers={"Accept": "application/json", "Content-Type": "application/json"},
    )

    assert ct.error(answer, 400) == "INVALID_REQUEST"

"""Accounts opened in a batch store every value as an account opened alone does."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.group.model import Group

GROUP = "real\\standard"

# Text a row format could mangle (tabs, line breaks, backslashes, quotes, `\N`, non-ASCII),
# flags set, numbers at their limits, API data cells and attributes.
PROFILE: dict[str, Any] = {
    "first_name": "tab\there",
    "last_name": "line\nbreak\r\\N",
    "company": "back\\slash 'single' \"double\"",
    "address": "Straße 1, Zürich ✓",
    "email": "ann.o'neil@example.com",
    "country_id": 999,
    "color": 0xFFFFFFFF,
    "agent": 2**63 - 1,
    "limited_risk": True,
    "swap_free": True,
    "send_own_statement": True,
    "max_leverage": 400,
    "margin_mode": "NET",
    "api_data": [
        {"AppID": 7, "ID": 1, "ValueDouble": 0.1},
        {"AppID": 7, "ID": 2, "ValueUInt": 2**64 - 1},
        {"AppID": 7, "ID": 3, "ValueInt": -(2**63)},
    ],
    "attributes": {"kyc": "ok\tchecked", "note": "ü\\"},
}


def test_a_batch_stores_awkward_values_as_opening_one_by_one_does(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    single = services.open_account(OpenAccount(GROUP, 200, "Ann\tO'Neil", profile=PROFILE), admin)
    cmds = [OpenAccount(GROUP, 200, "Ann\tO'Neil", profile=PROFILE) for _ in range(2)]

    batch = services.open_accounts(cmds, admin)

    alone = services.get_account(single.login, admin)
    assert alone.api_data == PROFILE["api_data"] and alone.attributes == PROFILE["attributes"]
    for opened in batch:
        stored = services.get_account(opened.login, admin)
        assert replace(stored, login=alone.login) == alone
        [record] = services.account_history(opened.login, admin)
        [first] = services.account_history(single.login, admin)
        assert record.after == {**(first.after or {}), "login": opened.login}
    assert services.verify_audit().ok

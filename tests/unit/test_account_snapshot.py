"""The audit view of an account: every field in order, passwords as set or not, ISO times, and
a copy that later changes to the account do not reach."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone

from brokerplane.core.account.model import Account


def test_a_snapshot_shows_every_field_passwords_as_set_and_times_in_iso_form() -> None:
    opened = datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=UTC)
    local = datetime(2024, 5, 2, 9, 0, tzinfo=timezone(timedelta(hours=3)))
    acc = Account(
        login=7,
        group_id=1,
        group="real\\standard",
        currency="USD",
        currency_digits=2,
        leverage=100,
        name="Ann",
        main_password="verifier",
        investor_password="",
        registered_at=opened,
        updated_at=local,
        api_data=[{"AppID": 1, "ID": 2, "ValueDouble": 0.5}],
        attributes={"kyc": "ok"},
    )

    snap = acc.snapshot()

    assert list(snap) == [f.name for f in fields(Account)]
    assert (snap["main_password"], snap["investor_password"], snap["api_password"]) == (
        "set",
        None,
        None,
    )
    assert snap["registered_at"] == "2024-05-01T12:30:00.123456+00:00"
    assert snap["updated_at"] == "2024-05-02T09:00:00+03:00"
    assert snap["last_access"] is None
    assert (snap["login"], snap["name"], snap["limited_risk"]) == (7, "Ann", False)
    assert snap["api_data"] == [{"AppID": 1, "ID": 2, "ValueDouble": 0.5}]
    assert snap["attributes"] == {"kyc": "ok"}


def test_a_snapshot_keeps_what_it_saw_when_the_account_changes_later() -> None:
    acc = Account(
        login=7,
        group_id=1,
        group="g",
        currency="USD",
        currency_digits=2,
        leverage=100,
        api_data=[{"AppID": 1, "ID": 2, "ValueInt": 3}],
        attributes={"kyc": "ok"},
    )
    snap = acc.snapshot()

    acc.api_data[0]["ValueInt"] = 4
    acc.api_data.append({"AppID": 1, "ID": 3, "ValueInt": 5})
    acc.attributes["kyc"] = "failed"

    assert snap["api_data"] == [{"AppID": 1, "ID": 2, "ValueInt": 3}]
    assert snap["attributes"] == {"kyc": "ok"}

"""An account's attributes are one set, whichever way they are written: the `attributes` of an
account (native API) and the attribute calls (cTrader's trader attributes) read and write the
same name/value pairs."""

from __future__ import annotations

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount, UpdateAccount
from brokerplane.core.actor import Actor
from brokerplane.core.attribute.commands import (
    AttributeValue,
    DeleteAttributes,
    EntityAttributes,
    ListAttributes,
    SetAttributes,
)
from brokerplane.core.errors import ValidationError
from brokerplane.core.group.model import Group
from tests.unit.fakes import FakeClock, FakeUowFactory


def _open(services: Application, admin: Actor, attributes: dict[str, str]) -> int:
    cmd = OpenAccount(group="real\\standard", profile={"attributes": attributes})
    return services.open_account(cmd, admin).login


def _store(services: Application, admin: Actor, login: int) -> dict[str, str]:
    page = services.list_attributes(ListAttributes("account", ids=(login,)), admin)
    return {a.name: a.value for s in page.sets for a in s.attributes}


def test_attributes_given_on_open_are_in_the_attribute_store(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    login = _open(services, admin, {"kyc": "passed", "tier": "gold"})

    assert _store(services, admin, login) == {"kyc": "passed", "tier": "gold"}
    assert services.get_account(login, admin).attributes == {"kyc": "passed", "tier": "gold"}
    assert uows.state.accounts[login].attributes == {}  # not a second copy in the row


def test_attribute_calls_show_in_the_account_and_updates_replace_the_set(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    login = _open(services, admin, {"kyc": "passed", "desk": "ldn"})
    items = (EntityAttributes(login, (AttributeValue("colorCode", "FF0000"),)),)
    services.set_attributes(SetAttributes("account", items), admin)
    assert services.get_account(login, admin).attributes == {
        "kyc": "passed",
        "desk": "ldn",
        "colorCode": "FF0000",
    }

    clock.advance(seconds=5)
    changes = {"attributes": {"kyc": "passed", "colorCode": "00FF00"}}
    updated = services.update_account(UpdateAccount(login, changes), admin)

    assert updated.attributes == {"kyc": "passed", "colorCode": "00FF00"}
    assert _store(services, admin, login) == {"kyc": "passed", "colorCode": "00FF00"}
    page = services.list_attributes(ListAttributes("account", ids=(login,)), admin)
    times = {a.name: a.updated_at for a in page.sets[0].attributes}
    assert times["colorCode"] == clock.now and times["kyc"] < clock.now  # unchanged: not touched
    services.delete_attributes(DeleteAttributes("account", (login,)), admin)
    assert services.get_account(login, admin).attributes == {}


@pytest.mark.parametrize(
    "attributes",
    [{"empty": ""}, {"": "nameless"}, {"n" * 65: "v"}, {"long": "v" * 513}],
    ids=["empty-value", "empty-name", "long-name", "long-value"],
)
def test_attributes_outside_the_store_limits_are_refused_and_nothing_opens(
    services: Application,
    admin: Actor,
    usd_group: Group,
    uows: FakeUowFactory,
    attributes: dict[str, str],
) -> None:
    with pytest.raises(ValidationError) as caught:
        _open(services, admin, attributes)
    assert any(f.field.startswith("attributes") for f in caught.value.fields)
    assert uows.state.accounts == {} and uows.state.attributes == {}

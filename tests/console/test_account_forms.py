"""An account's move to another group and password reset over real HTTP in-process (no
browser): a confirmation first, then applied once per form submission; the money form's
confirmation says beforehand whether the amount will wait for approval."""

from __future__ import annotations

import pytest

from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.group.commands import CreateGroup
from tests.console.desk import Desk, post

pytestmark = pytest.mark.engines("sqlite")

ROOT = Actor(None, frozenset({"admin"}))


def keys_of(page: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for form in page.split("<form")[1:]:
        if 'name="key" value="' in form and 'name="action" value="' in form:
            action = form.split('name="action" value="')[1].split('"')[0]
            found[action] = form.split('name="key" value="')[1].split('"')[0]
    return found


def actions(desk: Desk, login: int) -> list[str]:
    found = desk.runtime.app.query_audit(
        AuditQuery(entity_type="account", entity_id=str(login), limit=50), ROOT
    )
    return [r.action for r in found]


def test_a_move_is_confirmed_then_applied_once(desk: Desk) -> None:
    s, login = desk.runtime.app, desk.demo["bruno"]
    s.create_group(CreateGroup("demo-usd2", "USD"), ROOT)
    keys = keys_of(desk.admin.get(f"/console/accounts/{login}").text)
    assert set(keys) == {"move", "password"} and keys["move"] != keys["password"]
    form = {"action": "move", "group": "demo-usd2", "key": keys["move"]}
    review = post(desk.admin, f"/console/accounts/{login}/state", form)
    assert review.startswith("200") and "to group demo-usd2" in review
    assert s.get_account(login, ROOT).group == "demo-usd"  # nothing before it is confirmed
    done = post(desk.admin, f"/console/accounts/{login}/state", {**form, "step": "apply"})
    assert "Moved to group demo-usd2." in done
    assert s.get_account(login, ROOT).group == "demo-usd2"
    again = post(desk.admin, f"/console/accounts/{login}/state", {**form, "step": "apply"})
    assert "already been sent" in again
    # the same key for another change is refused; a form without a key too
    other = {**form, "group": "demo-usd", "step": "apply"}
    assert post(desk.admin, f"/console/accounts/{login}/state", other).startswith("409")
    bare = {"action": "move", "group": "demo-usd", "step": "apply"}
    assert post(desk.admin, f"/console/accounts/{login}/state", bare).startswith("400")
    assert s.get_account(login, ROOT).group == "demo-usd2"


def test_a_password_reset_is_confirmed_then_applied_once(desk: Desk) -> None:
    login = desk.demo["alice"]
    keys = keys_of(desk.admin.get(f"/console/accounts/{login}").text)
    form = {
        "action": "password",
        "kind": "main",
        "password": "N3w!Passw0rd",
        "key": keys["password"],
    }
    review = post(desk.admin, f"/console/accounts/{login}/state", form)
    assert "Set a new main password for account" in review
    before = actions(desk, login).count("account.password_changed")
    done = post(desk.admin, f"/console/accounts/{login}/state", {**form, "step": "apply"})
    assert "The main password was changed." in done
    again = post(desk.admin, f"/console/accounts/{login}/state", {**form, "step": "apply"})
    assert "already been sent" in again
    after = actions(desk, login).count("account.password_changed")
    assert after - before == 1  # changed once


def test_the_confirmation_says_beforehand_whether_the_amount_waits(desk: Desk) -> None:
    login = desk.demo["alice"]
    form = {"operation": "withdrawal", "amount": "50", "key": "k-thr"}
    page = post(desk.admin, f"/console/accounts/{login}/money", form)
    assert 'id="no-threshold"' in page
    desk.runtime.app.set_approval_threshold(SetApprovalThreshold("USD", "100"), ROOT)
    assert 'id="below-threshold"' in post(desk.admin, f"/console/accounts/{login}/money", form)
    page = post(desk.admin, f"/console/accounts/{login}/money", {**form, "amount": "100.01"})
    assert 'id="will-wait"' in page and "(USD 100.00)" in page
    desk.runtime.app.set_approval_threshold(
        SetApprovalThreshold("USD", "1000", group="demo-usd"), ROOT
    )  # the group's own threshold comes first
    page = post(desk.admin, f"/console/accounts/{login}/money", {**form, "amount": "500"})
    assert 'id="below-threshold"' in page and "(USD 1000.00)" in page


def test_credit_bonus_and_correction_are_confirmed_and_applied(desk: Desk) -> None:
    login = desk.demo["bruno"]
    s = desk.runtime.app
    for i, (op, amount) in enumerate(
        (
            ("deposit", "100"),
            ("credit", "50"),
            ("bonus", "20"),
            ("correction", "-5"),
            ("withdrawal", "10"),
        )
    ):
        form = {"operation": op, "amount": amount, "comment": f"c{i}", "key": f"k-op-{i}"}
        confirm = post(desk.admin, f"/console/accounts/{login}/money", form)
        assert confirm.startswith("200") and 'id="confirm"' in confirm, op
        done = post(desk.admin, f"/console/accounts/{login}/money", {**form, "step": "apply"})
        assert "Applied: operation #" in done, op
    state = s.get_trade_state(login, ROOT)
    assert (str(state.balance), str(state.credit), str(state.bonus)) == ("85.00", "50.00", "20.00")

"""MT5 over HTTP on both engines: hand edits of deals, positions and orders are refused after
MT5's own checks, and nothing changes; the manager reads its own record and cannot delete
itself; OTP secrets and certificates are not kept; tick/history answers the quotes kept."""

from __future__ import annotations

from typing import Any

import pytest

from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.core.trading.commands import OpenPosition, QuoteInput
from tests.dialects.mt5.conftest import MANAGER, Mt5

DONE = "0 Done"
PARAMS = "3 Invalid parameters"
PERMISSIONS = "8 Not enough permissions"
NOT_FOUND = "13 Not found"
SELF_DELETION = "3005 Attempt of self-deletion"
NOT_SUPPORTED = "12002 Command doesn't supported"


@pytest.fixture
def traded(mt5: Mt5) -> dict[str, int]:
    """A demoforex account with a deposit (a balance deal) and an open EURUSD buy."""
    mt5.services.set_quotes([QuoteInput("EURUSD", "1.10000", "1.10020")], mt5.admin)
    login = mt5.services.open_account(
        OpenAccount("demoforex", leverage=100, name="A"), mt5.admin
    ).login
    deposit = mt5.services.post_ledger_entry(PostLedgerEntry(login, "deposit", "10000"), mt5.admin)
    execution = mt5.services.open_position(OpenPosition(login, "EURUSD", "buy", "0.1"), mt5.admin)
    return {
        "login": login,
        "balance_deal": int(deposit.operation_id or 0),
        "trade_deal": execution.deal.id,
        "position": execution.deal.position_id,
    }


def unchanged(mt5: Mt5, traded: dict[str, int]) -> None:
    entries = mt5.services.list_ledger(LedgerQuery(login=traded["login"]), mt5.admin)
    assert [e.id for e in entries] == [traded["balance_deal"], traded["trade_deal"]]
    assert [f.position.id for f in mt5.services.list_positions(mt5.admin)] == [traded["position"]]
    assert mt5.ok(mt5.get("user/get", login=traded["login"]))["Balance"] == "10000.00"


# --- deals, positions and orders are not edited by hand -----------------------------------------


@pytest.mark.parametrize("command", ["deal/update", "deal/delete"])
def test_a_deal_is_never_edited_or_deleted(mt5: Mt5, traded: dict[str, int], command: str) -> None:
    for ticket in (traded["balance_deal"], traded["trade_deal"]):
        response = mt5.post(command, json={"Deal": str(ticket), "Profit": "999999"})
        assert response.json() == {"retcode": NOT_SUPPORTED}
        assert mt5.retcode(mt5.get(command, ticket=ticket)) == NOT_SUPPORTED
    unchanged(mt5, traded)


@pytest.mark.parametrize("command", ["position/update", "position/delete"])
def test_an_open_position_is_not_edited_or_deleted_by_hand(
    mt5: Mt5, traded: dict[str, int], command: str
) -> None:
    sent = {"Position": str(traded["position"]), "PriceSL": "1.05", "Comment": "x"}
    assert mt5.retcode(mt5.post(command, json=sent)) == NOT_SUPPORTED
    assert mt5.retcode(mt5.get(command, ticket=traded["position"])) == NOT_SUPPORTED
    unchanged(mt5, traded)


@pytest.mark.parametrize(
    "command", ["deal/update", "deal/delete", "position/update", "position/delete"]
)
def test_an_unknown_ticket_is_not_found_and_a_missing_one_invalid(
    mt5: Mt5, traded: dict[str, int], command: str
) -> None:
    assert mt5.retcode(mt5.get(command, ticket=987654)) == NOT_FOUND
    assert mt5.retcode(mt5.get(command)) == PARAMS
    assert mt5.retcode(mt5.get(command, ticket="abc")) == PARAMS


@pytest.mark.parametrize("command", ["order/update", "order/delete"])
def test_there_is_never_an_open_order_to_change(
    mt5: Mt5, traded: dict[str, int], command: str
) -> None:
    assert mt5.retcode(mt5.post(command, json={"Order": str(traded["trade_deal"])})) == NOT_FOUND
    assert mt5.retcode(mt5.get(command)) == PARAMS


def test_trade_record_changes_check_rights_then_reach(mt5: Mt5, traded: dict[str, int]) -> None:
    reader = mt5.as_manager(4001, rights=frozenset({"users:read", "reports:read"}))
    for command in ("deal/delete", "position/update", "order/delete"):
        assert reader.retcode(reader.get(command, ticket=traded["trade_deal"])) == PERMISSIONS
    elsewhere = mt5.as_manager(4002, group_mask="real\\*")
    assert elsewhere.retcode(elsewhere.get("deal/delete", ticket=traded["trade_deal"])) == (
        NOT_FOUND
    )
    assert elsewhere.retcode(elsewhere.get("position/delete", ticket=traded["position"])) == (
        NOT_FOUND
    )
    unchanged(mt5, traded)


# --- the manager as an account ------------------------------------------------------------------


def test_user_get_of_the_managers_own_login_answers_its_record(mt5: Mt5) -> None:
    record = mt5.ok(mt5.get("user/get", login=MANAGER))
    assert {k: record[k] for k in ("Login", "Group", "Name", "Rights", "Balance", "Leverage")} == {
        "Login": str(MANAGER),
        "Group": "managers\\administrators",
        "Name": "MT5 Manager",
        "Rights": "3",
        "Balance": "0.00",
        "Leverage": "100",
    }
    assert all(isinstance(v, str) for k, v in record.items() if k != "ApiData")
    dealer = mt5.as_manager(4003, rights=frozenset(SCOPES) - {"admin"})
    assert dealer.ok(dealer.get("user/get", login=4003))["Group"] == "managers\\dealers"
    assert dealer.retcode(dealer.get("user/get", login=MANAGER)) == NOT_FOUND


def test_an_account_with_the_managers_login_is_answered_as_itself(mt5: Mt5) -> None:
    mt5.add_user(login=str(MANAGER), name="Real Account")
    assert mt5.ok(mt5.get("user/get", login=MANAGER))["Name"] == "Real Account"


def test_a_manager_cannot_delete_itself(mt5: Mt5) -> None:
    assert mt5.get("user/delete", login=MANAGER).json() == {"retcode": SELF_DELETION}
    mt5.add_user(login=str(MANAGER))
    assert mt5.retcode(mt5.post("user/delete", json={"Login": str(MANAGER)})) == SELF_DELETION
    assert mt5.ok(mt5.get("user/get", login=MANAGER))["Group"] == "demoforex"


# --- second factors not kept --------------------------------------------------------------------


def test_otp_secret_is_empty_and_there_is_no_certificate(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]
    response = mt5.get("user/otp_secret/get", login=login)
    assert response.json() == {"retcode": DONE, "answer": {"OTPSecret": ""}}
    assert mt5.get("user/certificate/get", login=login).json() == {"retcode": NOT_FOUND}
    for command in ("user/otp_secret/get", "user/certificate/get"):
        assert mt5.retcode(mt5.get(command, login=999999)) == NOT_FOUND
        assert mt5.retcode(mt5.get(command)) == PARAMS
        assert mt5.retcode(mt5.get(command, login="x")) == PARAMS
    limited = mt5.as_manager(4004, group_mask="real\\*")
    assert limited.retcode(limited.get("user/otp_secret/get", login=login)) == NOT_FOUND
    clerk = mt5.as_manager(4005, rights=frozenset({"balances:write"}))
    assert clerk.retcode(clerk.get("user/otp_secret/get", login=login)) == PERMISSIONS


# --- tick/history -------------------------------------------------------------------------------


def test_tick_history_answers_the_kept_quote_inside_the_window(mt5: Mt5) -> None:
    mt5.services.set_quotes([QuoteInput("EURUSD", "1.10000", "1.10020")], mt5.admin)
    last: list[dict[str, Any]] = mt5.ok(mt5.get("tick/last", symbol="EURUSD"))
    at = int(last[0]["Datetime"])
    history = mt5.get("tick/history", symbol="EURUSD", **{"from": at - 60, "to": at + 60})
    assert history.json() == {"retcode": DONE, "answer": last}
    assert mt5.ok(mt5.get("tick/history", symbol="EURUSD", **{"from": at - 60})) == last
    before = mt5.get("tick/history", symbol="EURUSD", **{"from": 0, "to": at - 1})
    assert before.json() == {"retcode": DONE, "answer": []}
    assert mt5.ok(mt5.get("tick/history", symbol="XAUUSD")) == []


def test_tick_history_refuses_bad_parameters_and_unknown_symbols(mt5: Mt5) -> None:
    assert mt5.retcode(mt5.get("tick/history")) == PARAMS
    assert mt5.retcode(mt5.get("tick/history", symbol="EURUSD", **{"from": 10, "to": 5})) == (
        PARAMS
    )
    assert mt5.retcode(mt5.get("tick/history", symbol="EURUSD", **{"from": "x"})) == PARAMS
    assert mt5.retcode(mt5.get("tick/history", symbol="NOPE")) == NOT_FOUND

"""A trader's money: `changebalance` and `changebonus` through the core ledger, at most once per
request id (Web Services 4.6, 4.7)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.ctrader.auth import actor_of
from brokerplane.api.ctrader.errors import ERROR_TABLE, CTraderError, error_body, invalid
from brokerplane.api.ctrader.wire import Body, answer, error_response, services_of
from brokerplane.api.kit import idempotency as keyed
from brokerplane.api.kit.approvals import held_message, is_held
from brokerplane.application.idempotency import Replay
from brokerplane.core.errors import AmountLimitExceeded, ApprovalRequired, InvalidAmount
from brokerplane.core.kinds import Operation
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.money import MinorUnits

router = APIRouter()


# ---- money ----------------------------------------------------------------------------------

BALANCE_TYPES = {
    "DEPOSIT": Operation.DEPOSIT,
    "WITHDRAW": Operation.WITHDRAWAL,
    "WITHDRAWAL": Operation.WITHDRAWAL,  # seed 003's spelling
    "DEPOSIT_NONWITHDRAWABLE_BONUS": Operation.CREDIT_IN,
    "WITHDRAW_NONWITHDRAWABLE_BONUS": Operation.CREDIT_OUT,
    "WITHDRAWAL_NONWITHDRAWABLE_BONUS": Operation.CREDIT_OUT,
}
BONUS_TYPES = {
    "DEPOSIT": Operation.BONUS_IN,
    "WITHDRAW": Operation.BONUS_OUT,
    "WITHDRAWAL": Operation.BONUS_OUT,
}


def _posting_cmd(
    login: int, body: Body, types: dict[str, Operation], bad_amount: str
) -> PostLedgerEntry:
    sent = body.integer("login")
    if sent is not None and sent != login:
        raise invalid(f"login {sent} in the body differs from {login} in the path")
    kind_name = body.enum("type")
    if kind_name is None:
        raise invalid("type is required")
    if kind_name not in types:
        raise invalid("type must be one of " + ", ".join(t for t in types if "WITHDRAWAL" not in t))
    amount: Decimal | MinorUnits | None = body.decimal("preciseAmount")
    if amount is None:
        minor = body.integer("amount")
        if minor is None:
            raise invalid("preciseAmount is required")
        amount = MinorUnits(minor)  # the core reads the account's digits
    if (amount.units if isinstance(amount, MinorUnits) else amount) <= 0:
        raise CTraderError(400, bad_amount, "preciseAmount must be positive")
    comment = body.text("comment") or body.text("externalNote") or ""
    reference = body.text("externalId") or ""
    # The docs name a newer optional boolean that skips the margin checks (the withdrawal may
    # then leave less equity than the margin needs) but its name is unreadable there; we read
    # it as `skipMarginCheck`.
    check_margin = not body.boolean("skipMarginCheck")
    return PostLedgerEntry(
        login,
        types[kind_name],
        amount,
        comment=comment,
        reference=reference,
        check_margin=check_margin,
    )


def _rendered(posting: Posting, id_key: str) -> tuple[int, dict[str, Any]]:
    """An applied operation: its history id. A held one: cTrader's refusal for an operation
    above the approval threshold, naming the pending approval."""
    if is_held(posting):
        status, code = ERROR_TABLE[ApprovalRequired]
        return status, error_body(code, held_message(posting))
    return 200, {id_key: posting.operation_id}


def _respond(request: Request, status: int, body: dict[str, Any], family: str) -> Response:
    if status >= 400:
        error = body["error"]
        return error_response(request, status, error["errorCode"], error["description"])
    return answer(request, body, family)


async def _post(
    request: Request,
    login: int,
    family: str,
    types: dict[str, Operation],
    bad_amount: str,
    id_key: str,
) -> Response:
    actor = await actor_of(request)
    body = await Body.of(request)
    services = services_of(request)
    cmd = _posting_cmd(login, body, types, bad_amount)  # read from the body alone

    def label(posting: Posting) -> tuple[int, str | None]:
        return _rendered(posting, id_key)[0], str(posting.operation_id or "")

    # The key comes from the headers only: externalId is the client's reference, which CRMs
    # reuse as a label; an operation without a key applies each time it is sent.
    request_print = keyed.fingerprint(
        "ctrader",
        family,
        login,
        cmd.operation,
        cmd.amount,
        cmd.comment,
        cmd.reference,
        cmd.check_margin,
    )
    keyed_request = keyed.request_of(actor, keyed.sent_key(request.headers), request_print)
    actor = keyed.keyed_actor(actor, keyed_request)
    try:
        outcome = await run_in_threadpool(
            keyed.run, lambda: services.run(cmd, actor, keyed_request), label
        )
    except (InvalidAmount, AmountLimitExceeded) as err:
        raise CTraderError(400, bad_amount, err.detail) from None
    if isinstance(outcome, Replay):
        if outcome.response is not None:  # stored as it was sent, before answers were data
            stored = outcome.response
            status, data = stored.status or 200, json.loads(stored.body)
        else:
            status, data = _rendered(outcome.result, id_key)
        replay = _respond(request, status, data, family)
        replay.headers[keyed.REPLAY_HEADER] = "true"
        return replay
    status, data = _rendered(outcome, id_key)
    return _respond(request, status, data, family)


@router.post("/traders/{login:int}/changebalance")
async def change_balance(login: int, request: Request) -> Response:
    return await _post(
        request, login, "balance", BALANCE_TYPES, "CHANGE_BALANCE_BAD_AMOUNT", "balanceHistoryId"
    )


@router.post("/traders/{login:int}/changebonus")
async def change_bonus(login: int, request: Request) -> Response:
    return await _post(
        request, login, "bonus", BONUS_TYPES, "CHANGE_BONUS_BAD_AMOUNT", "bonusHistoryId"
    )

"""Account operations (money): POST /accountOperations through the core ledger, GET with
filters and offset/limit paging.

Operation types posted: 2 Deposit (a positive amount), 3 Withdrawal (TraderEvolution signs a
debit negative; a positive amount is read as the sum to take), 12 Adjustment (a signed balance
correction), 17 Transfer (from accountId to toAccountId, another account of the same user, in
one currency: both legs in one ledger operation, core.ledger.transfer; the answer is the
source leg with the target leg as counterOperation). 1 Trading comes from trading and 13
Dividends are not run: both are refused.

Listing: accountId, operationTypeId, startDate/endDate (epoch ms), isSettled (`true`: every
operation, as brokerplane settles each when it is posted; `false`: none), sort (`asc` or
`desc`, optionally after a field: `id,desc`, `time:desc`, `-id`; fields id, time, createdAt),
offset and limit.

TraderEvolution has no "held for approval" answer: above an approval threshold the operation
is held as a pending approval exactly as the native API holds it (whoever asks: nobody approves
their own operation) and answered 403 2.3.0.2, the message naming the approval; a different
manager approves it through `/v1/approvals`, and it is applied then.

Retries: POST takes an optional idempotency key in the `Idempotency-Key` (or `x-request-id`)
header. The same key and the same operation replay the first answer, status and body as they
were, with `Idempotent-Replay: true`; the same key with another operation is 400 1.9.0.8 and
nothing is applied; a repeat while the first is still running waits and replays its answer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.kit import idempotency as keyed
from brokerplane.api.kit.approvals import held_message, is_held
from brokerplane.api.traderevolution.auth import manager_of
from brokerplane.api.traderevolution.errors import ERROR_TABLE, error_body, invalid
from brokerplane.api.traderevolution.wire import (
    Body,
    answer,
    millis,
    paging,
    query_int,
    query_text,
    query_time,
    services_of,
    to_json,
)
from brokerplane.application.idempotency import Replay
from brokerplane.core.actor import Actor
from brokerplane.core.errors import ApprovalRequired
from brokerplane.core.idempotency import StoredResponse
from brokerplane.core.kinds import Operation
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry, Transfer, TransferFunds
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery, is_transfer_leg
from brokerplane.core.money import Currency, from_minor

router = APIRouter()

TYPE_NAMES = {
    1: "Trading",
    2: "Deposit",
    3: "Withdrawal",
    12: "Adjustment",
    13: "Dividends",
    17: "Transfer",
}
# operation type -> ledger kind, for the types brokerplane reads back (all but 1 may be posted
# here; trading posts 1, a deal's realised P/L)
KIND_OF_TYPE = {1: "trade", 2: "deposit", 3: "withdrawal", 12: "correction"}
TYPE_OF_KIND = {kind: type_id for type_id, kind in KIND_OF_TYPE.items()}
TRANSFER = 17
SORT_FIELDS = {"id", "time", "createdat", "date", "operationid"}
MAX_SORTED = 100_000  # entries read to answer a descending page


def type_of(entry: LedgerEntry) -> int | None:
    if is_transfer_leg(entry):
        return TRANSFER
    return TYPE_OF_KIND.get(entry.kind)


def operation_json(entry: LedgerEntry) -> dict[str, Any]:
    cur = Currency(entry.currency, entry.currency_digits)
    type_id = type_of(entry)
    return {
        "id": entry.id,
        "accountId": entry.login,
        "operationTypeId": type_id,
        "operationType": TYPE_NAMES[type_id] if type_id is not None else entry.kind,
        "amount": from_minor(entry.amount, cur),
        "balance": from_minor(entry.balance_after, cur),
        "credit": from_minor(entry.credit_after, cur),
        "currency": entry.currency,
        "comment": entry.comment,
        "time": millis(entry.at),
        "managerLogin": entry.manager_login,
        "isSettled": True,
    }


def _movement(type_id: int, amount: Decimal) -> tuple[Operation | None, Decimal]:
    """(ledger operation, amount as the ledger takes it) for a TE operation type; the
    operation is None for a transfer (operationTypeId 17)."""
    if type_id == 2:
        if amount <= 0:
            raise invalid(
                "a deposit (operationTypeId 2) takes a positive amount; use 3 to "
                "withdraw or 12 to adjust"
            )
        return Operation.DEPOSIT, amount
    if type_id == 3:
        if amount == 0:
            raise invalid("amount must not be zero")
        return Operation.WITHDRAWAL, abs(amount)
    if type_id == 12:
        if amount == 0:
            raise invalid("amount must not be zero")
        return Operation.CORRECTION, amount
    if type_id == TRANSFER:
        return None, abs(amount)  # a transfer: both legs, not one operation
    if type_id in TYPE_NAMES:
        raise invalid(
            f"operationTypeId {type_id} ({TYPE_NAMES[type_id]}) cannot be posted "
            "here; post 2 Deposit, 3 Withdrawal or 12 Adjustment"
        )
    raise invalid(
        f"operationTypeId {type_id} is unknown; post 2 Deposit, 3 Withdrawal or 12 Adjustment"
    )


@router.post("/accountOperations")
async def post_operation(request: Request) -> Response:
    actor = await manager_of(request)
    body = await Body.of(request)
    account_id = body.integer("accountId")
    if account_id is None:
        raise invalid("accountId is required")
    amount = body.decimal("amount")
    if amount is None:
        raise invalid("amount is required: signed, a debit negative")
    type_id = body.integer("operationTypeId")
    if type_id is None:
        raise invalid("operationTypeId is required: 2 Deposit, 3 Withdrawal, 12 Adjustment")
    operation, value = _movement(type_id, amount)
    comment = body.text("frontendComment", "comment") or ""
    if operation is None:  # a transfer
        target = body.integer("toAccountId", "counterAccountId", "recipientAccountId")
        if target is None:
            raise invalid(
                "a transfer (operationTypeId 17) needs toAccountId: another account "
                "of the same user"
            )
        return await _transfer(request, actor, account_id, target, value, comment)
    cmd = PostLedgerEntry(login=account_id, operation=operation, amount=value, comment=comment)
    request_print = keyed.fingerprint(
        "traderevolution", "accountOperations", account_id, operation, value, comment
    )
    keyed_request = keyed.request_of(actor, keyed.sent_key(request.headers), request_print)
    actor = keyed.keyed_actor(actor, keyed_request)
    services = services_of(request)
    outcome = await run_in_threadpool(
        keyed.run, lambda: services.run(cmd, actor, keyed_request), _label
    )
    if isinstance(outcome, Replay):
        stored = outcome.response or _stored(outcome.result)
        return _replayed(stored)
    status, text = _rendered(outcome)
    return Response(text, status_code=status, media_type="application/json")


async def _transfer(
    request: Request, actor: Actor, source: int, target: int, amount: Decimal, comment: str
) -> Response:
    cmd = TransferFunds(source, target, amount, comment, same_owner=True)
    request_print = keyed.fingerprint(
        "traderevolution", "transfer", source, target, amount, comment
    )
    keyed_request = keyed.request_of(actor, keyed.sent_key(request.headers), request_print)
    actor = keyed.keyed_actor(actor, keyed_request)
    services = services_of(request)
    outcome = await run_in_threadpool(
        keyed.run,
        lambda: services.run(cmd, actor, keyed_request),
        lambda done: (200, done.reference),
    )
    if isinstance(outcome, Replay):
        return _replayed(outcome.response or _stored_transfer(outcome.result))
    return Response(_transfer_text(outcome), media_type="application/json")


def _replayed(stored: StoredResponse) -> Response:
    headers = {keyed.REPLAY_HEADER: "true"}
    return Response(stored.body, stored.status or 200, headers, media_type="application/json")


def _transfer_text(done: Transfer) -> str:
    assert done.source.entry is not None and done.target.entry is not None
    return to_json(
        {
            **operation_json(done.source.entry),
            "transferId": done.reference,
            "counterOperation": operation_json(done.target.entry),
        }
    )


def _stored_transfer(done: Transfer) -> StoredResponse:
    return StoredResponse(200, _transfer_text(done), done.reference)


def _rendered(posting: Posting) -> tuple[int, str]:
    """An applied operation as TE shows it; a held one as TE's refusal naming the approval."""
    if is_held(posting):
        status, code = ERROR_TABLE[ApprovalRequired]
        return status, to_json(error_body(code, held_message(posting)))
    assert posting.entry is not None
    return 200, to_json(operation_json(posting.entry))


def _stored(posting: Posting) -> StoredResponse:
    status, text = _rendered(posting)
    return StoredResponse(status, text, str(posting.operation_id or ""))


def _label(posting: Posting) -> tuple[int, str | None]:
    """An operation as a reused key's refusal names it."""
    return _rendered(posting)[0], str(posting.operation_id or "")


def _sort(request: Request) -> bool:
    """Whether the answer goes newest first."""
    value = query_text(request, "sort")
    if value is None:
        return False
    text = value.strip().lower()
    direction = "asc"
    if text.startswith(("-", "+")):
        direction, text = ("desc" if text[0] == "-" else "asc"), text[1:]
    else:
        for sep in (",", ":", " "):
            if sep in text:
                text, _, direction = text.partition(sep)
                break
        else:
            if text in ("asc", "desc"):
                direction, text = text, "id"
    text, direction = text.strip(), direction.strip()
    if text not in SORT_FIELDS or direction not in ("asc", "desc"):
        raise invalid(
            "sort is asc or desc, optionally after a field: id,desc; time,asc; -id "
            "(fields: id, time, createdAt)"
        )
    return direction == "desc"


@router.get("/accountOperations")
async def list_operations(request: Request) -> Response:
    """Operations, oldest first (or newest first with sort): by accountId, operationTypeId,
    startDate and endDate (epoch milliseconds, both inclusive), isSettled, offset and limit
    (default 100, at most 1000)."""
    actor = await manager_of(request)
    offset, limit = paging(request, default_limit=100)
    account_id = query_int(request, "accountId", 1)
    type_id = query_int(request, "operationTypeId")
    start = query_time(request, "startDate")
    end = query_time(request, "endDate")
    if start is not None and end is not None and end < start:
        raise invalid("endDate must not be before startDate")
    settled = query_text(request, "isSettled")
    if settled is not None and settled.lower() not in ("true", "false"):
        raise invalid("isSettled must be true or false")
    descending = _sort(request)
    if settled is not None and settled.lower() == "false":
        return answer([])  # every operation is settled when it is posted
    kinds: tuple[str, ...] | None = None
    if type_id is not None:
        if type_id == TRANSFER:
            kinds = ("deposit", "withdrawal")
        elif type_id not in KIND_OF_TYPE:
            return answer([])
        else:
            kinds = (KIND_OF_TYPE[type_id],)
    query = LedgerQuery(
        login=account_id,
        kinds=kinds,
        time_from=start,
        time_to=end + timedelta(milliseconds=1) if end else None,
    )
    services = services_of(request)

    def run() -> list[dict[str, Any]]:
        entries: Iterator[LedgerEntry] = services.iter_ledger(query, actor)
        if type_id is not None:
            entries = (e for e in entries if type_of(e) == type_id)
        if not descending:
            return [operation_json(e) for e in islice(entries, offset, offset + limit)]
        last: deque[LedgerEntry] = deque(maxlen=offset + limit)
        for n, entry in enumerate(entries):
            if n >= MAX_SORTED:
                raise invalid(
                    f"more than {MAX_SORTED} operations match; narrow them with "
                    "accountId or dates to sort newest first"
                )
            last.append(entry)
        newest = list(reversed(last))
        return [operation_json(e) for e in newest[offset : offset + limit]]

    return answer(await run_in_threadpool(run))

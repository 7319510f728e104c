"""Trading: inbound trading webhooks placed with a user's webhook key, and the back office's
positions list.

POST /webhooks/orders (also POST /webhook) places a market order from an alert, TradingView's
included. The body is a JSON object:
    {"symbol": "EURUSD", "side": "buy", "volume": 0.1, "accountId": 100000,
     "comment": "...", "id": "...", "timestamp": 1718000000000}
- `side` (or `action`): buy, sell (any case, as TradingView's {{strategy.order.action}} gives
  them) or close: close every position of the symbol on the account; its volume is not used.
- `volume` (or `quantity`): lots, more than zero, within the symbol's limits and step.
- `accountId`: one of the key's user's accounts; without it, the user's first account (the
  lowest id). Another user's account reads as absent.
- The key: header `X-Api-Key: whk_...`, or the body's `apiKey`.
- The proof, one of:
  * header `X-Signature`: hex HMAC-SHA256 of the raw body bytes keyed with the 32 bytes of
    SHA-256(secret) (an optional `sha256=` prefix is allowed). When a signature is sent, only
    it counts.
  * the body's `secret`: the secret itself, for alert tools that cannot sign (TradingView).
    Whoever sees such a body holds the key: send it over HTTPS only.
- Replays: the body must carry `id` (or `requestId`: the sender's id of this alert, at most
  127 characters) and `timestamp` (epoch milliseconds, or ISO 8601 such as TradingView's
  {{timenow}}), both inside what the signature covers (or beside the secret). The timestamp
  must be within 5 minutes of the server's time; an id applies its order at most once per
  key: a repeat of the same body answers the first answer again with
  `Idempotent-Replay: true` and opens nothing, the same id with another body is refused. No
  header (X-Request-Id included) names the order: an unsigned header cannot make a replay
  look new.
The answer (200): the account, the deals the order made, the positions it left open (a netted
account's order may close or reverse one) and the account's figures after it. Nothing is
executed on any error: an unknown, expired or deleted key, a locked user, a bad signature, an
account not the user's, an unknown symbol, a bad volume, no quote, trading disabled.

GET /positions?accountId=&userId=&symbol=&offset=&limit= and GET /positions/{id}: open
positions with their current figures, for back-office users with users:read or reports:read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.jsonbody import BodyProblem, json_object
from brokerplane.api.kit import idempotency as keyed
from brokerplane.api.kit.replay import replay_response
from brokerplane.api.traderevolution.auth import client_ip, manager_of, request_id
from brokerplane.api.traderevolution.errors import NOT_AUTHENTICATED, TEError, invalid
from brokerplane.api.traderevolution.users import account_json
from brokerplane.api.traderevolution.wire import (
    DIALECT,
    Body,
    answer,
    millis,
    paging,
    path_id,
    query_int,
    query_text,
    services_of,
    throttle,
    to_json,
)
from brokerplane.application.app import Application
from brokerplane.application.idempotency import IdempotentRequest, Replay
from brokerplane.core.actor import Actor
from brokerplane.core.backoffice.commands import ACTIONS, WebhookFill, WebhookOrder, WebhookProof
from brokerplane.core.errors import Unauthorized
from brokerplane.core.idempotency import StoredResponse
from brokerplane.core.money import Currency, from_minor
from brokerplane.core.trading.commands import MAX_PAGE
from brokerplane.core.trading.model import Deal, PositionFigures, lots, price_of

router = APIRouter()

WEBHOOK_PATHS = ("/webhooks/orders", "/webhook")
MAX_TIMESTAMP = 253_402_300_799_999  # 9999-12-31 in epoch milliseconds
MAX_WEBHOOK_ID = 127


# ---- rendering ------------------------------------------------------------------------------


def _quantity(volume: int) -> Any:
    return lots(volume).normalize()


def position_json(fig: PositionFigures) -> dict[str, Any]:
    pos = fig.position
    cur = Currency(fig.currency, fig.currency_digits)
    return {
        "id": pos.id,
        "accountId": pos.login,
        "symbol": pos.symbol,
        "side": pos.side,
        "quantity": _quantity(pos.volume),
        "openPrice": pos.price_open,
        "currentPrice": price_of(fig.price_current, pos.digits),
        "profit": from_minor(fig.profit, cur),
        "margin": from_minor(fig.margin, cur),
        "currency": fig.currency,
        "openTime": millis(pos.opened_at),
        "comment": pos.comment,
    }


def deal_json(deal: Deal) -> dict[str, Any]:
    return {
        "id": deal.id,
        "accountId": deal.login,
        "positionId": deal.position_id,
        "symbol": deal.symbol,
        "side": deal.side,
        "entry": deal.entry,
        "quantity": _quantity(deal.volume),
        "price": deal.price_decimal,
        "profit": from_minor(deal.profit, Currency(deal.currency, deal.currency_digits)),
        "currency": deal.currency,
        "time": millis(deal.at),
        "comment": deal.comment,
    }


def fill_json(fill: WebhookFill) -> dict[str, Any]:
    risk = fill.risk
    priced = {f.position.id: f for f in risk.positions}
    left = [e.position.id for e in fill.executions if e.position is not None]
    return {
        "accountId": fill.account.login,
        "webhookKeyId": fill.key.id,
        "deals": [deal_json(e.deal) for e in fill.executions],
        "positions": [position_json(priced[pid]) for pid in left if pid in priced],
        "account": account_json(risk.account, risk.state()),
    }


# ---- the webhook ----------------------------------------------------------------------------


def _proof(request: Request, raw: bytes, body: Body) -> WebhookProof:
    """What the webhook sent to prove its key: the X-Signature of the raw body, else the
    secret in the body."""
    signature = request.headers.get("x-signature")
    secret = body.text("secret") if signature is None else None
    return WebhookProof(raw, signature, secret)


def _order(api_key: str, body: Body) -> WebhookOrder:
    side = body.text("side", "action")
    if side is None or side.strip().lower() not in ACTIONS:
        raise invalid("side is required: buy, sell or close")
    symbol = body.text("symbol", "ticker")
    if symbol is None or not symbol.strip():
        raise invalid("symbol is required")
    action = side.strip().lower()
    _, volume = body.pick("volume", "quantity")
    return WebhookOrder(
        api_key=api_key,
        action=action,
        symbol=symbol.strip(),
        volume=None if action == "close" else volume,
        login=body.integer("accountId", "account"),
        comment=body.text("comment") or "",
        sent_at=_sent_at(body),
        webhook_id=_webhook_id(body),
    )


def _sent_at(body: Body) -> datetime:
    """The body's `timestamp`: epoch milliseconds (a number or numeric string) or ISO 8601."""
    value = body.data.get("timestamp")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise invalid("timestamp is required: the alert's time in epoch milliseconds or ISO 8601")
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise invalid("timestamp must be epoch milliseconds or ISO 8601") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    stamp = body.integer("timestamp")
    if stamp is None or not 0 < stamp <= MAX_TIMESTAMP:
        raise invalid("timestamp must be epoch milliseconds or ISO 8601")
    return datetime.fromtimestamp(stamp / 1000, UTC)


def _webhook_id(body: Body) -> str:
    """The sender's id of the alert, from the body (signed, or beside the secret) only."""
    sent = body.text("id", "requestId")
    if sent is None or not sent.strip():
        raise invalid("id is required: a unique id of this alert, in the body")
    if len(sent.strip()) > MAX_WEBHOOK_ID:
        raise invalid(f"id must be at most {MAX_WEBHOOK_ID} characters")
    return sent.strip()


async def webhook(request: Request) -> Response:
    raw = await request.body()
    try:
        body = Body(json_object(raw))
    except BodyProblem as problem:
        raise invalid(str(problem)) from None
    api_key = request.headers.get("x-api-key") or body.text("apiKey")
    if api_key is None or not api_key.strip():
        raise TEError(
            401, NOT_AUTHENTICATED, "send the webhook key as 'X-Api-Key: whk_...' or as apiKey"
        )
    services = services_of(request)
    identity = await run_in_threadpool(services.authenticate_webhook_key, api_key.strip())
    # The proof first (one HMAC): the key's rate limit counts only proven requests, so whoever
    # knows the public apiKey cannot spend the user's allowance; failed proofs are limited
    # per address instead.
    try:
        services.prove_webhook(identity.key, _proof(request, raw, body))
    except (TEError, Unauthorized):
        await throttle(request, f"webhook-unproven:{client_ip(request) or 'unknown'}")
        raise
    await throttle(request, f"webhook:{identity.key.id}")
    order = _order(api_key.strip(), body)
    actor = Actor(
        manager_login=None, request_id=request_id(request), dialect=DIALECT, ip=client_ip(request)
    )
    key = order.webhook_id
    # The sender's id, claimed for the key before the order runs: a repeat while the first
    # runs is told it is in flight, a repeat after it gets the first fill again.
    wanted = IdempotentRequest(
        f"te-webhook:{identity.key.id}",
        key,
        hashlib.sha256(raw).hexdigest(),
        "id",
        claim_first=True,
    )
    actor = replace(actor, request_id=key)
    outcome = await run_in_threadpool(keyed.run, lambda: services.run(order, actor, wanted), _label)
    if isinstance(outcome, Replay):
        return replay_response(outcome.response or _stored(outcome.result))
    return answer(fill_json(outcome))


def _stored(fill: WebhookFill) -> StoredResponse:
    return StoredResponse(200, to_json(fill_json(fill)), str(fill.executions[0].deal.id))


def _label(fill: WebhookFill) -> tuple[int, str | None]:
    return 200, str(fill.executions[0].deal.id)


for _path in WEBHOOK_PATHS:
    router.add_api_route(_path, webhook, methods=["POST"])


# ---- positions ------------------------------------------------------------------------------


def _positions(
    services: Application, actor: Actor, logins: Sequence[int] | None, symbol: str | None
) -> Iterator[PositionFigures]:
    """Every matching open position, oldest first, page by page."""
    after: int | None = None
    while True:
        page = services.list_positions(
            actor, logins=logins, symbol=symbol, after_id=after, limit=MAX_PAGE
        )
        yield from page
        if len(page) < MAX_PAGE:
            return
        after = page[-1].position.id


@router.get("/positions")
async def list_positions(request: Request) -> Response:
    """Open positions by accountId, userId (that user's accounts) and symbol, with offset and
    limit (default and at most 1000)."""
    actor = await manager_of(request)
    offset, limit = paging(request)
    account_id = query_int(request, "accountId", 1)
    user_id = query_int(request, "userId", 1)
    symbol = query_text(request, "symbol")
    services = services_of(request)

    def run() -> list[dict[str, Any]]:
        logins = None if account_id is None else [account_id]
        if user_id is not None:
            owned = [a.login for a in services.get_user_with_accounts(user_id, actor).accounts]
            logins = owned if logins is None else [x for x in logins if x in owned]
            if not logins:
                return []
        found = _positions(services, actor, logins, symbol)
        return [position_json(f) for f in islice(found, offset, offset + limit)]

    return answer(await run_in_threadpool(run))


@router.get("/positions/{position_id}")
async def get_position(request: Request, position_id: str) -> Response:
    actor = await manager_of(request)
    pid = path_id(position_id, "positionId")
    found = await run_in_threadpool(services_of(request).get_position, pid, actor)
    return answer(position_json(found))

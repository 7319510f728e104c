"""Events for CRMs: the pull feed (JSON pages or Server-Sent Events) and webhook subscriptions.

The outbox holds the core's snapshots; this module renders them in the native API's shapes
(an account as GET /v1/users/{login} answers, a ledger entry as GET /v1/ledger does), for the
feed, the stream and the webhook worker alike."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import weakref
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from brokerplane.api.kit.appstate import app_state
from brokerplane.api.native.accounts import ACCOUNT_OUT_FIELDS
from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.wire import COMMON_ERRORS, NativeRoute, iso, services
from brokerplane.core.account.model import RIGHT_ENABLED
from brokerplane.core.actor import Actor
from brokerplane.core.errors import CoreError, RateLimited, ValidationError
from brokerplane.core.events import commands as events
from brokerplane.core.events.model import MARGIN_TYPES, TYPES, Event
from brokerplane.core.money import Currency, format_minor
from brokerplane.core.validate import MAX_ID

router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)

MAX_QUERY_TYPES_LENGTH = 2048
# Server-Sent Events: how often a stream looks for new events, and how often it sends a
# keep-alive comment when there are none; a stream ends after STREAM_MAX_S (the client
# reconnects with Last-Event-ID, and its key is checked again then). Its key and reach are
# checked again every BROKERPLANE_EVENTS_STREAM_RECHECK_S.
STREAM_POLL_S = 0.5
STREAM_KEEPALIVE_S = 15.0
STREAM_MAX_S = 3600.0


# ---- rendering ------------------------------------------------------------------------------


def _time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(value)
    text = str(value)
    return text.replace("+00:00", "Z")


def _money(units: Any, data: dict[str, Any]) -> str | None:
    if units is None:
        return None
    try:
        cur = Currency(str(data.get("currency") or "USD"), int(data.get("currency_digits") or 2))
        return format_minor(int(units), cur)
    except (TypeError, ValueError):
        return None


_ACCOUNT_MONEY = ("balance", "credit", "bonus")
_ACCOUNT_TIMES = ("disabled_at", "registered_at", "updated_at", "last_access", "last_pass_change")


def _account(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ACCOUNT_OUT_FIELDS:
        if name == "enabled":
            out[name] = bool(int(data.get("rights") or 0) & RIGHT_ENABLED)
        elif name in _ACCOUNT_MONEY:
            out[name] = _money(data.get(name), data)
        elif name in _ACCOUNT_TIMES:
            out[name] = _time(data.get(name))
        else:
            out[name] = data.get(name)
    return out


def _entry(data: dict[str, Any], ev: Event) -> dict[str, Any]:
    out = {
        "operation_id": data.get("id"),
        "login": data.get("login"),
        "kind": data.get("kind"),
        "amount": _money(data.get("amount"), data),
        "balance": _money(data.get("balance_after"), data),
        "credit": _money(data.get("credit_after"), data),
        "bonus": _money(data.get("bonus_after"), data),
        "currency": data.get("currency"),
        "comment": data.get("comment", ""),
        "reference": data.get("reference", ""),
        "time": _time(ev.at),
        "manager_login": data.get("manager_login", ev.manager_login),
        "approval_id": data.get("approval_id"),
    }
    if data.get("deal") is not None:
        out["deal"] = _deal(data["deal"], data)
    return out


def _lots(value: Any) -> str | None:
    """Lots as the native API writes them: at least two decimals ("1.00", "0.0015")."""
    try:
        lots = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None if value is None else str(value)
    two = lots.quantize(Decimal("0.01"))
    return str(two) if two == lots else str(lots.normalize())


def _deal(deal: dict[str, Any], money: dict[str, Any]) -> dict[str, Any]:
    """A deal as GET /v1/deals names its fields (the audit snapshot's subset of them), its
    profit in the account currency; `money` carries the currency."""
    return {
        "id": deal.get("id"),
        "login": money.get("login", deal.get("login")),
        "position_id": deal.get("position", deal.get("position_id")),
        "symbol": deal.get("symbol"),
        "side": deal.get("side"),
        "entry": deal.get("entry"),
        "volume": _lots(deal.get("volume")),
        "price": None if deal.get("price") is None else str(deal["price"]),
        "profit": _money(deal.get("profit") or 0, money),
        "currency": money.get("currency"),
    }


def _position_event(data: dict[str, Any], ev: Event) -> dict[str, Any]:
    money = {**data, "login": ev.login}
    position = data.get("position")
    if position is not None:
        position = {**position, "volume": _lots(position.get("volume"))}
    deal = data.get("deal")
    return {
        "position": position,
        "position_id": data.get("position_id"),
        "deal": None if deal is None else _deal(deal, money),
        "currency": data.get("currency"),
    }


def _approval(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": data.get("id"),
        "state": data.get("state"),
        "login": data.get("login"),
        "kind": data.get("kind"),
        "amount": _money(data.get("amount"), data),
        "currency": data.get("currency"),
        "comment": data.get("comment", ""),
        "reference": data.get("reference", ""),
        "requested_by": data.get("requested_by"),
        "requested_at": _time(data.get("requested_at")),
        "expires_at": _time(data.get("expires_at")),
        "decided_by": data.get("decided_by"),
        "decided_at": _time(data.get("decided_at")),
        "decision_comment": data.get("decision_comment"),
        "operation_id": data.get("entry_id"),
    }


def render_data(ev: Event) -> dict[str, Any]:
    data = ev.data or {}
    if ev.type in MARGIN_TYPES:  # the risk pass's figures, already in decimal strings
        return dict(data)
    if ev.type.startswith("account."):
        return _account(data)
    if ev.type == "ledger.entry_posted":
        return _entry(data, ev)
    if ev.type.startswith("approval."):
        return _approval(data)
    if ev.type.startswith("position."):
        return _position_event(data, ev)
    return dict(data)


def render_event(ev: Event) -> dict[str, Any]:
    return {
        "id": ev.id,
        "type": ev.type,
        "time": _time(ev.at),
        "login": ev.login,
        "group": ev.group,
        "white_label": ev.broker,
        "actor": {
            "manager_login": ev.manager_login,
            "key_id": ev.key_id,
            "operator_id": ev.operator_id,
        },
        "dialect": ev.dialect,
        "request_id": ev.request_id,
        "data": render_data(ev),
    }


# ---- the feed ------------------------------------------------------------------------------


class EventOut(BaseModel):
    id: int = Field(description="the event's position in commit order; resume after it")
    type: str
    time: datetime
    login: int | None
    group: str | None
    white_label: str | None
    actor: dict[str, Any]
    dialect: str
    request_id: str | None
    data: dict[str, Any] = Field(description="the native API's shape of what changed")


class EventPageOut(BaseModel):
    items: list[EventOut]
    next: int = Field(description="pass as ?after= for the next page")
    head: int = Field(
        description="the newest event id when the page was read; for a key limited by reach, "
        "the same as `next` (nothing about other groups' events)"
    )
    more: bool = Field(description="whether events past `next` exist (read again at once)")


class EventTypesOut(BaseModel):
    items: list[str]


def _types(raw: list[str]) -> tuple[str, ...]:
    if sum(len(x) + 1 for x in raw) > MAX_QUERY_TYPES_LENGTH:
        raise ValidationError.field("types", f"at most {MAX_QUERY_TYPES_LENGTH} characters")
    names = [n for item in raw for n in item.split(",")]
    return events.parse_types(names)


def _after(raw: str | None, field: str = "after") -> int:
    if raw is None or not raw.strip():
        return 0
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_ID:
        raise ValidationError.field(field, "must be an event id this feed returned (0: the start)")
    return int(text)


class _Streams:
    """The bound on open event streams in this process, and on those of one key (half the
    slots, at least one: a single reporting key cannot take every slot and lock the other
    readers out). A slot is given back when its stream ends, and (should the stream never
    start, the client gone first) when it is collected."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.per_key = max(1, limit // 2)
        self.held: dict[int, str] = {}
        self.tokens = itertools.count(1)
        self.lock = threading.Lock()

    def enter(self, who: str = "") -> int:
        with self.lock:
            mine = sum(1 for holder in self.held.values() if holder == who)
            if len(self.held) >= self.limit or mine >= self.per_key:
                raise RateLimited(int(STREAM_KEEPALIVE_S))
            token = next(self.tokens)
            self.held[token] = who
            return token

    def leave(self, token: int) -> None:
        with self.lock:
            self.held.pop(token, None)

    @property
    def open(self) -> int:
        """Streams open now (the server's metrics)."""
        with self.lock:
            return len(self.held)


def _streams(request: Request) -> _Streams:
    state = app_state(request)
    found = getattr(state, "event_streams", None)
    if found is None:
        found = _Streams(state.runtime.settings.events_max_streams)
        state.event_streams = found
    return found


@router.get(
    "/events",
    response_model=EventPageOut,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "a page (JSON), or the stream with Accept: text/event-stream",
        }
    },
    tags=["events"],
    summary="The event feed: every committed change, in commit order (JSON pages or SSE)",
    description="Events after `after` (an event id; 0 or omitted: the oldest kept), of the "
    "accounts within the key's reach. With `Accept: text/event-stream` the same feed is sent "
    "as Server-Sent Events (`id:` is the event id; `Last-Event-ID` resumes). Needs "
    "`reports:read`. Contact details are blank without `personal_data`; events about "
    "managers and keys are for `admin` keys of unlimited reach.",
)
async def read_events(
    request: Request,
    actor: Actor = Depends(current_actor),
    after: str | None = Query(None, description="an event id; the page starts after it"),
    types: list[str] = Query(
        [], description="event types or prefixes (`account.`), repeated or comma-separated"
    ),
    group: str | None = Query(None, max_length=1024, description="a group mask (`demo*`)"),
    limit: int = Query(100, ge=1, le=events.MAX_PAGE),
) -> Response:
    wanted = _types(types)
    accept = request.headers.get("accept", "")
    if "text/event-stream" in accept:
        resume = request.headers.get("last-event-id")
        start = _after(resume, "Last-Event-ID") if resume else _after(after)
        cmd = events.ReadEvents(after_id=start, types=wanted, group=group, limit=limit)
        core = services(request)
        first = await run_in_threadpool(core.read_events, cmd, actor)  # errors answer now
        streams = _streams(request)
        token = streams.enter(actor.key_id or f"manager:{actor.manager_login}")
        presented = request.headers.get("authorization", "").partition(" ")[2].strip()
        body = _stream(request, actor, presented, cmd, first, token)
        weakref.finalize(body, streams.leave, token)
        return StreamingResponse(
            body,
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )
    cmd = events.ReadEvents(after_id=_after(after), types=wanted, group=group, limit=limit)
    page = await run_in_threadpool(services(request).read_events, cmd, actor)
    return JSONResponse(
        {
            "items": [render_event(e) for e in page.events],
            "next": page.next_after,
            "head": page.head,
            "more": page.has_more,
        }
    )


def _sse(ev: Event) -> bytes:
    body = json.dumps(render_event(ev), separators=(",", ":"))
    return f"id: {ev.id}\nevent: {ev.type}\ndata: {body}\n\n".encode()


async def _recheck(core: Any, presented: str, actor: Actor) -> Actor | None:
    """The stream's reader as its key stands now: None when the key no longer authenticates
    (revoked, expired, its manager disabled) or no longer reads the feed; else the actor with
    the manager's current scopes and reach (a reach narrowed or widened applies from then on)."""
    try:
        identity = await run_in_threadpool(core.authenticate_key, presented)
    except CoreError:
        return None
    if not {"admin", *events.FEED_SCOPES} & set(identity.scopes):
        return None
    return replace(
        actor,
        scopes=identity.scopes,
        group_mask=identity.manager.group_mask,
        white_labels=identity.manager.white_labels,
    )


async def _stream(
    request: Request,
    actor: Actor,
    presented: str,
    cmd: events.ReadEvents,
    first: Any,
    token: int,
) -> AsyncIterator[bytes]:
    core = services(request)
    streams = _streams(request)
    recheck_s = app_state(request).runtime.settings.events_stream_recheck_s
    loop = asyncio.get_running_loop()
    started = last_sent = checked = loop.time()
    page = first
    try:
        yield b": brokerplane event stream\nretry: 2000\n\n"
        while loop.time() - started < STREAM_MAX_S:
            if loop.time() - checked >= recheck_s:
                current = await _recheck(core, presented, actor)
                if current is None:
                    return
                if current != actor:  # read again under the reach that holds now
                    actor = current
                    page = await run_in_threadpool(core.read_events, cmd, actor)
                checked = loop.time()
            for ev in page.events:
                yield _sse(ev)
                last_sent = loop.time()
            # the stream's own cursor: past what it read through (never sent to the reader)
            resume = page.next_after if page.resume is None else page.resume
            cmd = events.ReadEvents(
                after_id=resume, types=cmd.types, group=cmd.group, limit=cmd.limit
            )
            if not page.has_more:
                if await request.is_disconnected():
                    return
                if loop.time() - last_sent >= STREAM_KEEPALIVE_S:
                    yield b": keep-alive\n\n"
                    last_sent = loop.time()
                await asyncio.sleep(STREAM_POLL_S)
            page = await run_in_threadpool(core.read_events, cmd, actor)
    except CoreError:  # the read refused under the new reach (say, admin types no more)
        return
    finally:
        streams.leave(token)


@router.get(
    "/events/types",
    tags=["events"],
    response_model=EventTypesOut,
    summary="Every event type the feed carries",
)
async def event_types(actor: Actor = Depends(current_actor)) -> Response:
    actor.require_any(*events.FEED_SCOPES)
    return JSONResponse({"items": list(TYPES)})

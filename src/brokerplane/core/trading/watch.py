"""The risk pass: margin-call and stop-out crossings, found by a periodic look at the accounts
that hold positions, recorded once as state changes (with their events).

Margin levels move with every quote, and pricing every account on every quote would stall the
quote feed of a large book; so the server looks every BROKERPLANE_RISK_PASS_INTERVAL_S instead,
a bounded batch of accounts at a time, read without locks. Each account's level (equity /
margin x 100, as the margin-call report computes it) is classed against its group's levels:

- `stop_out`: at or below the group's stop-out level;
- `margin_call`: at or below the margin-call level (above stop out);
- `ok`: above the margin-call level, or no margin in use.

The class each account was last seen in is stored (storage's margin_states: no row is `ok`).
A class different from the stored one is a crossing, recorded in one transaction with an audit
record by the system actor, from which the outbox derives the event:

| stored -> seen | event |
|---|---|
| ok -> margin_call | account.margin_call |
| ok or margin_call -> stop_out | account.stop_out |
| margin_call or stop_out -> ok | account.margin_restored |
| stop_out -> margin_call | none (still in margin call; stop out is armed again) |

The stored state changes only from the state the pass read (a conditional write), so two
passes (two server processes) seeing the same crossing record it once. An account that cannot
be priced (no quote converts its currency) keeps its state until it can.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from brokerplane.core.account.model import Account, AccountQuery
from brokerplane.core.actor import Actor, system_actor
from brokerplane.core.audit.service import record
from brokerplane.core.errors import NoQuote
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from brokerplane.core.money import currency, format_minor
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.trading.model import Position, PositionQuery, Risk
from brokerplane.core.trading.risk import load_market, risk_of

OK, MARGIN_CALL, STOP_OUT = "ok", "margin_call", "stop_out"
MAX_BATCH = 10_000
_CHUNK = 1000
_CENT = Decimal("0.01")

# (stored, seen) -> the audit action (the events derive from it; "account.margin_state" has none)
ACTIONS: dict[tuple[str, str], str] = {
    (OK, MARGIN_CALL): "account.margin_call",
    (OK, STOP_OUT): "account.stop_out",
    (MARGIN_CALL, STOP_OUT): "account.stop_out",
    (MARGIN_CALL, OK): "account.margin_restored",
    (STOP_OUT, OK): "account.margin_restored",
    (STOP_OUT, MARGIN_CALL): "account.margin_state",
}


def margin_level(risk: Risk) -> Decimal | None:
    """Equity / margin in %, to the cent; None without margin in use."""
    if risk.margin <= 0:
        return None
    return (Decimal(risk.equity) / risk.margin * 100).quantize(_CENT)


def classify(level: Decimal | None, group: Group) -> str:
    if level is None:
        return OK
    if level <= group.stop_out:
        return STOP_OUT
    if level <= group.margin_call:
        return MARGIN_CALL
    return OK


@dataclass(frozen=True)
class Crossing:
    login: int
    before: str
    after: str
    level: Decimal
    # The account's figures when seen (the event's data); None: the account is gone.
    snapshot: dict[str, Any] | None


@dataclass(frozen=True)
class PassResult:
    crossings: list[Crossing] = field(default_factory=list)
    # Where the next batch starts (a login); 0: this batch ended the cycle.
    next_after: int = 0
    checked: int = 0
    # Crossings this pass recorded (others were recorded by another pass first).
    recorded: int = 0


def _snapshot(
    risk: Risk, group: Group, state: str, before: str, level: Decimal | None
) -> dict[str, Any]:
    acc = risk.account
    cur = currency(acc.currency, acc.currency_digits)

    def money(units: int) -> str:
        return format_minor(units, cur)

    return {
        "login": acc.login,
        "group": group.name,
        "broker": acc.broker,
        "state": state,
        "previous_state": before,
        "margin_level": str(level if level is not None else "0.00"),
        "margin_call": str(group.margin_call),
        "stop_out": str(group.stop_out),
        "balance": money(acc.balance),
        "credit": money(acc.credit),
        "equity": money(risk.equity),
        "margin": money(risk.margin),
        "free_margin": money(risk.free_margin),
        "profit": money(risk.profit),
        "currency": acc.currency,
        "positions": len(risk.positions),
    }


def _positions(uow: UnitOfWork, logins: tuple[int, ...]) -> dict[int, list[Position]]:
    found: dict[int, list[Position]] = defaultdict(list)
    after: int | None = None
    while True:
        page = uow.trading.list_positions(PositionQuery(logins=logins, after_id=after, limit=1000))
        for pos in page:
            found[pos.login].append(pos)
        if len(page) < 1000:
            return found
        after = page[-1].id


def scan(uow: UnitOfWork, after_login: int, limit: int) -> PassResult:
    """Class the next `limit` watched accounts after `after_login` (read only); the crossings
    are what differs from the stored states."""
    limit = max(1, min(limit, MAX_BATCH))
    logins = tuple(uow.events.watched_logins(after_login, limit))
    if not logins:
        return PassResult()
    stored: dict[int, str] = {}
    accounts: dict[int, Account] = {}
    positions: dict[int, list[Position]] = {}
    for start in range(0, len(logins), _CHUNK):  # bounded statements, whatever the batch
        chunk = logins[start : start + _CHUNK]
        stored.update(uow.events.margin_states(chunk))
        found = uow.accounts.list(AccountQuery(logins=chunk, limit=len(chunk)))
        accounts.update((a.login, a) for a in found)
        positions.update(_positions(uow, chunk))
    groups = {g.id: g for g in uow.groups.list()}
    market = load_market(uow) if positions else None
    crossings: list[Crossing] = []
    for login in logins:
        before = stored.get(login, OK)
        acc = accounts.get(login)
        group = groups.get(acc.group_id) if acc is not None else None
        if acc is None or group is None:  # gone (deleted or archived): forget its state
            if before != OK:
                crossings.append(Crossing(login, before, OK, Decimal(0), None))
            continue
        try:
            risk = risk_of(
                acc, positions.get(login, []), market, acc.margin_mode or group.margin_mode
            )
        except NoQuote:
            continue
        level = margin_level(risk)
        after = classify(level, group)
        if after != before:
            crossings.append(
                Crossing(
                    login,
                    before,
                    after,
                    level or Decimal(0),
                    _snapshot(risk, group, after, before, level),
                )
            )
    nxt = logins[-1] if len(logins) == limit else 0
    return PassResult(crossings, nxt, len(logins))


RISK_ACTOR: Actor = system_actor("risk-pass", Dialect.SYSTEM)


def record_crossings(uow: UnitOfWork, crossings: list[Crossing], now: datetime) -> int:
    """Record each crossing whose account is still in the state the scan read (a crossing
    another pass recorded first is skipped); how many were recorded."""
    done = 0
    for c in crossings:
        if not uow.events.set_margin_state(c.login, c.before, c.after, c.level, now):
            continue
        done += 1
        if c.snapshot is None:
            continue
        action = ACTIONS[(c.before, c.after)]
        record(uow, RISK_ACTOR, now, action, "account", c.login, {"state": c.before}, c.snapshot)
    return done

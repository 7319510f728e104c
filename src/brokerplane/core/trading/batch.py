"""Batch reads of ledger entries and trade deals across accounts: by logins, by a group mask,
by tickets, or any of them together (their union), within a time window, in ticket order.

A batch reads at most `limit` rows (MAX_BATCH at most) and says whether more matched: the
caller narrows the window (or the selection) for the rest. Reach applies as everywhere:
logins and tickets of accounts out of reach are left out, as if they did not exist; a group
mask only ever widens to the groups the actor reaches.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from brokerplane.core import masks
from brokerplane.core.access import reach
from brokerplane.core.account.checks import check_login
from brokerplane.core.actor import Actor
from brokerplane.core.errors import ValidationError
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.trading.commands import MAX_BATCH, BatchSelection
from brokerplane.core.trading.model import Deal, DealQuery

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "DEAL_SCOPES",
    "LEDGER_SCOPES",
    "MAX_TICKET",
    "PAGE",
    "Batch",
    "BatchSelection",
    "R",
    "batch_deals",
    "batch_entries",
    "deals_by_ids",
]

PAGE = 1000  # rows (and logins or tickets) per query
LEDGER_SCOPES = ("balances:write", "reports:read")
DEAL_SCOPES = ("users:read", "reports:read")
MAX_TICKET = 2**63 - 1


class _HasId(Protocol):
    @property
    def id(self) -> int | None: ...


R = TypeVar("R", bound=_HasId)


@dataclass(frozen=True)
class Batch(Generic[R]):
    rows: list[R]
    complete: bool  # False: more rows matched than `limit`


def _check(sel: BatchSelection) -> None:
    if sel.logins is None and not sel.group_mask and sel.tickets is None:
        raise ValidationError.field("login", "give logins, a group mask or tickets")
    if not 1 <= sel.limit <= MAX_BATCH:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_BATCH}")
    for login in sel.logins or ():
        check_login(login, "login")
    for ticket in sel.tickets or ():
        if isinstance(ticket, bool) or not isinstance(ticket, int) or not 0 < ticket <= MAX_TICKET:
            raise ValidationError.field("ticket", f"must be between 1 and {MAX_TICKET}")
    if sel.time_from and sel.time_to and sel.time_to < sel.time_from:
        raise ValidationError.field("to", "is before from")


def _scopes(
    uow: UnitOfWork, sel: BatchSelection, actor: Actor
) -> list[tuple[tuple[int, ...] | None, tuple[int, ...] | None, tuple[int, ...] | None]]:
    """The selections as (group ids, logins, ids) filters, each within the actor's reach."""
    group_ids, _ = reach.query_scope(uow, actor)
    out: list[tuple[tuple[int, ...] | None, tuple[int, ...] | None, tuple[int, ...] | None]] = []
    for chunk in _chunks(sorted(set(sel.logins or ()))):
        out.append((group_ids, chunk, None))
    for chunk in _chunks(sorted(set(sel.tickets or ()))):
        out.append((group_ids, None, chunk))
    if sel.group_mask:
        wanted = masks.parse(sel.group_mask, "group")
        ids = tuple(
            g.id for g in uow.groups.list() if wanted.admits(g.name) and actor.reaches_group(g.name)
        )
        out.append((ids, None, None))
    return out


def _chunks(values: Sequence[int]) -> Iterator[tuple[int, ...]]:
    for start in range(0, len(values), PAGE):
        yield tuple(values[start : start + PAGE])


def _stream(read: Callable[[int | None], list[R]]) -> Iterator[R]:
    after: int | None = None
    while True:
        rows = read(after)
        yield from rows
        if len(rows) < PAGE:
            return
        after = rows[-1].id


def _union(streams: Iterable[Iterator[R]], limit: int) -> Batch[R]:
    """The streams (each in id order) merged, without repeats, up to `limit` rows."""
    rows: list[R] = []
    last: int | None = None
    for row in heapq.merge(*streams, key=lambda r: r.id or 0):
        if row.id == last:
            continue
        if len(rows) == limit:
            return Batch(rows, complete=False)
        rows.append(row)
        last = row.id
    return Batch(rows, complete=True)


def batch_entries(uow: UnitOfWork, sel: BatchSelection, actor: Actor) -> Batch[LedgerEntry]:
    """Ledger entries (balance operations and the P/L of trade deals) of the selection."""
    actor.require_any(*LEDGER_SCOPES)
    _check(sel)
    _, brokers = reach.query_scope(uow, actor)

    def stream(
        groups: tuple[int, ...] | None, logins: tuple[int, ...] | None, ids: tuple[int, ...] | None
    ) -> Iterator[LedgerEntry]:
        if groups == ():
            return iter(())
        return _stream(
            lambda after: uow.ledger.list(
                LedgerQuery(
                    logins=logins,
                    ids=ids,
                    group_ids=groups,
                    broker_mask=brokers,
                    time_from=sel.time_from,
                    time_to=sel.time_to,
                    after_id=after,
                    limit=PAGE,
                )
            )
        )

    return _union((stream(*s) for s in _scopes(uow, sel, actor)), sel.limit)


def batch_deals(uow: UnitOfWork, sel: BatchSelection, actor: Actor) -> Batch[Deal]:
    """Trade deals of the selection."""
    actor.require_any(*DEAL_SCOPES)
    _check(sel)
    _, brokers = reach.query_scope(uow, actor)

    def stream(
        groups: tuple[int, ...] | None, logins: tuple[int, ...] | None, ids: tuple[int, ...] | None
    ) -> Iterator[Deal]:
        if groups == ():
            return iter(())
        return _stream(
            lambda after: uow.trading.list_deals(
                DealQuery(
                    logins=logins,
                    ids=ids,
                    group_ids=groups,
                    broker_mask=brokers,
                    time_from=sel.time_from,
                    time_to=sel.time_to,
                    after_id=after,
                    limit=PAGE,
                )
            )
        )

    return _union((stream(*s) for s in _scopes(uow, sel, actor)), sel.limit)


def deals_by_ids(uow: UnitOfWork, ids: Sequence[int], actor: Actor) -> dict[int, Deal]:
    """The trade deals of these tickets that the actor reaches, by ticket (for rendering the
    ledger entries of a batch: one query per thousand)."""
    actor.require_any(*DEAL_SCOPES, *LEDGER_SCOPES)
    group_ids, brokers = reach.query_scope(uow, actor)
    found: dict[int, Deal] = {}
    for chunk in _chunks(sorted(set(ids))):
        query = DealQuery(ids=chunk, group_ids=group_ids, broker_mask=brokers, limit=PAGE)
        found.update({d.id: d for d in uow.trading.list_deals(query) if d.id is not None})
    return found

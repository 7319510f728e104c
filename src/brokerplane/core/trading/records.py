"""Hand edits of trade records: what may change once a deal or a position exists (nothing).

A deal is a ledger entry: its amount, price and time are history that `ledger verify` re-adds,
so it is never edited or deleted; a correction is a new entry. An open position carries the
figures its margin and profit are computed from (volume, open price); brokerplane keeps no
stops on it, and closing it is a deal. So every change is refused with RecordNotEditable,
after the rights and the record's existence within reach are checked, in that order: a
manager without the right learns nothing, and a record out of reach reads as absent.
"""

from __future__ import annotations

from brokerplane.core.actor import Actor
from brokerplane.core.errors import DealNotFound, PositionNotFound, RecordNotEditable
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.trading.commands import ChangeTradeRecord

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "RECORD_KINDS",
    "ChangeTradeRecord",
    "change_trade_record",
]

RECORD_KINDS = ("deal", "position")


def change_trade_record(uow: UnitOfWork, cmd: ChangeTradeRecord, actor: Actor) -> None:
    actor.require_for(cmd)
    if cmd.kind == "deal":
        # every ledger entry is a deal to MT5 (balance operations too)
        found = uow.ledger.list(LedgerQuery(after_id=cmd.ticket - 1, limit=1))
        entry = found[0] if found and found[0].id == cmd.ticket else None
        acc = uow.accounts.get(entry.login) if entry else None
        if entry is None or acc is None or not actor.reaches(acc.group, acc.broker):
            raise DealNotFound(cmd.ticket)
        raise RecordNotEditable(
            "a deal is a ledger entry: post a correction instead", ticket=cmd.ticket
        )
    if cmd.kind != "position":
        raise ValueError(f"no trade record kind {cmd.kind!r}")
    pos = uow.trading.get_position(cmd.ticket)
    acc = uow.accounts.get(pos.login) if pos else None
    if pos is None or acc is None or not actor.reaches(acc.group, acc.broker):
        raise PositionNotFound(cmd.ticket)
    raise RecordNotEditable(
        "an open position changes only by deals: close it instead", ticket=cmd.ticket
    )

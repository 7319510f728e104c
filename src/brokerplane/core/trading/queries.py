"""Trading reads: an account's trade state and risk, positions priced at the current quotes,
deals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from brokerplane.core import masks
from brokerplane.core.access import reach
from brokerplane.core.account.checks import check_login
from brokerplane.core.account.commands import ReadAccount
from brokerplane.core.account.model import Account, AccountQuery
from brokerplane.core.actor import Actor
from brokerplane.core.errors import AccountNotFound, DealNotFound, PositionNotFound, ValidationError
from brokerplane.core.group.model import Group
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.trading.commands import MAX_PAGE, PositionOf
from brokerplane.core.trading.model import (
    Deal,
    DealQuery,
    Position,
    PositionFigures,
    PositionQuery,
    Risk,
)
from brokerplane.core.trading.risk import account_risk, load_market, risk_of

READ_SCOPES = ("users:read", "reports:read")


def trade_state(uow: UnitOfWork, login: int, actor: Actor) -> Risk:
    """The account's figures and priced positions now."""
    actor.require_for(ReadAccount)
    acc = uow.accounts.get(check_login(login))
    if acc is None:
        raise AccountNotFound(login)
    return account_risk(uow, reach.check_account(actor, acc))


def risks(uow: UnitOfWork, accounts: Sequence[Account], actor: Actor) -> dict[int, Risk]:
    """The figures of accounts already read (a page of a listing), with one query for all
    their positions; accounts without positions need no prices."""
    actor.require("users:read")
    return priced_accounts(uow, accounts)


def priced_accounts(uow: UnitOfWork, accounts: Sequence[Account]) -> dict[int, Risk]:
    """`risks` for a caller that has checked the actor's right to read these accounts (a
    report's reader)."""
    by_login: dict[int, list[Position]] = defaultdict(list)
    logins = tuple(sorted({a.login for a in accounts}))
    for start in range(0, len(logins), MAX_PAGE):
        chunk = logins[start : start + MAX_PAGE]
        query = PositionQuery(logins=chunk, limit=MAX_PAGE)
        while True:
            page = uow.trading.list_positions(query)
            for pos in page:
                by_login[pos.login].append(pos)
            if len(page) < MAX_PAGE:
                break
            query = replace(query, after_id=page[-1].id)
    market = load_market(uow) if by_login else None
    groups = {g.id: g for g in uow.groups.list()} if by_login else {}
    out: dict[int, Risk] = {}
    for acc in accounts:
        held = by_login.get(acc.login, [])
        group = groups.get(acc.group_id)
        mode = acc.margin_mode or (group.margin_mode if group else "MAX")
        out[acc.login] = risk_of(acc, held, market, mode)
    return out


def priced_positions(uow: UnitOfWork, positions: list[Position]) -> list[PositionFigures]:
    """Positions with their current figures, for a caller that has checked the reader's
    right to see them (a report's reader)."""
    return _priced(uow, positions)


def _priced(uow: UnitOfWork, positions: list[Position]) -> list[PositionFigures]:
    """Positions with their current figures; accounts loaded once per page."""
    if not positions:
        return []
    logins = tuple(sorted({p.login for p in positions}))
    found = uow.accounts.list(AccountQuery(logins=logins, limit=len(logins)))
    accounts = {a.login: a for a in found}
    market = load_market(uow)
    out: list[PositionFigures] = []
    for pos in positions:
        acc = accounts.get(pos.login)
        if acc is not None:
            out.extend(risk_of(acc, [pos], market, "SUM").positions)
    return out


def list_positions(
    uow: UnitOfWork,
    actor: Actor,
    *,
    logins: Sequence[int] | None = None,
    group: str | None = None,
    symbol: str | None = None,
    after_id: int | None = None,
    limit: int = MAX_PAGE,
) -> list[PositionFigures]:
    """Open positions (oldest first) of these accounts, or of the groups matching the mask,
    within the actor's reach."""
    actor.require_any(*READ_SCOPES)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    group_ids, brokers = reach.query_scope(uow, actor)
    if group is not None:
        wanted = tuple(g.id for g in groups_matching(uow, group))
        group_ids = wanted if group_ids is None else tuple(set(group_ids) & set(wanted))
    if logins is not None:
        for login in logins:
            acc = uow.accounts.get(check_login(login))
            if acc is None:
                raise AccountNotFound(login)
            reach.check_account(actor, acc)
    query = PositionQuery(
        logins=tuple(logins) if logins is not None else None,
        symbol=symbol,
        after_id=after_id,
        limit=limit,
        group_ids=group_ids,
        broker_mask=brokers,
    )
    return _priced(uow, uow.trading.list_positions(query))


def get_position(uow: UnitOfWork, position_id: int, actor: Actor) -> PositionFigures:
    actor.require_any(*READ_SCOPES)
    pos = uow.trading.get_position(position_id)
    acc = uow.accounts.get(pos.login) if pos else None
    if pos is None or acc is None or not actor.reaches(acc.group, acc.broker):
        raise PositionNotFound(position_id)
    return _priced(uow, [pos])[0]


def get_account_position(uow: UnitOfWork, query: PositionOf, actor: Actor) -> PositionFigures:
    """The position, only when it is of the account (and symbol) named with it (a dealer's
    close names both): PositionNotFound otherwise, as for one out of reach."""
    figures = get_position(uow, query.position_id, actor)
    pos = figures.position
    if pos.login != query.login or (query.symbol and query.symbol != pos.symbol):
        raise PositionNotFound(query.position_id)
    return figures


def list_deals(uow: UnitOfWork, query: DealQuery, actor: Actor) -> list[Deal]:
    actor.require_any(*READ_SCOPES)
    if not 1 <= query.limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    if query.login is not None:
        acc = uow.accounts.get(check_login(query.login))
        if acc is None:
            raise AccountNotFound(query.login)
        reach.check_account(actor, acc)
    group_ids, brokers = reach.query_scope(uow, actor)
    return uow.trading.list_deals(replace(query, group_ids=group_ids, broker_mask=brokers))


def get_deal(uow: UnitOfWork, deal_id: int, actor: Actor) -> Deal:
    actor.require_any(*READ_SCOPES)
    deal = uow.trading.get_deal(deal_id)
    acc = uow.accounts.get(deal.login) if deal else None
    if deal is None or acc is None or not actor.reaches(acc.group, acc.broker):
        raise DealNotFound(deal_id)
    return deal


def groups_matching(uow: UnitOfWork, mask: str) -> list[Group]:
    wanted = masks.parse(mask, "group")
    return [g for g in uow.groups.list() if wanted.admits(g.name)]

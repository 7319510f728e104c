"""The back office's reports: a catalogue of saved reports (report_catalogue.py), each read from
the core's own data (the exposure report, positions, deals, the ledger, approvals, the audit
trail) within the reader's reach (report_run.py), as rows of plain values in the report's
column order.

Reports need `reports:read`. Rows are limited to the accounts the reader reaches (an account
out of reach named in a filter is AccountNotFound, as everywhere); the audit-trail reports span
every group, so only a reader of unlimited reach sees them, in the catalogue and when run.
Personal data (emails) never appears in a report; audit snapshots are redacted for a reader
without `personal_data`.

Bounds: a window of at most MAX_WINDOW_DAYS, at most MAX_ROWS rows an answer, and at most
MAX_SCANNED ledger entries read for one answer (a summary over more is refused: narrow the
window or name an account). Columns and ids follow the TraderEvolution demo stand's stock
reports (spec 7.4); cells a brokerplane server does not know (routes, exchanges, omnibus
names, swaps) are None, or 0 where the column is an amount.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from brokerplane.core.access import reach
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.approval.model import ApprovalQuery
from brokerplane.core.audit.model import AuditQuery, AuditRecord
from brokerplane.core.backoffice.report_catalogue import (
    BY_ID,
    CATALOGUE,
    MAX_ROWS,
    MAX_SCANNED,
    ReportSpec,
    ReportTable,
    RunReport,
    missing_filters,
)
from brokerplane.core.backoffice.report_run import PAGE, Run
from brokerplane.core.errors import NotFound, ValidationError
from brokerplane.core.ledger.model import KINDS, is_transfer_leg
from brokerplane.core.money import Currency, currency, from_minor
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.trading import service as trading
from brokerplane.core.trading.commands import ExposureReport
from brokerplane.core.trading.model import DealQuery, PositionQuery, lots, price_of
from brokerplane.core.trading.risk import load_market

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "NA",
    "RUNNERS",
    "ReportSpec",
    "ReportTable",
    "RunReport",
    "catalogue",
    "report_spec",
    "run_report",
]

NA = "N/A"


def catalogue(actor: Actor) -> list[ReportSpec]:
    """The reports this reader may run."""
    actor.require("reports:read")
    return [s for s in CATALOGUE if not s.whole_server or actor.unlimited_reach]


def report_spec(report_id: int, actor: Actor) -> ReportSpec:
    """A report the reader may run; one it may not see reads as absent."""
    spec = BY_ID.get(report_id)
    if spec is None or spec not in catalogue(actor):
        raise NotFound(f"no report {report_id}", report_id=report_id)
    return spec


def _money(amount: int, acc_currency: str, digits: int) -> Decimal:
    return from_minor(amount, Currency(acc_currency, digits))


def _path_group(path: str) -> str:
    return path.rsplit("\\", 1)[0] if "\\" in path else path


def _balance_summary(r: Run) -> Iterator[dict[str, Any]]:
    per: dict[int, dict[str, Any]] = {}
    for e in r.ledger():
        row = per.get(e.login)
        if row is None:
            if len(per) >= r.wanted:
                continue
            acc = r.account(e.login)
            cur = Currency(e.currency, e.currency_digits)
            start = e.balance_after - (e.amount if KINDS[e.kind][0] == "balance" else 0)
            row = per[e.login] = {
                "login": r.user_login(acc), "account": e.login,
                "groupname": acc.group if acc else None, "_cur": cur,
                "balance_before": start, "trading_in": 0, "trading_out": 0,
                "deposit_with_unsettled": 0, "widthdraw": 0, "commission_out": 0,
                "other_account_operations": 0, "total": 0, "currency": e.currency,
            }  # fmt: skip
        if KINDS[e.kind][0] != "balance":
            continue
        column = {
            "deposit": "deposit_with_unsettled",
            "withdrawal": "widthdraw",
            "charge": "commission_out",
        }.get(e.kind, "other_account_operations")
        if is_transfer_leg(e):  # money between accounts: neither cash in nor cash out
            column = "other_account_operations"
        if e.kind == "trade":
            column = "trading_in" if e.amount >= 0 else "trading_out"
        row[column] += e.amount
        row["total"] += e.amount
        row["balance_after"] = e.balance_after
    for login in sorted(per):
        row = per[login]
        cur = row.pop("_cur")
        row.setdefault("balance_after", row["balance_before"])
        for key in ("balance_before", "trading_in", "trading_out", "deposit_with_unsettled",
                    "widthdraw", "commission_out", "other_account_operations", "total",
                    "balance_after"):  # fmt: skip
            row[key] = from_minor(row[key], cur)
        zero = from_minor(0, cur)
        row.update(
            swaps_in=zero,
            swaps_out=zero,
            interest=zero,
            dividends=zero,
            pnl=row["trading_in"] + row["trading_out"],
        )
        yield row


_OPERATION_NAMES = {"deposit": "Deposit", "withdrawal": "Withdrawal"}


def _cash(r: Run) -> Iterator[dict[str, Any]]:
    for e in r.ledger(("deposit", "withdrawal")):
        if is_transfer_leg(e):
            continue
        acc = r.account(e.login)
        yield {
            "login": r.user_login(acc),
            "account": e.login,
            "groupname": acc.group if acc else None,
            "createdat": e.at,
            "accountoperationid": e.id,
            "operationtype": _OPERATION_NAMES[e.kind],
            "basis": e.comment,
            "sum": _money(e.amount, e.currency, e.currency_digits),
            "creator": e.manager_login,
            "currency": e.currency,
        }


def _positions(r: Run) -> Iterator[dict[str, Any]]:
    if r.logins is not None and not r.logins:
        return
    symbol = r.cmd.instrument
    market = load_market(r.uow)
    query = PositionQuery(
        logins=r.logins, symbol=symbol, limit=PAGE, group_ids=r.group_ids, broker_mask=r.brokers
    )
    count = 0
    while count < r.wanted:
        page = r.uow.trading.list_positions(query)
        for fig in trading.priced_positions(r.uow, page):
            pos, acc = fig.position, r.account(fig.position.login)
            cur = Currency(fig.currency, fig.currency_digits)
            sym = market.symbols.get(pos.symbol)
            count += 1
            yield {"positionid": pos.id, "account": pos.login, "login": r.user_login(acc),
                   "groupname": acc.group if acc else None, "instrumentname": pos.symbol,
                   "instrumentgroup": _path_group(sym.path) if sym else None,
                   "amount": lots(pos.volume), "openprice": pos.price_open,
                   "buyselltype": pos.side.capitalize(), "opentime": pos.opened_at,
                   "currentprice": price_of(fig.price_current, pos.digits),
                   "profit": from_minor(fig.profit, cur), "swaps": Decimal(0),
                   "comission": Decimal(0), "currency": fig.currency,
                   "margin": from_minor(fig.margin, cur)}  # fmt: skip
        if len(page) < PAGE:
            return
        query = replace(query, after_id=page[-1].id)


def _deals(r: Run) -> Iterator[tuple[Any, Any]]:
    if r.logins is not None and not r.logins:
        return
    query = DealQuery(
        time_from=r.start,
        time_to=r.end,
        limit=PAGE,
        group_ids=r.group_ids,
        broker_mask=r.brokers,
        logins=r.logins,
    )
    count = scanned = 0
    while count < r.wanted:
        page = r.uow.trading.list_deals(query)
        scanned += len(page)
        if scanned > MAX_SCANNED:
            raise ValidationError(
                f"more than {MAX_SCANNED} deals in the window; narrow it or name an account"
            )
        for deal in page:
            if r.cmd.instrument and deal.symbol != r.cmd.instrument:
                continue
            count += 1
            yield deal, r.account(deal.login)
        if len(page) < PAGE:
            return
        query = replace(query, after_id=page[-1].id)


_STATUS = {"in": "Opened", "out": "Closed", "inout": "Reversed"}


def _trades(r: Run) -> Iterator[dict[str, Any]]:
    for deal, _acc in _deals(r):
        cur = Currency(deal.currency, deal.currency_digits)
        amount = lots(deal.volume)
        volume = amount * deal.contract_size * deal.price_decimal
        yield {"account": deal.login, "instrumentname": deal.symbol, "orderid": deal.id,
               "tradeid": deal.id, "operation": deal.side.capitalize(), "time": deal.at,
               "price": deal.price_decimal, "amount": amount, "crossprice": deal.rate_profit,
               "profit": from_minor(deal.profit, cur), "executionfee": Decimal(0),
               "tradevolume": volume, "purchaseprice": volume * deal.rate_profit,
               "type": "Market", "rebates": Decimal(0), "tradableinstrumentid": None,
               "description": deal.comment, "lot_size": deal.contract_size}  # fmt: skip


def _positions_history(r: Run) -> Iterator[dict[str, Any]]:
    for deal, acc in _deals(r):
        cur = Currency(deal.currency, deal.currency_digits)
        yield {"time": deal.at, "login": r.user_login(acc), "account": deal.login,
               "sender": deal.manager_login, "instrumentname": deal.symbol,
               "positionid": deal.position_id, "orderid": deal.id, "tradeid": deal.id,
               "opentime": deal.opened_at, "openprice": deal.price_position_decimal,
               "operation": deal.side.capitalize(), "type": "Market",
               "positionstatus": _STATUS.get(deal.entry, deal.entry),
               "tradeamount": lots(deal.volume), "price": deal.price_decimal,
               "crossprice": deal.rate_profit, "swaps": Decimal(0),
               "executionfee": Decimal(0), "totalfee": Decimal(0),
               "profit": from_minor(deal.profit, cur)}  # fmt: skip


def _statement(r: Run) -> Iterator[dict[str, Any]]:
    chunk: list[Account] = []

    def rows(accounts: list[Account]) -> Iterator[dict[str, Any]]:
        risks = trading.priced_accounts(r.uow, accounts)
        for acc in accounts:
            risk = risks[acc.login]
            cur = Currency(acc.currency, acc.currency_digits)

            def m(minor: int, cur: Currency = cur) -> Decimal:
                return from_minor(minor, cur)

            level = (
                (Decimal(risk.equity) / risk.margin * 100).quantize(Decimal("0.01"))
                if risk.margin > 0
                else None
            )
            free = risk.free_margin
            yield {"accountname": acc.name, "login": r.user_login(acc), "groupname": acc.group,
                   "gi.balance": m(acc.balance), "blockedbalance": m(0),
                   "opengrosspnl": m(risk.profit), "gi.cur_balance": m(risk.equity),
                   "unsettled_deposit": m(0), "gi.available_funds": m(free),
                   "gi.margin_used": m(risk.margin), "gi.available_margin": m(free),
                   "gi.maintain_margin": m(risk.margin), "gi.risk_lvl": level,
                   "gi.withdrawal_available": m(max(0, min(acc.balance, free))),
                   "gi.cur_margin": m(risk.margin), "gi.today_released_pnl": m(0),
                   "gi.stock_value": m(0), "stock_value": m(0), "accountcurrency": acc.currency,
                   "cash_balance": m(acc.balance), "unsettled_cash": m(0), "stock_req": m(0),
                   "option_value": m(0), "stocks_liquidity": m(0), "option_premium_req": m(0),
                   "collateral": m(0), "waived_margin": NA, "credit_value": m(acc.credit),
                   "accountid": acc.login, "blocked_for_fixed_income": m(0),
                   "fixed_income_value": m(0), "fixed_income_orders_req": m(0),
                   "_risk": risk}  # fmt: skip

    for acc in r.accounts():
        chunk.append(acc)
        if len(chunk) >= PAGE:
            yield from rows(chunk)
            chunk = []
    if chunk:
        yield from rows(chunk)


def _statement_in(r: Run) -> Iterator[dict[str, Any]]:
    target = currency(r.cmd.asset or "")
    market = load_market(r.uow)
    for row in _statement(r):
        risk = row["_risk"]
        acc = risk.account
        rate = market.require_rate(acc.currency, target.code)
        src = Currency(acc.currency, acc.currency_digits)

        def conv(minor: int, rate: Decimal = rate, src: Currency = src) -> Decimal:
            value = from_minor(minor, src) * rate
            return value.quantize(Decimal(1).scaleb(-target.digits))

        yield {
            "accountname": acc.name,
            "login": row["login"],
            "cash_posted": conv(acc.balance),
            "value_nav": conv(risk.equity),
            "margin": conv(risk.margin),
            "pl_unrealized": conv(risk.profit),
            "gi.available_funds": conv(risk.free_margin),
        }


def _exposure(r: Run) -> ExposureReport:
    group = None
    if r.cmd.user_group_id is not None:
        group = r.groups[r.cmd.user_group_id].name
    return trading.exposure(
        r.uow, r.actor, group=group, symbol=r.cmd.instrument, report_currency=r.cmd.asset or "USD"
    )


def _net_open_positions(r: Run) -> Iterator[dict[str, Any]]:
    market = load_market(r.uow)
    for line in _exposure(r).lines:
        sym = market.symbols.get(line.symbol)
        net = line.net_lots
        yield {
            "usergroup": line.group,
            "instrumentgroup": _path_group(sym.path) if sym else None,
            "instrument": line.symbol,
            "type": "Buy" if net > 0 else "Sell" if net < 0 else "Flat",
            "quantity": net,
            "currency": sym.currency_base if sym else None,
        }


def _currency_exposure(r: Run) -> Iterator[dict[str, Any]]:
    market = load_market(r.uow)
    report = _exposure(r)
    per: dict[str, dict[str, Any]] = {}
    for line in report.lines:
        sym = market.symbols.get(line.symbol)
        code = sym.currency_base if sym else line.symbol
        row = per.setdefault(
            code,
            {
                "currency": code,
                "balance.amount": Decimal(0),
                "balance.profit": Decimal(0),
                "balance.exposure": Decimal(0),
            },
        )
        size = sym.contract_size if sym else Decimal(1)
        row["balance.amount"] += line.net_lots * size
        row["balance.profit"] += line.client_profit
        row["balance.exposure"] += line.net_notional
    for code in sorted(per):
        yield per[code]


def _margin_calls(r: Run) -> Iterator[dict[str, Any]]:
    for status in trading.margin_calls(r.uow, r.actor):
        acc = status.risk.account
        if not r.in_group(acc) or (r.logins is not None and acc.login not in r.logins):
            continue
        yield {
            "login": r.user_login(acc) or str(acc.login),
            "accountname": acc.name,
            "margincalldayscount": None,
            "stopout": status.state == "stop_out",
        }


def _approvals(r: Run) -> Iterator[dict[str, Any]]:
    login = r.logins[0] if r.cmd.account_id is not None and r.logins else None
    query = ApprovalQuery(login=login, limit=PAGE, group_ids=r.reach_ids, broker_mask=r.brokers)
    scanned = 0
    while True:
        page = r.uow.approvals.list(query)
        scanned += len(page)
        if scanned > MAX_SCANNED:
            raise ValidationError(f"more than {MAX_SCANNED} requests; name an account")
        for a in page:
            if not r.start <= a.requested_at < r.end:
                continue
            amount = _money(a.amount, a.currency, a.currency_digits)
            yield {"raor_requestid": a.id, "raor_operationtype": a.kind,
                   "raor_operationtime": a.requested_at, "raor_approvetime": a.decided_at,
                   "raor_administrator": a.decided_by, "raor_fromaccount": a.login,
                   "raor_sum": amount, "raor_commission_percent": Decimal(0),
                   "raor_sum_without_commission": amount, "raor_state": a.state,
                   "raor_basis": a.comment}  # fmt: skip
        if len(page) < PAGE:
            return
        query = replace(query, after_id=page[-1].id)


def _audit(r: Run, action: str | None) -> Iterator[AuditRecord]:
    query = AuditQuery(action=action, time_from=r.start, time_to=r.end, limit=PAGE)
    while True:
        page = r.uow.audit.query(query)
        for rec in page:
            yield reach.redact_record(r.actor, rec)
        if len(page) < PAGE:
            return
        query = replace(query, after_id=page[-1].id)


def _who(rec: AuditRecord) -> str:
    if rec.manager_login is not None:
        return str(rec.manager_login)
    return rec.operator_id or "system"


def _change(rec: AuditRecord) -> str:
    before, after = rec.before or {}, rec.after or {}
    changed = {
        k: [before.get(k), after.get(k)]
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    }
    return json.dumps(changed, default=str, ensure_ascii=False, separators=(",", ":"))[:4000]


def _back_office_changes(r: Run) -> Iterator[dict[str, Any]]:
    for rec in _audit(r, None):
        yield {
            "time": rec.at,
            "userlogin": _who(rec),
            "ip": rec.ip,
            "terminal": rec.dialect,
            "objectid": f"{rec.entity_type} {rec.entity_id}",
            "description": rec.entity_type,
            "actionname": rec.action,
            "change": _change(rec),
        }


def _password_audit(r: Run) -> Iterator[dict[str, Any]]:
    found: list[AuditRecord] = []
    for action in ("user.password_changed", "account.password_changed"):
        for rec in _audit(r, action):
            found.append(rec)
            if len(found) > MAX_SCANNED:
                raise ValidationError(f"more than {MAX_SCANNED} changes in the window")
    for rec in sorted(found, key=lambda x: x.id):
        yield {
            "changedat": rec.at,
            "password changed by user": _who(rec),
            "ip": rec.ip,
            "terminal": rec.dialect,
            "changedetails": "main password" if rec.entity_type == "account" else "password",
            "password changed for user": f"{rec.entity_type} {rec.entity_id}",
        }


RUNNERS: dict[int, Callable[[Run], Iterator[dict[str, Any]]]] = {
    102: _balance_summary, 109: _cash, 114: _positions, 117: _trades, 119: _statement,
    124: _currency_exposure, 125: _net_open_positions, 127: _positions_history,
    133: _approvals, 139: _back_office_changes, 153: _statement_in, 183: _margin_calls,
    190: _password_audit,
}  # fmt: skip


def run_report(uow: UnitOfWork, cmd: RunReport, actor: Actor, now: datetime) -> ReportTable:
    """Rows `offset` to `offset + limit` of the report, and their sums when asked (the sums
    of the rows answered)."""
    spec = report_spec(cmd.report_id, actor)
    if not 1 <= cmd.limit <= MAX_ROWS:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_ROWS}")
    if not 0 <= cmd.offset <= MAX_SCANNED:
        raise ValidationError.field("offset", f"must be between 0 and {MAX_SCANNED}")
    missing = missing_filters(spec, cmd)
    if missing:
        raise ValidationError.field(missing[0], "this report needs it")
    run = Run(uow, cmd, actor, now, live=spec.ignores_dates)
    rows: list[tuple[Any, ...]] = []
    for n, item in enumerate(RUNNERS[spec.id](run)):
        if n < cmd.offset:
            continue
        if len(rows) >= cmd.limit:
            break
        rows.append(tuple(item.get(c) for c in spec.columns))
    total = None
    if cmd.total and spec.sums:
        total = tuple(
            sum((row[i] for row in rows if isinstance(row[i], Decimal)), Decimal(0))
            if column in spec.sums
            else None
            for i, column in enumerate(spec.columns)
        )
    return ReportTable(spec, rows, total)

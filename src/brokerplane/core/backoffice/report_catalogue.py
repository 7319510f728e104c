"""The reports on offer (TraderEvolution's stock reports, spec 7.4): ids, names, columns, the
filters each needs and honours; the command that runs one, the table it answers, the bounds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_WINDOW_DAYS = 366
MAX_ROWS = 10_000
MAX_SCANNED = 200_000


@dataclass(frozen=True)
class ReportSpec:
    id: int
    name: str
    category: str
    columns: tuple[str, ...]
    required: tuple[str, ...] = ()  # filters the report cannot run without
    filters: tuple[str, ...] = ()  # filters it honours
    ignores_dates: bool = False  # a live snapshot
    whole_server: bool = False  # reads the audit trail: unlimited reach only
    sums: tuple[str, ...] = ()  # columns the total row adds up


def _cols(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.split("|"))


ACCOUNT_FILTERS = ("accountId", "login", "userGroupId")
CATALOGUE: tuple[ReportSpec, ...] = (
    ReportSpec(
        102,
        "Balance Summary Report",
        "Balance",
        _cols(
            "login|account|groupname|balance_before|trading_in|trading_out|deposit_with_unsettled|"
            "widthdraw|commission_out|swaps_in|swaps_out|interest|dividends|"
            "other_account_operations|total|balance_after|currency|omnibusname|pnl"
        ),
        filters=ACCOUNT_FILTERS,
        sums=(
            "trading_in",
            "trading_out",
            "deposit_with_unsettled",
            "widthdraw",
            "commission_out",
            "other_account_operations",
            "total",
            "pnl",
        ),
    ),
    ReportSpec(
        109,
        "Cash Deposit And Withdrawal Report",
        "Balance",
        _cols(
            "login|account|groupname|createdat|accountoperationid|operationtype|basis|sum|creator|"
            "currency|omnibusname"
        ),
        filters=ACCOUNT_FILTERS,
        sums=("sum",),
    ),
    ReportSpec(
        114,
        "Open Positions Report",
        "Positions",
        _cols(
            "positionid|account|login|groupname|instrumentname|instrumentgroup|amount|openprice|"
            "buyselltype|opentime|currentprice|stoploss|sllimitprice|takeprofit|profit|swaps|"
            "comission|currency|routename|margin|autotrade|terminaltype|tradingmode|omnibusname|"
            "exchange"
        ),
        filters=(*ACCOUNT_FILTERS, "instrumentName"),
        ignores_dates=True,
        sums=("amount", "profit", "swaps", "comission", "margin"),
    ),
    ReportSpec(
        117,
        "Trades Report",
        "Trades",
        _cols(
            "account|instrumentname|orderid|tradeid|externalid|routename|operation|time|price|"
            "amount|crossprice|profit|executionfee|extprice|tradevolume|purchaseprice|exchange|"
            "type|rebates|expyear|expmonth|expday|derivativetype|strikeprice|external_order_id|"
            "trades_bought|trades_sold|symbol_type|tradingmode|tradableinstrumentid|"
            "clientorderid|execvenue|description|leverage|lot_size|counter_currency"
        ),
        filters=(*ACCOUNT_FILTERS, "instrumentName"),
        sums=("amount", "profit"),
    ),
    ReportSpec(
        119,
        "Account Statement Report",
        "Accounts",
        _cols(
            "accountname|login|groupname|gi.balance|blockedbalance|opengrosspnl|gi.cur_balance|"
            "unsettled_deposit|gi.available_funds|gi.margin_used|gi.available_margin|"
            "gi.margin_warning|gi.maintain_margin|gi.risk_lvl|gi.withdrawal_available|"
            "gi.cur_margin|gi.today_released_pnl|gi.stock_value|stock_value|accountcurrency|"
            "cash_balance|unsettled_cash|stock_req|option_value|stocks_liquidity|"
            "option_premium_req|collateral|omnibusname|waived_margin|warning_margin|"
            "warning_margin_req|margin_before_warning|stop_out_value|credit_value|accountid|"
            "blocked_for_fixed_income|fixed_income_value|fixed_income_orders_req"
        ),
        filters=ACCOUNT_FILTERS,
        ignores_dates=True,
        sums=("gi.balance", "opengrosspnl", "gi.cur_balance", "gi.margin_used", "credit_value"),
    ),
    ReportSpec(
        124,
        "Currency summary exposure",
        "Exposure",
        _cols("currency|balance.amount|route|balance.profit|balance.exposure|omnibusname"),
        filters=("assetName", "userGroupId", "instrumentName"),
        ignores_dates=True,
        sums=("balance.profit", "balance.exposure"),
    ),
    ReportSpec(
        125,
        "Net Open Positions",
        "Exposure",
        _cols(
            "usergroup|instrumentgroup|instrument|type|quantity|currency|tradingmode|"
            "omnibusname|exchange"
        ),
        filters=("userGroupId", "instrumentName"),
        ignores_dates=True,
        sums=("quantity",),
    ),
    ReportSpec(
        127,
        "Positions History Report",
        "Positions",
        _cols(
            "time|login|account|sender|instrumentname|positionid|orderid|tradeid|externalid|"
            "opentime|openprice|operation|type|positionstatus|tradeamount|positionamount|price|"
            "extprice|crossprice|stoploss|sllimitprice|takeprofit|routename|swaps|executionfee|"
            "totalfee|profit|spreadpnl|balance|valuedate|expiredate|autotrade|terminaltype|"
            "tradingmode|optionexercisestatus|omnibusname|exchange"
        ),
        filters=(*ACCOUNT_FILTERS, "instrumentName"),
        sums=("profit",),
    ),
    ReportSpec(
        133,
        "Request Account Operation Report",
        "Balance",
        _cols(
            "raor_requestid|raor_operationtype|raor_operationtime|raor_approvetime|"
            "raor_administrator|raor_fromaccount|raor_balance|raor_sum|raor_commission_percent|"
            "raor_sum_without_commission|raor_toaccount|raor_counterbalance|raor_countersum|"
            "raor_crossprice|raor_state|raor_basis|omnibusname"
        ),
        filters=("accountId",),
    ),
    ReportSpec(
        139,
        "Back Office Changes Report",
        "Audit",
        _cols("time|userlogin|ip|terminal|objectid|description|actionname|change"),
        whole_server=True,
    ),
    ReportSpec(
        153,
        "Account statement in defined currency report",
        "Accounts",
        _cols(
            "accountname|login|cash_posted|value_nav|margin|pl_unrealized|gi.available_funds|"
            "omnibusname"
        ),
        required=("assetName",),
        filters=("assetName", *ACCOUNT_FILTERS),
        ignores_dates=True,
        sums=("cash_posted", "value_nav", "margin", "pl_unrealized", "gi.available_funds"),
    ),
    ReportSpec(
        183,
        "EOD Margin call report",
        "Risk",
        _cols("login|accountname|margincalldayscount|stopout"),
        ignores_dates=True,
    ),
    ReportSpec(
        190,
        "User password change audit",
        "Audit",
        _cols(
            "changedat|password changed by user|ip|terminal|changedetails|password changed for user"
        ),
        whole_server=True,
    ),
)
BY_ID = {spec.id: spec for spec in CATALOGUE}

# The report engine's column types (GET /reports/functions), as the demo stand names them.
FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("INTEGER", "a whole number"),
    ("NUMBER", "a decimal number"),
    ("FORMATED_NUMBER", "a number formatted for display"),
    ("STRING", "text"),
    ("DATE", "a date, day.month.year"),
    ("TIMESTAMP", "a time, epoch milliseconds"),
    ("ID", "an identifier"),
    ("UNDEFINED", "a value of no declared type"),
    ("HIDDEN", "a column not shown"),
    ("PROFIT", "a profit in the account's currency"),
    ("POSITION", "a position id"),
    ("ACCOUNT", "an account id"),
    ("USER", "a user login"),
    ("PRICE", "a price at the instrument's digits"),
    ("PERCENT", "a percentage"),
    ("SYSTEM_CURRENCY", "an amount in the server's currency"),
    ("CURRENT_PRICE", "the latest price"),
    ("CURRENT_BALANCE", "an account's balance now"),
    ("POSITION_UNREALIZED_PNL", "a position's floating profit"),
    ("POSITION_MARGIN", "a position's margin"),
    ("ACCOUNT_EQUITY", "an account's equity"),
    ("POSITION_EXPOSURE", "a position's exposure"),
    ("AUDIT_CHANGE", "what a change changed"),
    ("AUDIT_OBJECT_DESCRIPTION", "what a change changed it on"),
    ("ACCOUNT_ID", "an account id"),
    ("BIG_DECIMAL", "an exact decimal number"),
)


@dataclass(frozen=True)
class RunReport:
    """One run: the window (both ends inclusive), paging, filters; `total` adds a row of sums."""

    report_id: int
    start: datetime | None = None
    end: datetime | None = None
    offset: int = 0
    limit: int = 1000
    total: bool = False
    account_id: int | None = None
    login: str | None = None
    user_group_id: int | None = None
    asset: str | None = None
    instrument: str | None = None


@dataclass(frozen=True)
class ReportTable:
    spec: ReportSpec
    rows: list[tuple[Any, ...]]
    total: tuple[Any, ...] | None


def missing_filters(spec: ReportSpec, cmd: RunReport) -> list[str]:
    given = {
        "accountId": cmd.account_id,
        "login": cmd.login,
        "assetName": cmd.asset,
        "instrumentName": cmd.instrument,
        "userGroupId": cmd.user_group_id,
    }
    return [name for name in spec.required if given.get(name) in (None, "")]

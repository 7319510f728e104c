"""Trading: quotes, positions, deals, risk figures, exposure, what-if and the risk pass."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from brokerplane.application.base import LazySlice, ServiceBase
from brokerplane.core.account.model import Account, TradeState
from brokerplane.core.actor import Actor
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.trading.commands import PositionOf
from brokerplane.core.trading.model import Deal, DealQuery, Market, PositionFigures, Quote, Risk

if TYPE_CHECKING:
    from brokerplane.core.account import service as accounts
    from brokerplane.core.trading import batch, records, watch, whatif
    from brokerplane.core.trading import service as trading
else:
    accounts = LazySlice("brokerplane.core.account.service")
    batch = LazySlice("brokerplane.core.trading.batch")
    records = LazySlice("brokerplane.core.trading.records")
    watch = LazySlice("brokerplane.core.trading.watch")
    whatif = LazySlice("brokerplane.core.trading.whatif")
    trading = LazySlice("brokerplane.core.trading.service")


class TradingServices(ServiceBase):
    """Quotes, market orders, positions, deals and the figures priced from them."""

    def trade_states(self, cmd: accounts.ListAccounts, actor: Actor) -> list[TradeState]:
        """A page of accounts (by logins or group mask, in login order) with equity, margin
        and free margin at the latest quotes, read in one snapshot."""

        def run(u: UnitOfWork) -> list[TradeState]:
            page = accounts.list_accounts(u, cmd, actor)
            found = trading.risks(u, page, actor)
            return [found[a.login].state() for a in page]

        return self._read(run)

    def get_trade_state(self, login: int, actor: Actor) -> TradeState:
        """Balance, credit, bonus, floating profit, margin and equity at the latest quotes."""
        return self.get_risk(login, actor).state()

    def set_quotes(self, items: Sequence[trading.QuoteInput], actor: Actor) -> list[Quote]:
        return self._write(lambda u: trading.set_quotes(u, items, actor, self.clock()), actor)

    def list_quotes(self, actor: Actor, symbols: Sequence[str] | None = None) -> list[Quote]:
        return self._read(lambda u: trading.list_quotes(u, actor, symbols))

    def get_market(self, actor: Actor) -> Market:
        """The symbols and their latest quotes (currency conversions in reports)."""
        return self._view(trading.market, actor)

    def open_position(self, cmd: trading.OpenPosition, actor: Actor) -> trading.Execution:
        return self._command(trading.open_position, cmd, actor)

    def close_position(self, cmd: trading.ClosePosition, actor: Actor) -> trading.Execution:
        return self._command(trading.close_position, cmd, actor)

    def get_risk(self, login: int, actor: Actor) -> Risk:
        """The account's figures with its positions priced."""
        return self._query(trading.trade_state, login, actor)

    def get_risks(self, accounts: Sequence[Account], actor: Actor) -> dict[int, Risk]:
        """Figures of accounts a listing read, by login (one query for all their positions)."""
        return self._query(trading.risks, accounts, actor)

    def list_positions(
        self,
        actor: Actor,
        *,
        logins: Sequence[int] | None = None,
        group: str | None = None,
        symbol: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[PositionFigures]:
        """Open positions, `limit` (default trading.MAX_PAGE) at a time."""
        page = trading.MAX_PAGE if limit is None else limit
        return self._lagging_read(
            lambda u: trading.list_positions(
                u, actor, logins=logins, group=group, symbol=symbol, after_id=after_id, limit=page
            ),
            actor,
        )

    def get_position(self, position_id: int, actor: Actor) -> PositionFigures:
        return self._query(trading.get_position, position_id, actor)

    def get_account_position(self, query: PositionOf, actor: Actor) -> PositionFigures:
        """The position when it is of the account (and symbol) named with it."""
        return self._query(trading.get_account_position, query, actor)

    def list_deals(self, query: DealQuery, actor: Actor) -> list[Deal]:
        return self._listing(trading.list_deals, query, actor)

    def iter_deals(self, query: DealQuery, actor: Actor) -> Iterator[Deal]:
        """Every matching deal, page by page."""
        after = query.after_id
        while True:
            page = self.list_deals(replace(query, after_id=after, limit=trading.MAX_PAGE), actor)
            yield from page
            if len(page) < trading.MAX_PAGE:
                return
            after = page[-1].id

    def change_trade_record(self, cmd: records.ChangeTradeRecord, actor: Actor) -> None:
        """Always refused (core.trading.records); answers which refusal."""
        self._query(records.change_trade_record, cmd, actor)

    def get_deal(self, deal_id: int, actor: Actor) -> Deal:
        return self._query(trading.get_deal, deal_id, actor)

    def exposure(
        self,
        actor: Actor,
        *,
        group: str | None = None,
        symbol: str | None = None,
        currency: str = "USD",
    ) -> trading.ExposureReport:
        return self._lagging_read(
            lambda u: trading.exposure(
                u, actor, group=group, symbol=symbol, report_currency=currency
            ),
            actor,
        )

    def margin_calls(self, actor: Actor) -> list[trading.MarginStatus]:
        return self._lagging_read(lambda u: trading.margin_calls(u, actor), actor)

    def batch_deals(self, sel: batch.BatchSelection, actor: Actor) -> batch.Batch[Deal]:
        return self._listing(batch.batch_deals, sel, actor)

    def deals_by_ids(self, ids: Sequence[int], actor: Actor) -> dict[int, Deal]:
        return self._query(batch.deals_by_ids, ids, actor)

    def check_margin(self, cmd: whatif.CheckMargin, actor: Actor) -> whatif.MarginOutlook:
        now = self.clock()
        return self._read(lambda u: whatif.check_margin(u, cmd, actor, now))

    def calc_profit(self, cmd: whatif.CalcProfit, actor: Actor) -> whatif.ProfitOutlook:
        return self._query(whatif.calc_profit, cmd, actor)

    def risk_pass(self, after_login: int = 0, limit: int = 500) -> watch.PassResult:
        """Class one batch of accounts after `after_login` (a read) and record the crossings
        (one write, only when there are any)."""
        found = self._read(lambda u: watch.scan(u, after_login, limit))
        if not found.crossings:
            return found
        now = self.clock()
        done = self._write(lambda u: watch.record_crossings(u, found.crossings, now))
        return replace(found, recorded=done)

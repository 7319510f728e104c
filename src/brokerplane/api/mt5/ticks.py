"""MT5 `tick/history`: the ticks of one symbol in a time window, from the quotes brokerplane keeps.

brokerplane keeps the latest quote of each symbol, not a tick history (trading executes at the
latest quote; nothing reads past ones). So `tick/history?symbol=&from=&to=` (unix seconds, both
inclusive; `to` absent: now and later) answers what is kept: the latest quote, as `tick/last`
renders it, when its time falls in the window, else an empty array; `0 Done` either way. An
unknown symbol is 13; `symbol` absent, or `from` after `to`, is 3; rights as `tick/last`.
"""

from __future__ import annotations

from brokerplane.api.mt5.dealer import render_tick
from brokerplane.api.mt5.deals import unix
from brokerplane.api.mt5.errors import ERR_PARAMS, Mt5Error
from brokerplane.api.mt5.wire import Answer, Context, command


@command("tick/history")
def tick_history(ctx: Context) -> Answer:
    p = ctx.params
    name = p.require_text("symbol").strip()
    low = p.integer("from", default=0, low=0) or 0
    high = p.integer("to", low=0)
    if high is not None and high < low:
        raise Mt5Error(ERR_PARAMS, "from must not be after to")
    symbol = ctx.services.get_symbol(name, ctx.actor)
    kept = ctx.services.list_quotes(ctx.actor, [symbol.name])
    return Answer(
        [render_tick(q) for q in kept if unix(q.at) >= low and (high is None or unix(q.at) <= high)]
    )

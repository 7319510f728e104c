"""`brokerplane quotes`: feed quotes from a file or stdin, and list the latest ones.

A feed line is `SYMBOL BID ASK [TIME]`, separated by whitespace or commas; TIME is ISO 8601
(naive means UTC) or epoch milliseconds, and absent means when it is stored. Blank lines and
lines starting with `#` are skipped. The newest quote of each symbol is kept in memory and
written in batches, every N lines or T milliseconds (a reader thread keeps the timer running
while the input is idle) and at the end.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import IO, Any

import click
from rich.table import Table

from brokerplane.api.native.quotes import quote_time, render_quote
from brokerplane.application.app import Application
from brokerplane.cli.common import (
    CliFailure,
    build_settings,
    comma_list,
    console,
    database_options,
    runtime_for,
)
from brokerplane.core.actor import system_actor
from brokerplane.core.errors import CoreError, NotFound, ValidationError
from brokerplane.core.money import parse_decimal
from brokerplane.core.symbol.model import Symbol
from brokerplane.core.trading.commands import MAX_QUOTES, QuoteInput

_SPLIT = re.compile(r"[\s,]+")


class BadLine(ValueError):
    """A feed line that cannot be a quote; the message says why."""


def parse_line(text: str, symbols: dict[str, Symbol]) -> QuoteInput | None:
    """One feed line as a quote, checked as the core will check it; None for a blank line or
    a comment."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    parts = _SPLIT.split(stripped)
    if len(parts) not in (3, 4):
        raise BadLine(f"expected SYMBOL BID ASK [TIME], got {len(parts)} fields")
    name, bid_text, ask_text = parts[:3]
    sym = symbols.get(name)
    if sym is None:
        raise BadLine(f"unknown symbol {name[:64]!r}")
    try:
        step = Decimal(1).scaleb(-sym.digits)
        bid, ask = (
            parse_decimal(v, f).quantize(step, rounding=ROUND_HALF_EVEN)
            for v, f in ((bid_text, "bid"), (ask_text, "ask"))
        )
        at = quote_time(parts[3], "time") if len(parts) == 4 else None
    except ValidationError as err:
        why = "; ".join(f"{f.field} {f.message}" for f in err.fields) or err.detail
        raise BadLine(why) from None
    if bid <= 0 or ask <= 0:
        raise BadLine("prices must be positive")
    if ask < bid:
        raise BadLine(f"the ask {ask} is below the bid {bid}")
    return QuoteInput(sym.name, bid, ask, at)


@dataclass
class Feed:
    """Quotes waiting to be written, the newest per symbol, with the line each came from."""

    services: Application
    pending: dict[str, tuple[int, QuoteInput]] = field(default_factory=dict)
    stored: int = 0
    rejected: int = 0
    batches: int = 0

    def add(self, number: int, item: QuoteInput) -> None:
        held = self.pending.get(str(item.symbol))
        if held and held[1].at and item.at and item.at < held[1].at:
            return  # an older quote than the one waiting
        self.pending[str(item.symbol)] = (number, item)

    def flush(self) -> None:
        """Write what is waiting in one batch; when the batch is refused (a symbol removed
        meanwhile, say), write its quotes one by one and report those refused."""
        waiting = sorted(self.pending.values(), key=lambda x: x[0])
        self.pending.clear()
        for start in range(0, len(waiting), MAX_QUOTES):
            chunk = waiting[start : start + MAX_QUOTES]
            try:
                self.services.set_quotes([q for _, q in chunk], system_actor("quotes-feed"))
            except (ValidationError, NotFound):
                for number, item in chunk:
                    try:
                        self.services.set_quotes([item], system_actor("quotes-feed"))
                    except CoreError as err:
                        self.reject(number, f"{err.code}: {err.detail}")
                        continue
                    self.stored += 1
            else:
                self.stored += len(chunk)
            self.batches += 1

    def reject(self, number: int, why: str) -> None:
        self.rejected += 1
        click.echo(f"line {number}: {why}; skipped", err=True)


_END = object()


def _lines(stream: IO[str]) -> queue.Queue[Any]:
    """The stream's lines through a queue filled by a daemon thread, then _END."""
    out: queue.Queue[Any] = queue.Queue(maxsize=10_000)

    def pump() -> None:
        try:
            for line in stream:
                out.put(line)
        finally:
            out.put(_END)

    threading.Thread(target=pump, name="quotes-feed-reader", daemon=True).start()
    return out


def _timed(lines: queue.Queue[Any], due: list[float]) -> Iterator[str | None]:
    """Lines as they come; None whenever the flush time `due[0]` passes without one."""
    while True:
        try:
            item = lines.get(timeout=max(due[0] - time.monotonic(), 0.001))
        except queue.Empty:
            yield None
            continue
        if item is _END:
            return
        yield item


@click.group()
def quotes() -> None:
    """Quotes: feed them from a file or stdin, list the latest."""


@quotes.command("feed")
@database_options
@click.argument("source", default="-", metavar="[FILE|-]")
@click.option(
    "--batch",
    "batch",
    type=click.IntRange(1, 100_000),
    default=500,
    show_default=True,
    help="Write every N lines.",
)
@click.option(
    "--interval",
    "interval_ms",
    type=click.IntRange(1, 3_600_000),
    default=200,
    show_default=True,
    help="Write at least every T milliseconds.",
)
@click.option("--strict", is_flag=True, help="Stop at the first bad line (exit 2).")
def feed(
    database_url: str | None,
    data_dir: Path | None,
    source: str,
    batch: int,
    interval_ms: int,
    strict: bool,
) -> None:
    """Read `SYMBOL BID ASK [TIME]` lines from FILE (or stdin) and store the quotes.

    Fields are separated by whitespace or commas; TIME is ISO 8601 or epoch milliseconds.
    Blank lines and # comments are skipped; a bad line is reported on stderr with its number
    and skipped, or with --strict ends the feed after storing the lines before it.
    """
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    interval = interval_ms / 1000
    with runtime_for(settings) as runtime, _open(source) as stream:
        services = runtime.app
        symbols = {s.name: s for s in services.list_symbols(system_actor())}
        state = Feed(services)
        count = since = 0
        due = [time.monotonic() + interval]
        for line in _timed(_lines(stream), due):
            if line is not None:
                count += 1
                try:
                    item = parse_line(line, symbols)
                except BadLine as err:
                    if strict:
                        state.flush()
                        raise CliFailure(f"line {count}: {err}") from None
                    state.reject(count, str(err))
                    item = None
                if item is not None:
                    state.add(count, item)
                    since += 1
            if since >= batch or time.monotonic() >= due[0]:
                state.flush()
                since = 0
                due[0] = time.monotonic() + interval
        state.flush()
    click.echo(
        f"quotes feed: {count} lines, {state.stored} quotes stored in "
        f"{state.batches} batches, {state.rejected} rejected"
    )


@contextlib.contextmanager
def _open(source: str) -> Iterator[IO[str]]:
    if source == "-":
        yield sys.stdin
        return
    try:
        handle = open(source, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as exc:
        raise CliFailure(f"cannot read {source}: {exc.strerror or exc}") from None
    with handle:
        yield handle


@quotes.command("list")
@database_options
@click.option("--symbol", default=None, metavar="A,B", help="Only these symbols.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def quotes_list(
    database_url: str | None, data_dir: Path | None, symbol: str | None, as_json: bool
) -> None:
    """The latest quote of each symbol."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    names = sorted(comma_list(symbol)) if symbol else None
    with runtime_for(settings) as runtime:
        found = runtime.app.list_quotes(system_actor(), names)
    items = [render_quote(q) for q in found]
    if as_json:
        click.echo(json.dumps({"items": items}))
        return
    out = console()
    if not items:
        out.print("No quotes: brokerplane quotes feed FILE (lines of SYMBOL BID ASK [TIME])")
        return
    table = Table(title="quotes")
    for col in ("symbol", "bid", "ask", "time"):
        table.add_column(col, no_wrap=True)
    for q in items:
        table.add_row(q["symbol"], q["bid"], q["ask"], q["time"])
    out.print(table)

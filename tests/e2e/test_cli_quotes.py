"""`brokerplane quotes feed` and `quotes list` on both engines: quotes from a file and from
stdin, bad lines reported with their numbers, --strict, batching and the summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from brokerplane.bootstrap import Runtime
from brokerplane.cli.main import main
from brokerplane.core.actor import Actor
from brokerplane.core.symbol.commands import CreateSymbol


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def symbols(runtime: Runtime, admin: Actor) -> None:
    runtime.app.create_symbol(CreateSymbol("EURUSD", {}), admin)
    gold = {"digits": 2, "contract_size": "100", "currency_base": "XAU", "currency_profit": "USD"}
    runtime.app.create_symbol(CreateSymbol("XAUUSD", gold), admin)


def listed(database_url: str) -> dict[str, Any]:
    result = run("quotes", "list", "--json", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    return {q["symbol"]: q for q in json.loads(result.stdout)["items"]}


FEED = """\
# a comment, then a blank line

EURUSD 1.10000 1.10020
XAUUSD,2000.10,2000.60,2026-01-02T10:00:00Z
EURUSD 1.10050 1.10070 1893578400000
NOPE 1 2
EURUSD 1.2 1.1
XAUUSD abc 2001
EURUSD 1.1
  EURUSD , 1.101234 , 1.10140
"""


def test_feed_from_a_file_keeps_the_latest_and_reports_bad_lines(
    symbols: None, database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "ticks.txt"
    source.write_text(FEED)
    result = run(
        "quotes", "feed", str(source), "--interval", "3600000", "--database-url", database_url
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "line 6: unknown symbol 'NOPE'; skipped",
        "line 7: the ask 1.10000 is below the bid 1.20000; skipped",
        "line 8: bid 'abc' is not a decimal number; skipped",
        "line 9: expected SYMBOL BID ASK [TIME], got 2 fields; skipped",
    ]
    assert result.stdout == ("quotes feed: 10 lines, 2 quotes stored in 1 batches, 4 rejected\n")
    quotes = listed(database_url)
    assert quotes["EURUSD"]["bid"] == "1.10123" and quotes["EURUSD"]["ask"] == "1.10140"
    assert quotes["XAUUSD"] == {
        "symbol": "XAUUSD",
        "bid": "2000.10",
        "ask": "2000.60",
        "time": "2026-01-02T10:00:00Z",
    }


def test_feed_from_stdin_in_batches_and_a_bad_line(symbols: None, database_url: str) -> None:
    lines = "".join(f"EURUSD 1.1{n} 1.2{n}\n" for n in range(4)) + "EURUSD x y\nXAUUSD 1 2\n"
    result = run(
        "quotes",
        "feed",
        "-",
        "--batch",
        "2",
        "--interval",
        "3600000",
        "--database-url",
        database_url,
        input=lines,
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == "line 5: bid 'x' is not a decimal number; skipped\n"
    assert result.stdout.strip() == (
        "quotes feed: 6 lines, 3 quotes stored in 3 batches, 1 rejected"
    )
    assert listed(database_url)["EURUSD"]["bid"] == "1.13000"


def test_strict_stops_at_the_first_bad_line_after_storing_those_before(
    symbols: None, database_url: str
) -> None:
    lines = "EURUSD 1.1 1.2\nEURUSD 1.1 1.0\nXAUUSD 1 2\n"
    result = CliRunner().invoke(
        main, ["quotes", "feed", "--strict", "--database-url", database_url], input=lines
    )
    assert result.exit_code == 2
    assert "line 2: the ask 1.00000 is below the bid 1.10000" in result.stderr
    assert set(listed(database_url)) == {"EURUSD"}


def test_list_without_quotes_and_a_missing_file(
    symbols: None, database_url: str, tmp_path: Path
) -> None:
    result = run("quotes", "list", "--database-url", database_url)
    assert result.exit_code == 0 and "No quotes" in result.stdout
    missing = CliRunner().invoke(
        main, ["quotes", "feed", str(tmp_path / "none.txt"), "--database-url", database_url]
    )
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    run("quotes", "feed", "--database-url", database_url, input="XAUUSD 2000 2001\n")
    table = run("quotes", "list", "--symbol", "XAUUSD,EURUSD", "--database-url", database_url)
    assert "XAUUSD" in table.stdout and "2000.00" in table.stdout


def test_the_demo_data_quotes_every_demo_symbol(database_url: str) -> None:
    assert run("demo", "--json", "--database-url", database_url).exit_code == 0
    quotes = listed(database_url)
    assert len(quotes) == 13
    assert quotes["EURUSD"]["bid"] == "1.08500" and quotes["US500"]["ask"] == "5200.6"

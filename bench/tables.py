"""What a run prints and writes: the table of rows, the performance issue's table of
targets, and bench/results/latest.json."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from harness import Row, _ms

if TYPE_CHECKING:
    from bench import Bench


def targets(bench: Bench) -> list[dict[str, Any]]:
    """The figures the performance issue sets targets for, from this run's rows; a figure
    this run did not measure says so."""

    def row(name: str, db: str) -> Row | None:
        return next((r for r in bench.rows if r.name == name and r.database == db), None)

    def cpu(name: str, db: str) -> float | None:
        found = row(name, db)
        m = re.search(r"server CPU ([\d.]+) ms/op", found.notes) if found else None
        return float(m.group(1)) if m else None

    def ratio(name: str, db: str) -> float | None:
        found = row(name, db)
        return found.ratio if found else None

    def p99(name: str, db: str) -> float | None:
        found = row(name, db)
        return found.p99_ms if found else None

    big = f"deposit (native API), {bench.cfg.report_accounts} accounts"
    out: list[dict[str, Any]] = []

    def target(
        figure: str,
        value: float | None,
        issue: str,
        goal: str,
        met: Callable[[float], bool],
        unit: str = "",
        why: str = "",
    ) -> None:
        shown = (
            "not measured" + (f" ({why})" if why else "")
            if value is None
            else (f"{value:.2f}{unit}")
        )
        out.append(
            {
                "figure": figure,
                "measured": value,
                "shown": shown,
                "this_issue": issue,
                "goal": goal,
                "met": None if value is None else met(value),
            }
        )

    dep = "deposit (native API)"
    target(
        "server CPU per native deposit, PostgreSQL",
        cpu(dep, "postgresql"),
        "<= 0.5 ms",
        "<= 0.25 ms",
        lambda v: v <= 0.5,
        " ms",
    )
    target(
        "server CPU per native deposit, SQLite",
        cpu(dep, "sqlite"),
        "<= 0.5 ms",
        "<= 0.25 ms",
        lambda v: v <= 0.5,
        " ms",
    )
    target(
        "native deposits/s ÷ reference deposit (pgbench -M prepared -c 32)",
        ratio(dep, "postgresql"),
        ">= 1.5",
        ">= 3.0",
        lambda v: v >= 1.5,
    )
    target(
        "native deposits/s ÷ reference deposit (sqlite3 loop)",
        ratio(dep, "sqlite"),
        ">= 1.0",
        ">= 1.6",
        lambda v: v >= 1.0,
    )
    target(
        "p99 of a native deposit, 32 connections, PostgreSQL",
        p99(dep, "postgresql"),
        "<= 50 ms",
        "<= 30 ms",
        lambda v: v <= 50,
        " ms",
    )
    target(
        "account openings/s ÷ native deposits/s",
        ratio("account creation (native API)", "postgresql"),
        ">= 0.8",
        "1.0",
        lambda v: v >= 0.8,
    )
    target(
        "users CSV export, 1M accounts, ÷ raw sqlite3+csv loop",
        ratio("report /v1/reports/users CSV (rows)", "sqlite"),
        ">= 1.0",
        ">= 1.0, flat memory",
        lambda v: v >= 1.0,
    )
    target(
        "users CSV export on PostgreSQL ÷ COPY ... TO STDOUT CSV",
        ratio("report /v1/reports/users CSV (rows)", "postgresql"),
        ">= 0.5",
        ">= 0.8",
        lambda v: v >= 0.5,
    )
    exposure = row("exposure report (GET /v1/reports/exposure)", "postgresql")
    target(
        "exposure report, 1M accounts / 100k open positions, PostgreSQL",
        exposure.p50_ms / 1000 if exposure and exposure.p50_ms else None,
        "< 1 s",
        "< 0.3 s",
        lambda v: v < 1,
        " s",
    )
    target(
        "deposits/s with 1M accounts ÷ with 1k accounts (SQLite)",
        ratio(big, "sqlite"),
        ">= 0.9",
        ">= 0.95",
        lambda v: v >= 0.9,
    )
    target(
        "MT5 trade/balance ÷ native deposit",
        ratio("MT5 trade/balance", "postgresql"),
        ">= 1.0",
        ">= 1.0",
        lambda v: v >= 1.0,
    )
    target(
        "cTrader changebalance ÷ native deposit",
        ratio("cTrader changebalance", "postgresql"),
        ">= 1.0",
        ">= 1.0",
        lambda v: v >= 1.0,
    )
    target(
        "CLI start-up: brokerplane key list (median wall)",
        bench.cli_seconds.get("key list"),
        "< 0.5 s",
        "<= 0.35 s",
        lambda v: v < 0.5,
        " s",
    )
    target(
        "CLI start-up: brokerplane --help (median wall)",
        bench.cli_seconds.get("help"),
        "< 0.5 s",
        "<= 0.1 s",
        lambda v: v < 0.5,
        " s",
    )
    return out


def _rate(value: float) -> str:
    """A rate for the table: whole numbers, or two decimals below 10 (the start-up rows)."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"


def _grid(head: tuple[str, ...], body: list[tuple[Any, ...]]) -> str:
    """Columns padded to their widest cell, a rule under the head."""
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    out = [
        " | ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True))
        for line in [head, *body]
    ]
    out.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(out)


def table(rows: list[Row]) -> str:
    head = ("measurement", "db", "ops/s", "p50 ms", "p99 ms", "baseline/s", "ratio", "RSS MB")
    body = [
        (
            r.name,
            r.database,
            _rate(r.ops_per_s),
            _ms(r.p50_ms),
            _ms(r.p99_ms),
            "-" if r.baseline_ops_per_s is None else _rate(r.baseline_ops_per_s),
            "-" if r.ratio is None else f"{r.ratio:.2f}",
            _ms(r.peak_rss_mb),
        )
        for r in rows
    ]
    return _grid(head, body)


def targets_table(targets: list[dict[str, Any]]) -> str:
    head = ("figure (the performance issue's table)", "this run", "this issue", "goal", "met")
    body = [
        (
            t["figure"],
            t["shown"],
            t["this_issue"],
            t["goal"],
            "-" if t["met"] is None else ("yes" if t["met"] else "no"),
        )
        for t in targets
    ]
    return _grid(head, body)


def write(bench: Bench) -> None:
    """Write bench/results/latest.json (or BENCH_OUTPUT) and print both tables."""
    bench.cfg.output.parent.mkdir(parents=True, exist_ok=True)
    found = targets(bench)
    document = {
        "run": {
            "started": bench.started,
            "load_average_at_start": bench.load_at_start,
            "seconds_per_figure": bench.cfg.seconds,
            "connections": bench.cfg.connections,
            "measurements": list(bench.cfg.only),
        },
        "rows": [asdict(r) for r in bench.rows],
        "targets": found,
    }
    bench.cfg.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(table(bench.rows))
    print()
    print(targets_table(found))
    print(f"\nwritten to {bench.cfg.output}")

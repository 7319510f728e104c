"""Measure the deposit transaction on PostgreSQL with four drivers to pick one by numbers."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import ipaddress
import json
import math
import os
import platform
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driverdb import ACCOUNTS, Admin, Schema
from driverruns import Config, Run, run_variant

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "drivers.json"
BASELINE = "sa-psycopg"
REPORTED_PACKAGES = (
    "sqlalchemy",
    "psycopg",
    "psycopg-binary",
    "psycopg-pool",
    "psycopg2-binary",
    "psycopg2",
    "asyncpg",
)


# --------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    modules: tuple[str, ...]
    packages: tuple[str, ...]


VARIANTS: tuple[Variant, ...] = (
    Variant("sa-psycopg", "(a) SQLAlchemy 2 + psycopg 3", ("psycopg",), ("psycopg",)),
    # Not a driver: (a) with its statements built once; shows where (a)'s time goes.
    Variant(
        "sa-psycopg-prebuilt", "(a') as (a), statements built once", ("psycopg",), ("psycopg",)
    ),
    Variant("sa-psycopg2", "(b) SQLAlchemy 2 + psycopg2", ("psycopg2",), ("psycopg2-binary",)),
    Variant("psycopg", "(c) raw psycopg 3, pool, prepared", ("psycopg",), ("psycopg",)),
    Variant("asyncpg", "(d) raw asyncpg, asyncio tasks", ("asyncpg",), ("asyncpg",)),
)


def _missing(variant: Variant) -> str | None:
    for module, package in zip(variant.modules, variant.packages, strict=True):
        if importlib.util.find_spec(module) is None:
            return f"package '{package}' is not installed (pip install {package})"
    return None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- reporting


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or base == 0 or math.isnan(value) or math.isnan(base):
        return None
    return value / base


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None or math.isnan(value) else f"{value:{spec}}{suffix}"


def _median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def _aggregate(runs: list[Run]) -> dict[str, Any]:
    """Median over rounds, so one noisy round does not decide."""
    errors: Counter[str] = Counter()
    for r in runs:
        errors.update(r.errors)
    return {
        "ops_per_s": statistics.median(r.ops_per_s for r in runs),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "client_cpu_ms_per_commit": _median_or_none([r.client_cpu_ms for r in runs]),
        "transactions": sum(r.transactions for r in runs),
        "errors": dict(errors),
        "consistent": all(r.consistent for r in runs),
    }


def report(
    rows: list[dict[str, Any]], cfg: Config, rounds: int, meta: dict[str, Any], output: Path
) -> None:
    base = next((r for r in rows if r["variant"] == BASELINE and r["status"] == "ok"), None)
    for r in rows:
        if r["status"] != "ok":
            continue
        for metric in ("ops_per_s", "p50_ms", "p99_ms"):
            ratio = _ratio(r[metric], base[metric] if base else None)
            r[f"{metric}_vs_a"] = None if ratio is None else round(ratio, 3)
        for metric in ("ops_per_s", "p50_ms", "p99_ms"):
            r[metric] = round(r[metric], 3)

    header = (
        f"{'variant':<38} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'ops÷a':>7} {'p50÷a':>7} {'p99÷a':>7} {'cpu ms':>6} {'errors':>6} {'check':>5}"
    )
    print()
    print(
        f"deposit transaction, {cfg.concurrency} concurrent, {cfg.seconds:g} s measured "
        f"(+{cfg.warmup:g} s warm-up), median of {rounds} round(s), {os.cpu_count()} CPU(s)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if r["status"] != "ok":
            print(f"{r['label']:<38} skipped: {r['reason']}")
            continue
        print(
            f"{r['label']:<38} {_fmt(r['ops_per_s'], '9.0f')} {_fmt(r['p50_ms'], '8.2f')} "
            f"{_fmt(r['p99_ms'], '8.2f')} {_fmt(r.get('ops_per_s_vs_a'), '6.2f', 'x')} "
            f"{_fmt(r.get('p50_ms_vs_a'), '6.2f', 'x')} {_fmt(r.get('p99_ms_vs_a'), '6.2f', 'x')} "
            f"{_fmt(r['client_cpu_ms_per_commit'], '6.2f')} {sum(r['errors'].values()):>6} "
            f"{'ok' if r['consistent'] else 'BAD':>5}"
        )
    print("ratios are against (a); ops÷a above 1 is faster, p50÷a and p99÷a below 1 are faster")
    print("cpu ms: this process's CPU per commit (client cost; the server's is not in it)")

    document = {**meta, "results": rows}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}")


# --------------------------------------------------------------------------- main


def _load_1m() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _loopback_only(url: URL) -> None:
    hosts = [url.host or ""]
    query_host = url.query.get("host")
    if query_host:
        hosts += [query_host] if isinstance(query_host, str) else list(query_host)
    for host in hosts:
        if host in ("", "localhost") or host.startswith("/"):
            continue  # default / Unix socket / loopback name
        try:
            if ipaddress.ip_address(host).is_loopback:
                continue
        except ValueError:
            pass
        raise SystemExit(f"refusing non-loopback database host {host!r}: this bench is local only")


@contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so the schema is still dropped."""

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--database-url", default=DEFAULT_URL, help="loopback PostgreSQL URL")
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per variant")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    p.add_argument("--concurrency", type=int, default=16, help="threads / asyncio tasks")
    p.add_argument("--rounds", type=int, default=1, help="repeat all variants, report medians")
    p.add_argument(
        "--variants",
        default=",".join(v.key for v in VARIANTS),
        help="comma-separated subset of: " + ", ".join(v.key for v in VARIANTS),
    )
    p.add_argument(
        "--pre-ping",
        action="store_true",
        help="pool_pre_ping=True on the SQLAlchemy engines, as brokerplane's make_engine does",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0 or args.concurrency < 1 or args.rounds < 1:
        p.error("--seconds and --concurrency and --rounds must be positive, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raw_url = str(args.database_url)
    if raw_url.startswith("postgres://"):
        raw_url = "postgresql://" + raw_url[len("postgres://") :]
    url = make_url(raw_url)
    if url.get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a PostgreSQL URL")
    _loopback_only(url)
    if importlib.util.find_spec("psycopg") is None:
        raise SystemExit("setup needs psycopg 3 (a brokerplane dependency): pip install psycopg")

    keys = [k.strip() for k in str(args.variants).split(",") if k.strip()]
    known = {v.key: v for v in VARIANTS}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {sorted(known)}")
    selected = [v for v in VARIANTS if v.key in keys]

    cfg = Config(
        url=url,
        seconds=float(args.seconds),
        warmup=float(args.warmup),
        concurrency=int(args.concurrency),
        pre_ping=bool(args.pre_ping),
        seed=int(args.seed),
    )
    schema = Schema.build(f"bench_drivers_{os.getpid()}")
    admin = Admin(url, schema)

    skipped = {v.key: reason for v in selected if (reason := _missing(v)) is not None}
    for key, reason in skipped.items():
        print(f"skipping {known[key].label}: {reason}", flush=True)
    runnable = [v for v in selected if v.key not in skipped]
    runs: dict[str, list[Run]] = {v.key: [] for v in runnable}

    with _terminate_cleanly():
        meta: dict[str, Any] = {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": sys.version.split()[0],
                "note": "client and server share the machine; loopback TCP",
            },
            "server": {"version": admin.server_version(), **admin.settings()},
            "packages": {d: _version(d) for d in REPORTED_PACKAGES},
            "settings": {
                "seconds": cfg.seconds,
                "warmup": cfg.warmup,
                "concurrency": cfg.concurrency,
                "rounds": int(args.rounds),
                "accounts": ACCOUNTS,
                "pre_ping": cfg.pre_ping,
                "isolation": "READ COMMITTED",
                "transaction": "SELECT balance FOR UPDATE; UPDATE balance; "
                "INSERT ledger RETURNING id; COMMIT",
            },
        }
        admin.create()
        try:
            for rnd in range(int(args.rounds)):
                # Rotate the order each round so no variant always runs first (or last).
                order = runnable[rnd % len(runnable) :] + runnable[: rnd % len(runnable)]
                for v in order if runnable else []:
                    admin.reset()
                    print(f"round {rnd + 1}: {v.label} ...", flush=True)
                    load, cpu = _load_1m(), time.process_time()
                    run = run_variant(v.key, schema, cfg)
                    cpu = time.process_time() - cpu
                    run.load_1m = load
                    if run.committed_total:
                        run.client_cpu_ms = round(cpu * 1000.0 / run.committed_total, 3)
                    run.consistent, run.check = admin.check(run.committed_total)
                    err = f", errors {run.errors} ({run.first_error})" if run.errors else ""
                    print(
                        f"    {run.ops_per_s:.0f} ops/s, p50 {run.p50_ms:.2f} ms, "
                        f"p99 {run.p99_ms:.2f} ms, client CPU "
                        f"{_fmt(run.client_cpu_ms, '.2f')} ms/commit; "
                        f"load {_fmt(load, '.1f')}; {run.check}{err}",
                        flush=True,
                    )
                    runs[v.key].append(run)
        finally:
            admin.drop()
            print(f"dropped schema {schema.name}", flush=True)

    rows: list[dict[str, Any]] = []
    for v in selected:
        if v.key in skipped:
            rows.append(
                {"variant": v.key, "label": v.label, "status": "skipped", "reason": skipped[v.key]}
            )
            continue
        rows.append(
            {
                "variant": v.key,
                "label": v.label,
                "status": "ok",
                **_aggregate(runs[v.key]),
                "rounds": [r.as_json() for r in runs[v.key]],
            }
        )
    report(rows, cfg, int(args.rounds), meta, Path(args.output))
    failed = any(r["status"] == "ok" and (r["errors"] or not r["consistent"]) for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

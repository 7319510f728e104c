"""The `cli-startup` rows: wall time of `brokerplane --help` and `brokerplane key list`
against an interpreter doing the least it must."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from typing import TYPE_CHECKING

from harness import BIN, Load, _cli_json
from serverproc import _children_cpu

if TYPE_CHECKING:
    from bench import Bench


def measure(bench: Bench) -> None:
    """Median wall time of `brokerplane --help` and of `brokerplane key list` over the demo
    data (SQLite, two keys drawn as a table), each against an interpreter doing only the
    least it must: starting, and importing click and sqlalchemy. The runs alternate, after
    one of each that writes the bytecode caches (as an installed package has them)."""
    if "cli-startup" not in bench.cfg.only:
        return
    data = bench.tmp / "cli-startup"
    _cli_json("demo", "--data-dir", str(data))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BROKERPLANE_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    python, cli = str(BIN / "python"), str(BIN / "brokerplane")
    runs = {
        "help": [cli, "--help"],
        "key list": [cli, "key", "list", "--data-dir", str(data)],
        "python": [python, "-c", "pass"],
        "libraries": [python, "-c", "import click, sqlalchemy"],
    }
    took: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for n in range(bench.cfg.cli_runs + 1):
        for name, cmd in runs.items():
            before, started = _children_cpu(), time.perf_counter()
            subprocess.run(
                cmd,
                env=env,
                cwd=bench.tmp,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )
            if n:  # the first of each wrote the bytecode caches
                took[name].append(time.perf_counter() - started)
                cpu[name].append(_children_cpu() - before)
    median = {name: statistics.median(values) for name, values in took.items()}
    cpu_ms = {name: statistics.median(values) * 1000 for name, values in cpu.items()}
    bench.cli_seconds = {"help": median["help"], "key list": median["key list"]}
    for name, baseline, shown in (
        ("help", "python", "an interpreter starting (python -c pass)"),
        ("key list", "libraries", "an interpreter importing click and sqlalchemy"),
    ):
        seconds = sorted(took[name])
        load = Load(1, median[name], median[name] * 1000, seconds[-1] * 1000)
        bench.add(
            f"CLI start-up: brokerplane {'--help' if name == 'help' else name}",
            load,
            1 / median[baseline],
            "-" if name == "help" else "sqlite",
            f"median {median[name]:.3f} s wall, {cpu_ms[name]:.0f} ms CPU over "
            f"{len(seconds)} runs (p99 column: the slowest); ops/s: starts per second; "
            f"baseline: {shown}, median {median[baseline]:.3f} s",
        )

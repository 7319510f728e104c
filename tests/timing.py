"""Where the suite's time goes, measured so that a busy machine does not hide it.

Wall-clock durations (`--durations`) grow with whatever else the machine runs; CPU seconds
hardly do, and on a 2-core machine the suite is CPU-bound, so CPU is what a change must save.
Name a directory:

    BROKERPLANE_TEST_TIMES=/tmp/times pytest -n 2 ...   (tests/conftest.py loads this plugin)
    python -m tests.timing /tmp/times          # totals by directory, engine and file

Each process (each xdist worker) writes one JSON line per test to a file of its own in that
directory: the test's id, its wall seconds, the CPU seconds of the pytest process (every thread:
the app under TestClient, group commit, the browser driver) and those of the child processes it
waited for (servers, CLI runs) from setup to teardown. A server shared by a module or a session
is counted where it is stopped.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ENV = "BROKERPLANE_TEST_TIMES"
_rows: list[dict[str, Any]] = []


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    cpu, wall, children = time.process_time(), time.perf_counter(), _children_cpu()
    yield
    _rows.append(
        {
            "id": item.nodeid,
            "wall": round(time.perf_counter() - wall, 4),
            "cpu": round(time.process_time() - cpu, 4),
            "children": round(_children_cpu() - children, 4),
        }
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    where = os.environ.get(ENV)
    if not where or not _rows:
        return
    out = Path(where)
    out.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(out / f"{worker}-{os.getpid()}.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in _rows)


# ---- the summary -------------------------------------------------------------------------------


def _groups(test_id: str) -> tuple[str, str, str]:
    """(top directory, engine, file) of a test id such as tests/storage/test_x.py::t[postgres]."""
    path = test_id.split("::", 1)[0]
    parts = path.split("/")
    top = parts[1] if len(parts) > 2 and parts[0] == "tests" else parts[0]
    params = test_id.rsplit("[", 1)[1].rstrip("]") if test_id.endswith("]") else ""
    engine = next((e for e in ("postgres", "sqlite") if e in params.split("-")), "-")
    return top, engine, path


def _row(label: str, acc: list[float]) -> str:
    count, wall, cpu, children = acc
    return f"{label:<24}{int(count):>7}{wall:>10.1f}{cpu:>10.1f}{children:>10.1f}"


def summary(where: Path, top_files: int = 25) -> str:
    rows = [json.loads(line) for f in sorted(where.glob("*.jsonl")) for line in f.open()]
    if not rows:
        return f"no timings under {where}"
    dirs: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    files: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for row in rows:
        top, engine, path = _groups(row["id"])
        for acc in (dirs[top, engine], files[path]):
            acc[0] += 1
            acc[1] += row["wall"]
            acc[2] += row["cpu"]
            acc[3] += row["children"]
    lines = [
        f"{len(rows)} tests from {where}; seconds summed over tests (workers run in parallel)",
        f"{'directory  engine':<24}{'tests':>7}{'wall':>10}{'cpu':>10}{'children':>10}",
    ]
    total = [0, 0.0, 0.0, 0.0]
    for (top, engine), acc in sorted(dirs.items(), key=lambda kv: -(kv[1][2] + kv[1][3])):
        lines.append(_row(f"{top:<11}{engine}", acc))
        total = [t + a for t, a in zip(total, acc, strict=True)]
    lines.append(_row("all", total))
    lines.append(f"\nthe {top_files} files costing most CPU (own + children):")
    costly = sorted(files.items(), key=lambda kv: -(kv[1][2] + kv[1][3]))[:top_files]
    for path, (count, wall, cpu, children) in costly:
        lines.append(f"{cpu + children:>8.1f} s  {int(count):>4} tests  wall {wall:>7.1f}  {path}")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.timing DIRECTORY  (what BROKERPLANE_TEST_TIMES named)")
    print(summary(Path(sys.argv[1])))

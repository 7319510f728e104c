"""The server under test, `brokerplane serve` in a process of its own, and where the
machine's CPU went while it ran (its processes, PostgreSQL, the load generators)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from harness import BIN, free_port
from httpclient import one_request

# ---- the server under test -----------------------------------------------------------------


class Server:
    """`brokerplane serve` in its own process: one uvicorn process (MT5 sessions live in it)."""

    def __init__(
        self, url: str, data_dir: Path, port: int, env: dict[str, str] | None = None
    ) -> None:
        self.url = url
        self.extra_env = env or {}
        self.port = port or free_port()
        self.tcp_port = free_port()  # the MT5 Web API's TCP protocol
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"serve-{self.port}.log"

    def __enter__(self) -> Server:
        env = dict(os.environ)
        # No per-key rate limit (a benchmark sends far more than 600/min on one key) and no
        # access log line per request: what an operator would run under load.
        env.update(BROKERPLANE_RATE_LIMIT_PER_MINUTE="0", BROKERPLANE_LOG_LEVEL="warning")
        env.update(self.extra_env)
        cmd = [
            str(BIN / "brokerplane"),
            "serve",
            "--database-url",
            self.url,
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--mt5-tcp-port",
            str(self.tcp_port),
        ]
        self.log_file = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"brokerplane serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                status, _ = asyncio.run(one_request("127.0.0.1", self.port, "GET", "/health"))
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("brokerplane serve did not answer /health within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def reset_peak_rss(self) -> None:
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server process (and its live workers, with
        BROKERPLANE_WORKERS) has used so far."""
        pids = [self.pid]
        with contextlib.suppress(OSError):
            pids += [
                int(p)
                for p in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
            ]
        return sum(_cpu_of(pid) for pid in pids)

    def peak_rss_mb(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


def _cpu_of(pid: int) -> float:
    """User plus system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu() -> float:
    """CPU seconds of every process named postgres on this machine (all of PostgreSQL)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    total += _cpu_of(int(entry.name))
    return total


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values) - idle) / tick, sum(values) / tick


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the wrk runs) so far."""
    times = os.times()
    return times.children_user + times.children_system


def _split(
    server: float,
    postgres: float,
    wrk: float,
    now: tuple[float, float],
    then: tuple[float, float],
) -> str:
    """Where the CPU went over one measurement, as shares of the machine's CPU time."""
    busy, total = now[0] - then[0], now[1] - then[1]
    if total <= 0:
        return "unknown"
    parts = (
        ("brokerplane", server),
        ("PostgreSQL", postgres),
        ("wrk", wrk),
        ("other", max(0.0, busy - server - postgres - wrk)),
    )
    shares = ", ".join(f"{name} {100 * cpu / total:.0f}%" for name, cpu in parts)
    return f"{shares}, idle {100 * (1 - busy / total):.0f}%"

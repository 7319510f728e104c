"""The read-replica rows of `make bench` (BENCH_ONLY=replica): report reads per second while
deposits run, first with every read on the primary, then with BROKERPLANE_READ_DATABASE_URL
pointing at a streaming standby, in the same run and on the same data.

The primary and its standby are throwaway clusters made here from the machine's PostgreSQL
binaries (initdb, then pg_basebackup -R), with PostgreSQL's default durability (fsync on,
synchronous commit): not the shared server the other rows use, since a standby needs a primary
of its own. Both phases drive the same `brokerplane serve` command: `deposit` connections post
deposits as the demo admin, `read` connections page the users report
(GET /v1/reports/users?limit=100) as a read-only manager who never writes (a caller's own
writes would send its reads to the primary). The CPU each part used (seconds per second of
the measurement) goes in the notes.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import pwd
import resource
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import Demo, Load, _cli_json, free_port, log
from httpclient import Http, drive
from serverproc import Server

from dialects import JSON, native_deposit

if TYPE_CHECKING:
    from bench import Bench

READER_LOGIN = 9100
LIST_PATH = "/v1/reports/users?limit=100"
LAG = "x-brokerplane-replica-lag"


def bindir() -> Path | None:
    """The newest PostgreSQL server binaries: PATH first, then the Debian and RPM places."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin"):
        candidates += sorted((Path(p) for p in glob.glob(pattern)), reverse=True)
    for path in candidates:
        if all((path / tool).is_file() for tool in ("initdb", "pg_ctl", "pg_basebackup")):
            return path
    return None


class Cluster:
    """A PostgreSQL cluster in a directory of its own, run as `postgres` when we are root."""

    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir, self.root, self.port = bindir, root, port
        self.data = root / "data"
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(root, self.user.pw_uid, self.user.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str) -> None:
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C"}
        done = subprocess.run(
            [str(self.bindir / tool), *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            **kwargs,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {(done.stderr or done.stdout)[-1500:]}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.root} -c max_connections=200"
        )
        self.run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "120",
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def cpu_seconds(self) -> float:
        """CPU time of the postmaster and its children so far."""
        try:
            master = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for stat in glob.glob("/proc/[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(stat.split("/")[2])
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
                if pid == master or int(fields[1]) == master:
                    total += (int(fields[11]) + int(fields[12])) / tick
        return total


@contextlib.contextmanager
def clusters(binaries: Path, port: Callable[[], int]) -> Iterator[tuple[Cluster, Cluster]]:
    """A primary and its hot standby (pg_basebackup -R: streaming, with its conninfo)."""
    made: list[Cluster] = []
    try:
        primary = Cluster(binaries, Path(tempfile.mkdtemp(prefix="bench-primary-")), port())
        made.append(primary)
        primary.run(
            "initdb",
            "-D",
            str(primary.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        )
        primary.start()
        standby = Cluster(binaries, Path(tempfile.mkdtemp(prefix="bench-standby-")), port())
        made.append(standby)
        standby.run(
            "pg_basebackup",
            "-D",
            str(standby.data),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
        )
        standby.start()
        yield primary, standby
    finally:
        for cluster in reversed(made):
            cluster.stop()
            shutil.rmtree(cluster.root, ignore_errors=True)


def reader_key(url: str, data_dir: Path) -> str:
    where = ["--database-url", url, "--data-dir", str(data_dir)]
    rights = "users:read,reports:read"
    _cli_json(
        "manager",
        "create",
        "--login",
        str(READER_LOGIN),
        "--name",
        "Reporting",
        "--no-password",
        "--rights",
        rights,
        "--groups",
        "*",
        *where,
    )
    issued = _cli_json(
        "key",
        "create",
        "--manager",
        str(READER_LOGIN),
        "--scopes",
        rights,
        "--name",
        "bench-reports",
        *where,
    )
    return str(issued["key"])


def list_reader(key: str, lags: Counter[str]) -> tuple[Callable[..., Any], bool]:
    auth = {"Authorization": f"Bearer {key}", **JSON}

    async def work(conn: Http, done: Callable[[float], None]) -> None:
        started = time.monotonic()
        status, body = await conn.request("GET", LIST_PATH, auth)
        assert status == 200, status
        assert len(json.loads(body)["items"]) == 100
        value = conn.last_headers.get(LAG, "none")
        lags["primary" if value in ("primary", "none") else "replica"] += 1
        if value not in ("primary", "none"):
            lags["max_ms"] = max(lags["max_ms"], round(float(value) * 1000))
        done(started)

    return work, False


def measure(bench: Bench) -> None:
    cfg = bench.cfg
    binaries = bindir()
    if binaries is None:
        log("replica: no PostgreSQL server binaries (initdb, pg_basebackup): skipped")
        return
    writers, readers = cfg.connections, max(1, cfg.connections // 4)
    with clusters(binaries, free_port) as (primary, standby):
        demo = Demo.load(primary.url, bench.tmp, cfg.accounts)
        key = reader_key(primary.url, bench.tmp)
        logins = (demo.first_login, demo.last_login)
        phases: dict[str, tuple[Load, Load, Counter[str], str]] = {}
        replicated = {"BROKERPLANE_READ_DATABASE_URL": standby.url}
        for phase, env in (("primary", {}), ("replica", replicated)):
            lags: Counter[str] = Counter()
            with Server(primary.url, bench.tmp, cfg.port, env) as server:
                deposit, _ = native_deposit(demo.admin_key, logins)
                reader, _ = list_reader(key, Counter())

                async def both(
                    seconds: float,
                    deposit: Any = deposit,
                    reader: Any = reader,
                    port: int = server.port,
                ) -> tuple[Load, Load]:
                    loads = await asyncio.gather(
                        drive(port, writers, seconds, deposit),
                        drive(port, readers, seconds, reader),
                    )
                    return loads[0], loads[1]

                if cfg.warmup > 0:
                    asyncio.run(both(cfg.warmup))
                reader, _ = list_reader(key, lags)
                cpu = _cpu(server, primary, standby)
                wall = time.monotonic()
                deposits, reads = asyncio.run(both(cfg.seconds, reader=reader))
                wall = time.monotonic() - wall
                spent = [
                    (b - a) / wall for a, b in zip(cpu, _cpu(server, primary, standby), strict=True)
                ]
            split = (
                f"CPU s/s: brokerplane {spent[0]:.2f}, primary {spent[1]:.2f}, standby "
                f"{spent[2]:.2f}, load generator {spent[3]:.2f} (2 cores in all)"
            )
            phases[phase] = (deposits, reads, lags, split)
            log(
                f"replica phase {phase}: {deposits.rate:.0f} deposits/s, {reads.rate:.0f} "
                f"report reads/s; {dict(lags)}; {split}"
            )
    (dep_p, read_p, _, split_p), (dep_r, read_r, lags_r, split_r) = (
        phases["primary"],
        phases["replica"],
    )
    served = lags_r["replica"] + lags_r["primary"]
    share = lags_r["replica"] / served if served else 0.0
    shape = (
        f"{writers} deposit + {readers} report connections, Python asyncio client, one "
        "brokerplane process; throwaway primary + standby on this host"
    )
    bench.add(
        "report reads from the replica, deposits running",
        read_r,
        read_p.rate,
        "postgresql+standby",
        f"GET {LIST_PATH} as a read-only manager; baseline: the same with every read on the "
        f"primary; {share:.0%} served by the standby (largest stated lag "
        f"{lags_r['max_ms']} ms), the rest by the primary; deposits meanwhile "
        f"{dep_r.rate:.0f}/s vs {dep_p.rate:.0f}/s; {shape}; {split_r} (primary only: {split_p})",
    )
    bench.add(
        "deposits while reports read from the replica",
        dep_r,
        dep_p.rate,
        "postgresql+standby",
        f"native deposits in the same phases; baseline: deposits while the same reports read "
        f"from the primary; {shape}",
    )


def _cpu(server: Server, primary: Cluster, standby: Cluster) -> list[float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return [
        server.cpu_seconds(),
        primary.cpu_seconds(),
        standby.cpu_seconds(),
        me.ru_utime + me.ru_stime,
    ]

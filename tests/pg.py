"""PostgreSQL for the tests: the configured server or a throwaway cluster, and one migrated schema
per xdist worker.

PostgreSQL comes from BROKERPLANE_TEST_DATABASE_URL or, when that is unset, from a throwaway
cluster started from the machine's PostgreSQL binaries and shared by the xdist workers (the
controller stops it at the end of the session, tests/conftest.py); each worker migrates its own
schema once and empties it between tests. Without PostgreSQL the postgres tests skip with the
reason, unless BROKERPLANE_REQUIRE_POSTGRES=1, when they fail instead. tests/conftest.py offers
all this as the `postgres_url` fixture; the reliability tests start clusters of their own here.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import Engine, MetaData, Table, create_engine, text
from sqlalchemy.engine import URL

from brokerplane.storage import migrate
from brokerplane.storage.engine import normalize_url

ENV_URL = "BROKERPLANE_TEST_DATABASE_URL"


ENV_REQUIRE = "BROKERPLANE_REQUIRE_POSTGRES"


_STATE_FILE = "bp-postgres.json"


_LOCK_FILE = "bp-postgres.lock"


# --------------------------------------------------------------------------------------------
# helpers


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _postgres_required() -> bool:
    return _flag(ENV_REQUIRE)


def _unavailable(reason: str) -> NoReturn:
    """Skip with the reason, or fail when CI demands PostgreSQL."""
    if _postgres_required():
        pytest.fail(
            f"PostgreSQL is required ({ENV_REQUIRE}=1) but unavailable: {reason}", pytrace=False
        )
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _shared_root(tmp_path_factory: pytest.TempPathFactory, config: pytest.Config) -> Path:
    """A directory every xdist worker of this run sees: the controller's basetemp."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if _is_xdist_worker(config) else base


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------
# a throwaway PostgreSQL cluster


def _find_pg_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: PATH first, then the usual package locations."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    patterns = (
        "/usr/lib/postgresql/*/bin",
        "/usr/pgsql-*/bin",
        "/usr/local/pgsql/bin",
        "/opt/homebrew/opt/postgresql*/bin",
        "/usr/local/opt/postgresql*/bin",
    )

    def version(p: str) -> tuple[int, ...]:
        digits = "".join(c if c.isdigit() else " " for c in p).split()
        return tuple(int(d) for d in digits)

    for pattern in patterns:
        candidates.extend(Path(p) for p in sorted(glob.glob(pattern), key=version, reverse=True))
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Cluster:
    bindir: Path
    root: Path  # temporary directory: data/, the unix socket and the log
    port: int
    run_as: str | None  # the unprivileged user the server runs as when we are root

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def to_json(self) -> dict[str, Any]:
        return {
            "bindir": str(self.bindir),
            "root": str(self.root),
            "port": self.port,
            "run_as": self.run_as,
            "url": self.url,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Cluster:
        return cls(Path(data["bindir"]), Path(data["root"]), int(data["port"]), data["run_as"])

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = env["LANG"] = "C"
        return subprocess.run(
            list(args),
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )

    def _log_tail(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def start(self) -> None:
        data = self.root / "data"
        init = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        options = " ".join(
            (
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=300",
            )
        )
        started = self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        if started.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}\n{self._log_tail()}")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "-w",
                "-t",
                "30",
                "stop",
                timeout=60,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _unprivileged_user() -> str | None:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return None


def _start_cluster() -> _Cluster:
    bindir = _find_pg_bindir()
    if bindir is None:
        raise LookupError(
            f"set {ENV_URL} or install PostgreSQL: initdb/pg_ctl are not on PATH "
            "nor under /usr/lib/postgresql/*/bin"
        )
    run_as: str | None = None
    if os.geteuid() == 0:
        run_as = _unprivileged_user()
        if run_as is None:
            raise LookupError(
                "running as root and no unprivileged user (postgres, nobody) exists to run initdb"
            )
    errors: list[str] = []
    for _attempt in range(3):  # a free port can be taken between probing and binding
        root = Path(tempfile.mkdtemp(prefix="bp-pg-"))
        if run_as is not None:
            entry = pwd.getpwnam(run_as)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        cluster = _Cluster(bindir, root, _free_port(), run_as)
        try:
            cluster.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as err:
            cluster.stop()
            errors.append(str(err))
            continue
        return cluster
    raise RuntimeError("could not start a throwaway cluster: " + " | ".join(errors))


def _server_url(tmp_path_factory: pytest.TempPathFactory, config: pytest.Config) -> str:
    """The PostgreSQL server of this run: the configured one, or the run's throwaway cluster."""
    configured = os.environ.get(ENV_URL, "").strip()
    if configured:
        return configured
    root = _shared_root(tmp_path_factory, config)
    state = root / _STATE_FILE
    with _file_lock(root / _LOCK_FILE):
        if state.exists():
            data = json.loads(state.read_text())
        else:
            try:
                data = _start_cluster().to_json()
            except (LookupError, RuntimeError, OSError) as err:
                data = {"error": str(err)}
            state.write_text(json.dumps(data))
    if "error" in data:
        _unavailable(data["error"])
    return str(data["url"])


# --------------------------------------------------------------------------------------------
# PostgreSQL: one migrated schema per worker, emptied before each test


@dataclass
class _PgSchema:
    url: str
    engine: Engine  # connected with search_path = the schema; empties it between tests
    tables: list[str]
    seeded: list[tuple[Table, list[dict[str, Any]]]]  # rows the migrations insert

    def reset(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            if self.tables:
                names = ", ".join(f'"{name}"' for name in self.tables)
                conn.execute(text(f"TRUNCATE TABLE {names} RESTART IDENTITY CASCADE"))
            for table, rows in self.seeded:
                conn.execute(table.insert(), rows)


def _with_search_path(url: URL, schema: str) -> URL:
    options = url.query.get("options")
    current = options if isinstance(options, str) else " ".join(options or ())
    value = f"{current} -csearch_path={schema}".strip()
    return url.update_query_dict({"options": value})


@contextlib.contextmanager
def postgres_schema(
    tmp_path_factory: pytest.TempPathFactory, config: pytest.Config
) -> Iterator[_PgSchema]:
    """This worker's schema on this run's server, migrated, and dropped on the way out."""
    server = normalize_url(_server_url(tmp_path_factory, config))
    if server.get_backend_name() != "postgresql":
        pytest.fail(f"{ENV_URL} must be a PostgreSQL URL, not {server.drivername}", pytrace=False)
    admin = create_engine(server, connect_args={"connect_timeout": 5})
    schema = f"bp_test_{_worker_id()}_{secrets.token_hex(4)}".lower()
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as err:  # any connection or permission failure
        admin.dispose()
        if os.environ.get(ENV_URL):
            pytest.fail(f"{ENV_URL} is set but unusable: {err}", pytrace=False)
        _unavailable(f"cannot create a schema on the throwaway cluster: {err}")
    url = _with_search_path(server, schema)
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            names = (
                conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                        "AND tablename <> 'alembic_version' ORDER BY tablename"
                    )
                )
                .scalars()
                .all()
            )
            seeded = []
            for name in names:
                rows = [dict(r) for r in conn.execute(text(f'SELECT * FROM "{name}"')).mappings()]
                if rows:
                    seeded.append((Table(name, MetaData(), autoload_with=conn), rows))
        yield _PgSchema(_render(url), engine, list(names), seeded)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

"""Shared fixtures: migrated SQLite and PostgreSQL databases, a Runtime over each, the admin actor.

`database_url` runs a test once per engine, where the test's engines allow (see `engines_of`: the
dialect tests check translation and run on SQLite only; BROKERPLANE_ALL_ENGINES=1 runs every
test on both). SQLite databases are copies of one template migrated
once per session (per xdist worker). PostgreSQL comes from BROKERPLANE_TEST_DATABASE_URL or,
when that is unset, from a throwaway cluster started from the machine's PostgreSQL binaries and
shared by the xdist workers; each worker migrates its own schema once and empties it between
tests. Without PostgreSQL the postgres tests skip with the reason, unless
BROKERPLANE_REQUIRE_POSTGRES=1, when they fail instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import Engine, MetaData, Table, create_engine, text
from sqlalchemy.engine import URL

from brokerplane import bootstrap
from brokerplane.bootstrap import Runtime
from brokerplane.core import passwords
from brokerplane.core.actor import Actor, system_actor
from brokerplane.settings import Settings
from brokerplane.storage import migrate
from brokerplane.storage.database import Storage
from brokerplane.storage.engine import normalize_url
from tests import timing

# Every runtime, CLI run and server the tests start seals its audit chain with this key (a
# server makes its own key file); the tests of key files unset it.
TEST_AUDIT_KEY = "7e57" * 16
os.environ.setdefault("BROKERPLANE_AUDIT_KEY", TEST_AUDIT_KEY)

# Password verifiers made in the test processes use a cheap PBKDF2 cost: thousands of tests
# create managers and sign in, and the cost is stored in each verifier, so checking works the
# same whatever it is. Servers and CLI runs the tests start as processes keep the production
# cost, which tests/unit/test_password_cost.py checks against PRODUCTION_PBKDF2_ITERATIONS.
PRODUCTION_PBKDF2_ITERATIONS = passwords._ITERATIONS
TEST_PBKDF2_ITERATIONS = 1_000
passwords._ITERATIONS = TEST_PBKDF2_ITERATIONS

ENV_URL = "BROKERPLANE_TEST_DATABASE_URL"
ENV_REQUIRE = "BROKERPLANE_REQUIRE_POSTGRES"
ENV_ALL_ENGINES = "BROKERPLANE_ALL_ENGINES"
ENGINES = ("sqlite", "postgres")
SQLITE_FILE = "brokerplane.db"
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
        pytest.fail(f"PostgreSQL is required ({ENV_REQUIRE}=1) but unavailable: {reason}",
                    pytrace=False)  # fmt: skip
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
    patterns = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin",
                "/opt/homebrew/opt/postgresql*/bin", "/usr/local/opt/postgresql*/bin")  # fmt: skip

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
        return {"bindir": str(self.bindir), "root": str(self.root), "port": self.port,
                "run_as": self.run_as, "url": self.url}  # fmt: skip

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
            list(args), cwd=self.root, env=env, capture_output=True, text=True,
            timeout=timeout, check=False, **kwargs,
        )  # fmt: skip

    def _log_tail(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def start(self) -> None:
        data = self.root / "data"
        init = self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres",
                         "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        options = " ".join((
            f"-p {self.port}", "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.root}", "-c fsync=off",
            "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=300",
        ))  # fmt: skip
        started = self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l",
                            str(self.root / "server.log"), "-w", "-t", "60", "-o", options,
                            "start")  # fmt: skip
        if started.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}\n{self._log_tail()}")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                      "immediate", "-w", "-t", "30", "stop", timeout=60)  # fmt: skip
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
            raise LookupError("running as root and no unprivileged user (postgres, nobody) "
                              "exists to run initdb")  # fmt: skip
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
# temporary files in memory

ENV_TMP = "BROKERPLANE_TEST_TMPDIR"
_MEMORY_TMP = Path("/dev/shm")
_MEMORY_TMP_MIN_FREE = 2 * 1024**3


def _memory_tmp() -> Path | None:
    """Where this run's temporary files go when neither --basetemp nor TMPDIR says: the
    machine's tmpfs when it has one with room. Every SQLite database the tests make (the
    template's copies, the databases of the servers and CLI runs they start) lives under
    tmp_path and commits with synchronous=FULL; on a disk each commit waits for an fsync, in
    memory it does not. What is tested is unchanged: the crash tests kill processes, they do
    not cut the power, and the page cache survives a killed process either way."""
    chosen = os.environ.get(ENV_TMP, "").strip()
    if chosen:
        return Path(chosen)
    if os.environ.get("TMPDIR"):
        return None
    try:
        if not (_MEMORY_TMP.is_dir() and os.access(_MEMORY_TMP, os.W_OK | os.X_OK)):
            return None
        stat = os.statvfs(_MEMORY_TMP)
    except OSError:
        return None
    return _MEMORY_TMP if stat.f_bavail * stat.f_frsize >= _MEMORY_TMP_MIN_FREE else None


def pytest_configure(config: pytest.Config) -> None:
    """Point pytest's temporary directories (tmp_path, and so every database a test makes) and
    those of the processes the tests start (TMPDIR) at memory (`_memory_tmp`); xdist workers
    inherit both from the controller. BROKERPLANE_TEST_TIMES=DIR records each test's wall and
    CPU seconds there (tests/timing.py)."""
    if os.environ.get(timing.ENV):
        config.pluginmanager.register(timing, "brokerplane-timing")
    if config.option.basetemp or _is_xdist_worker(config):
        return
    where = _memory_tmp()
    if where is not None:
        where.mkdir(parents=True, exist_ok=True)
        tempfile.tempdir = os.environ["TMPDIR"] = str(where)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The controller (or the only process) stops the throwaway cluster after every worker."""
    if _is_xdist_worker(session.config):
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or getattr(factory, "_basetemp", None) is None:
        return
    state = factory.getbasetemp() / _STATE_FILE
    if not state.exists():
        return
    data = json.loads(state.read_text())
    state.unlink()
    if "error" not in data:
        _Cluster.from_json(data).stop()


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


@pytest.fixture(scope="session")
def _postgres_schema(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[_PgSchema]:
    server = normalize_url(_server_url(tmp_path_factory, pytestconfig))
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
            names = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'alembic_version' ORDER BY tablename"
            )).scalars().all()  # fmt: skip
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


@pytest.fixture
def postgres_url(_postgres_schema: _PgSchema) -> str:
    """A migrated, empty PostgreSQL database (this worker's schema) as a URL."""
    _postgres_schema.reset()
    return _postgres_schema.url


# --------------------------------------------------------------------------------------------
# SQLite: a template migrated once per worker, copied per test


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / SQLITE_FILE
    storage = Storage(f"sqlite:///{path.as_posix()}")
    try:
        migrate.upgrade(storage.engine)
    finally:
        storage.dispose()
    # One self-contained file to copy: fold the WAL back in and leave WAL mode (each test's
    # engine turns it on again when it connects).
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    return path


@pytest.fixture
def sqlite_url(_sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh migrated SQLite database file under tmp_path, as a URL."""
    target = tmp_path / SQLITE_FILE
    shutil.copyfile(_sqlite_template, target)
    return f"sqlite:///{target.as_posix()}"


# --------------------------------------------------------------------------------------------
# what tests use


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database on each engine in turn."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    rt = bootstrap.build(Settings(database_url=database_url, data_dir=tmp_path))
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def admin() -> Actor:
    return system_actor()


# --------------------------------------------------------------------------------------------
# which engines a test runs on

# Test directories (under tests/) whose tests check translation: what a dialect answers on the
# wire for what the core decided. The SQL under them is the storage layer's, which tests/storage
# and tests/reliability run on both engines, so these run on SQLite only. A test among them that
# reaches SQL the storage tests do not (PostgreSQL's integer, NUL and encoding errors, races
# between connections, engine-specific queries) says so with @pytest.mark.engines("sqlite",
# "postgres"); a translation test elsewhere says @pytest.mark.engines("sqlite").
SQLITE_ONLY_DIRS = frozenset({"dialects"})


def engines_of(item: pytest.Item) -> tuple[str, ...]:
    """The engines `item` runs on: its closest `engines` marker, else its directory's rule."""
    marker = item.get_closest_marker("engines")
    if marker is not None:
        unknown = set(marker.args) - set(ENGINES)
        if not marker.args or unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.engines takes engine names from {ENGINES}, "
                f"not {marker.args!r}"
            )
        return tuple(marker.args)
    tests_dir = Path(__file__).parent
    try:
        top = item.path.relative_to(tests_dir).parts[0]
    except ValueError:
        return ENGINES
    return ("sqlite",) if top in SQLITE_ONLY_DIRS else ENGINES


def _engine_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    for name in ("database_url", "engine_url"):
        value = callspec.params.get(name)
        if value in ENGINES:
            return str(value)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the engine variants a test does not run on (BROKERPLANE_ALL_ENGINES=1: none),
    then put the slow directories first (`run_order`)."""
    if not _flag(ENV_ALL_ENGINES):
        keep: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            engine = _engine_param(item)
            dropped_variant = engine is not None and engine not in engines_of(item)
            (dropped if dropped_variant else keep).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
    items.sort(key=run_order)  # stable: a module's tests stay together and in file order


# Directories (under tests/) whose tests run for seconds each: real servers, kills, browsers,
# whole docs pages. xdist hands tests to the workers in collection order, so these go first and
# the many quick tests fill in behind them; collected last (alphabetically after `dialects`),
# one of them would keep a worker busy long after the other had run out of work. `client` stays
# before `console`: the browser's session-wide Playwright loop runs in the worker's thread from
# the first console test on, and the async client's tests call asyncio.run().
SLOW_FIRST_DIRS = ("reliability", "docs", "e2e", "client", "console")


def run_order(item: pytest.Item) -> int:
    """Where `item`'s directory comes in the run: SLOW_FIRST_DIRS in order, then the rest."""
    try:
        top = item.path.relative_to(Path(__file__).parent).parts[0]
    except ValueError:
        return len(SLOW_FIRST_DIRS)
    return SLOW_FIRST_DIRS.index(top) if top in SLOW_FIRST_DIRS else len(SLOW_FIRST_DIRS)


# --------------------------------------------------------------------------------------------
# leaked connections fail the test that leaked them


@pytest.fixture(autouse=True)
def _collect_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a PostgreSQL test that runs servers (SLOW_FIRST_DIRS), collect the garbage once
    its other fixtures are torn down: a connection it left open (a server thread outliving the
    runtime it closed, an engine never disposed) warns now, and fails this test, rather than
    whichever test the collector happens to run in later (on either engine). Only there: a
    collection costs tens of milliseconds, which these tests of seconds do not notice and the
    thousands of quick tests would."""
    yield
    item = request.node
    if _engine_param(item) == "postgres" and run_order(item) < len(SLOW_FIRST_DIRS):
        gc.collect()


def pytest_report_header(config: pytest.Config) -> str:
    if _flag(ENV_ALL_ENGINES):
        return f"engines: every database test on SQLite and PostgreSQL ({ENV_ALL_ENGINES}=1)"
    return (f"engines: translation tests (tests/dialects, engines('sqlite')) on SQLite only; "
            f"{ENV_ALL_ENGINES}=1 runs them on PostgreSQL too")  # fmt: skip


# --------------------------------------------------------------------------------------------
# the reliability report: each scenario's one-line summary, at the end of the run

RELIABILITY_SUMMARY = "reliability summary"
_SUMMARY_CACHE_KEY = "brokerplane/reliability-summary"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the summaries the reliability scenarios recorded (tests/reliability/conftest.py)
    and keep them in the pytest cache. This file is loaded by the process that owns the
    terminal, also under xdist, and the lines arrive with the reports of the workers."""
    lines = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for key, value in getattr(report, "user_properties", ())
        if key == RELIABILITY_SUMMARY
    ]
    if not lines:
        return
    terminalreporter.section(RELIABILITY_SUMMARY)
    for line in lines:
        terminalreporter.write_line(line)
    cache = getattr(config, "cache", None)
    if cache is not None:
        cache.set(_SUMMARY_CACHE_KEY, lines)
        where = config.rootpath / config.getini("cache_dir") / "v" / _SUMMARY_CACHE_KEY
        terminalreporter.write_line(f"(kept as JSON in {where})")

"""Shared fixtures: migrated SQLite and PostgreSQL databases, a Runtime over each, the admin actor.

`database_url` runs a test once per engine, where the test's engines allow (see `engines_of`: the
dialect tests check translation and run on SQLite only; BROKERPLANE_ALL_ENGINES=1 runs every
test on both). SQLite databases are copies of one template migrated once per session (per xdist
worker). PostgreSQL comes from BROKERPLANE_TEST_DATABASE_URL or, when that is unset, from a
throwaway cluster shared by the xdist workers, with one migrated schema per worker emptied
between tests (tests/pg.py). Without PostgreSQL the postgres tests skip with the reason, unless
BROKERPLANE_REQUIRE_POSTGRES=1, when they fail instead.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brokerplane import bootstrap
from brokerplane.bootstrap import Runtime
from brokerplane.core import passwords
from brokerplane.core.actor import Actor, system_actor
from brokerplane.settings import Settings
from brokerplane.storage import migrate
from brokerplane.storage.database import Storage
from tests import timing
from tests.pg import _STATE_FILE, _Cluster, _flag, _is_xdist_worker, _PgSchema, postgres_schema

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


ENV_ALL_ENGINES = "BROKERPLANE_ALL_ENGINES"


ENGINES = ("sqlite", "postgres")


SQLITE_FILE = "brokerplane.db"


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


@pytest.fixture(scope="session")
def _postgres_schema(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[_PgSchema]:
    """This worker's migrated schema (tests/pg.py)."""
    with postgres_schema(tmp_path_factory, pytestconfig) as schema:
        yield schema


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
    fold_into_one_file(path)
    return path


def fold_into_one_file(path: Path) -> None:
    """Make the closed SQLite database at `path` one self-contained file to copy: fold the
    WAL back in and leave WAL mode (each test's engine turns it on again when it connects)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


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
# reaches SQL the storage tests do not (NUL characters and text the engines store differently,
# races between connections, reach filters and exports written per engine) says so with
# @pytest.mark.engines("sqlite", "postgres"); a translation test elsewhere says
# @pytest.mark.engines("sqlite").
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
    return (
        f"engines: translation tests (tests/dialects, engines('sqlite')) on SQLite only; "
        f"{ENV_ALL_ENGINES}=1 runs them on PostgreSQL too"
    )


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

"""The CLI starts light: `brokerplane --help` loads no database, web or migration library, and
what it lists is what the commands say of themselves."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from brokerplane.cli.main import COMMANDS, main
from brokerplane.storage import migrate, revisions

HEAVY = (
    "sqlalchemy",
    "alembic",
    "starlette",
    "fastapi",
    "uvicorn",
    "pydantic_settings",
    "psycopg",
    "brokerplane.storage",
    "brokerplane.api",
)

PROBE = """
import json, sys
sys.argv = ["brokerplane", *json.loads(sys.argv[1])]
from brokerplane.cli.main import main
try:
    main()
except SystemExit as done:
    code = done.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _loaded(*args: str) -> tuple[int, set[str], str]:
    """Run the CLI in a fresh interpreter: its exit code, the modules it loaded, its output."""
    run = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = run.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    return report["code"], set(report["modules"]), "\n".join(lines[:-1])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))


def test_help_loads_no_database_web_or_migration_library() -> None:
    code, modules, output = _loaded("--help")
    assert code == 0
    assert "serve" in output and "key" in output
    assert _heavy(modules) == []


def test_a_command_that_reads_the_database_does_not_load_the_web_or_alembic(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{(tmp_path / 'keys.db').as_posix()}"
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--database-url", url]).exit_code == 0
    code, modules, output = _loaded("key", "list", "--database-url", url, "--json")
    assert code in (0, None), output
    assert json.loads(output) == {"items": []}
    assert "sqlalchemy" in modules  # it did read the database ...
    unwanted = (
        "alembic",
        "starlette",
        "fastapi",
        "uvicorn",
        "cryptography",
        "brokerplane.api",
        "pydantic_settings",
        "psycopg",
    )
    assert [m for m in modules if m.split(".")[0] in unwanted or m.startswith(unwanted)] == []
    # ... on SQLite: nothing of the PostgreSQL dialect (whose package loads all its drivers'
    # modules), and nothing of the ORM
    assert [
        m for m in modules if m.startswith(("sqlalchemy.dialects.postgresql", "sqlalchemy.orm"))
    ] == []


# What `key list` has no use for: the core's other slices (the Application facade imports each
# when a call first needs it), the demo loader's commands, the webhook service (settings only
# needs its replay window) and the terminal table (`--json` draws nothing).
NOT_FOR_KEY_LIST = (
    "brokerplane.core.account.service",
    "brokerplane.core.ledger.service",
    "brokerplane.core.ledger.check",
    "brokerplane.core.ledger.transfer",
    "brokerplane.core.trading.service",
    "brokerplane.core.trading.batch",
    "brokerplane.core.trading.whatif",
    "brokerplane.core.approval.service",
    "brokerplane.core.backoffice.webhooks",
    "brokerplane.core.backoffice.users",
    "brokerplane.core.backoffice.reports",
    "brokerplane.core.backoffice.catalog",
    "brokerplane.core.backoffice.sessions",
    "brokerplane.core.user.service",
    "brokerplane.core.group.service",
    "brokerplane.core.symbol.service",
    "brokerplane.core.events.service",
    "brokerplane.core.events.delivery",
    "brokerplane.core.account.archive",
    "brokerplane.core.account.opening",
    "brokerplane.core.account.queries",
    "brokerplane.core.account.checks",
    "brokerplane.core.ledger.integrity",
    "brokerplane.core.trading.queries",
    "brokerplane.core.trading.quotes",
    "brokerplane.core.trading.exposure",
    "brokerplane.core.backoffice.report_run",
    "brokerplane.core.attribute.service",
    "rich",
)


def test_key_list_loads_only_the_core_slice_it_reads(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'keys.db').as_posix()}"
    assert CliRunner().invoke(main, ["db", "upgrade", "--database-url", url]).exit_code == 0
    code, modules, output = _loaded("key", "list", "--database-url", url, "--json")
    assert code in (0, None), output
    assert json.loads(output) == {"items": []}
    assert "brokerplane.core.access.service" in modules  # the slice that lists keys ...
    below = tuple(f"{name}." for name in NOT_FOR_KEY_LIST)
    loaded = sorted(m for m in modules if m in NOT_FOR_KEY_LIST or m.startswith(below))
    assert loaded == []


def test_the_slices_key_list_skips_still_answer_when_a_command_needs_them(
    tmp_path: Path,
) -> None:
    """In fresh interpreters: `demo` (groups, symbols, quotes, thresholds, managers, keys and
    accounts, each through its own lazily imported slice), then `ledger verify` and `key list`
    read what it made."""
    url = f"sqlite:///{(tmp_path / 'demo.db').as_posix()}"
    where = ["--database-url", url, "--data-dir", str(tmp_path)]
    code, modules, output = _loaded("demo", *where, "--json", "--accounts", "2")
    assert code in (0, None), output
    demo = json.loads(output)
    assert demo["already_loaded"] is False and "EURUSD" in demo["symbols"]
    assert "brokerplane.core.account.service" in modules  # loaded when the accounts opened
    code, modules, output = _loaded("ledger", "verify", *where)
    assert code in (0, None), output
    assert "ledger OK: 2 accounts checked" in output
    assert "brokerplane.core.ledger.service" in modules
    code, _, output = _loaded("key", "list", *where, "--json")
    assert code in (0, None), output
    listed = {k["id"] for k in json.loads(output)["items"]}
    assert listed == {demo["admin_key_id"], demo["approver_key_id"]}


def test_the_root_help_lists_what_each_command_says_of_itself() -> None:
    for name, (module, attribute, shown) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert command.get_short_help_str(limit=200) == shown, name
    listed = CliRunner().invoke(main, ["--help"]).output
    assert all(f"  {name} " in listed for name in COMMANDS)


def test_the_fast_revision_reading_agrees_with_alembic(tmp_path: Path) -> None:
    assert revisions.head() == migrate.head()
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{(tmp_path / 'rev.db').as_posix()}")
    try:
        assert revisions.current(engine) is None  # never migrated: no version table
        assert migrate.current(engine) is None
        migrate.upgrade(engine)
        assert revisions.current(engine) == migrate.current(engine) == migrate.head()
    finally:
        engine.dispose()


# What the everyday read commands load beyond what they need: the web, migrations, pydantic
# (their settings are plain values, built without the model: brokerplane.settings), the
# PostgreSQL driver on SQLite; for the key and manager lists, the storage's attribute and
# token models too (imported by the methods that read them).
NOT_FOR_READS = (
    "alembic",
    "starlette",
    "fastapi",
    "uvicorn",
    "pydantic",
    "pydantic_core",
    "psycopg",
    "brokerplane.api",
    "brokerplane.storage.migrate",
)
NOT_FOR_LISTS = ("brokerplane.core.attributes", "brokerplane.core.access.tokens")


def test_the_everyday_read_commands_load_neither_pydantic_nor_the_web(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`key list` (drawn as a table, not a TTY), `manager list`, `approvals thresholds list`
    and `ledger verify` in fresh interpreters, with settings from the environment."""
    for name in [n for n in os.environ if n.upper().startswith("BROKERPLANE_")]:
        monkeypatch.delenv(name)  # the tests' audit key is a pydantic SecretStr
    monkeypatch.setenv("BROKERPLANE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BROKERPLANE_LOG_LEVEL", "warning")
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    below = tuple(f"{name}." for name in NOT_FOR_READS)
    for command in (
        ["key", "list"],
        ["key", "list", "--json"],
        ["manager", "list"],
        ["approvals", "thresholds", "list"],
        ["ledger", "verify"],
    ):
        code, modules, output = _loaded(*command)
        assert code in (0, None), (command, output)
        assert "brokerplane.storage.uow" in modules  # it did read the database ...
        unwanted = sorted(m for m in modules if m in NOT_FOR_READS or m.startswith(below))
        if command[0] in ("key", "manager"):
            unwanted += sorted(m for m in modules if m in NOT_FOR_LISTS)
        assert unwanted == [], command  # ... and loaded nothing of the above
    assert "ledger OK" in output


@pytest.mark.parametrize(
    ("replica", "said"),
    [
        ("sqlite:////tmp/replica.db", "must be PostgreSQL"),
        ("mysql://reader:s3cret@db/replica", "unsupported database URL"),
        ("not a url", "(not a database URL)"),
    ],
)
def test_an_unusable_read_replica_url_is_named_as_such_in_one_line(
    tmp_path: Path, replica: str, said: str
) -> None:
    """Not blamed on the primary's URL (which is fine), the password masked, no traceback."""
    primary = "postgresql://brokerplane:pr1mary@127.0.0.1:1/brokerplane"
    env = {**os.environ, "BROKERPLANE_READ_DATABASE_URL": replica}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "brokerplane.cli.main",
            "ledger",
            "verify",
            "--database-url",
            primary,
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: read replica URL ") and "BROKERPLANE_READ_DATABASE_URL" in line
    assert said in line and "s3cret" not in line and "pr1mary" not in line


def test_a_command_that_migrates_loads_alembic_only_when_the_schema_is_behind(
    tmp_path: Path,
) -> None:
    """`demo` migrates first: a fresh database through alembic, one already at head (every
    start but the first, `serve` too) with one read of its revision and nothing of alembic."""
    url = f"sqlite:///{(tmp_path / 'demo.db').as_posix()}"
    where = ["--database-url", url, "--data-dir", str(tmp_path)]
    code, modules, output = _loaded("demo", *where, "--json")
    assert code in (0, None), output
    assert json.loads(output)["already_loaded"] is False
    assert "alembic" in modules  # a fresh database: migrated
    code, modules, output = _loaded("demo", *where, "--json")
    assert code in (0, None), output
    assert json.loads(output)["already_loaded"] is True
    assert [m for m in modules if m == "alembic" or m.startswith("alembic.")] == []
    assert "brokerplane.storage.migrate" not in modules

"""`brokerplane db create`: a PostgreSQL role and database from one URL, idempotent, with
one-line errors; then that one URL is all `db upgrade` (and serve) need."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from brokerplane.cli.main import main

ADMIN = os.environ.get(
    "BROKERPLANE_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _admin() -> object:
    psycopg = pytest.importorskip("psycopg")
    try:
        return psycopg.connect(ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        if os.environ.get("BROKERPLANE_REQUIRE_POSTGRES", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL is required but {ADMIN} is unreachable: {exc}")
        pytest.skip(f"no PostgreSQL administrator at {ADMIN}: {exc}")


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, ["db", *args])


@pytest.fixture
def fresh() -> Iterator[tuple[str, str]]:
    """A role and database name nobody uses yet (dropped afterwards), and the URL naming them
    with a password that needs quoting in a URL."""
    admin = _admin()
    name = "bp_create_" + secrets.token_hex(4)
    host_url = ADMIN.rsplit("@", 1)[1].split("/", 1)[0]
    url = f"postgresql://{name}:pa%40ss%3Aword@{host_url}/{name}"
    try:
        yield name, url
    finally:
        with admin:  # type: ignore[attr-defined]
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
            admin.execute(f'DROP ROLE IF EXISTS "{name}"')  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_db_create_makes_the_role_and_database_once_and_the_url_then_just_works(
    fresh: tuple[str, str],
) -> None:
    name, url = fresh
    created = _run("create", "--database-url", url, "--admin-url", ADMIN)
    assert created.exit_code == 0, created.output
    assert f"created role {name}" in created.output
    assert f"created database {name} owned by {name}" in created.output
    assert "ready" in created.output
    assert "pa@ss" not in created.output and "pa%40ss" not in created.output  # masked

    again = _run("create", "--database-url", url, "--admin-url", ADMIN)
    assert again.exit_code == 0, again.output
    assert f"role {name} exists (left as it is)" in again.output
    assert f"database {name} exists, owned by {name}" in again.output
    assert "created" not in again.output

    upgraded = _run("upgrade", "--database-url", url)  # as the new role, which owns the database
    assert upgraded.exit_code == 0, upgraded.output
    assert "upgraded empty ->" in upgraded.output
    current = _run("current", "--database-url", url)
    assert current.exit_code == 0 and "(head)" in current.output, current.output


@pytest.mark.postgres
def test_the_admin_url_may_come_from_the_environment(
    fresh: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, url = fresh
    monkeypatch.setenv("BROKERPLANE_ADMIN_DATABASE_URL", ADMIN)
    monkeypatch.setenv("BROKERPLANE_DATABASE_URL", url)
    created = _run("create")
    assert created.exit_code == 0, created.output
    assert f"created database {name}" in created.output


def test_db_create_errors_are_one_line(tmp_path: Path) -> None:
    unreachable = _run(
        "create",
        "--database-url",
        "postgresql://app:pw@127.0.0.1:5432/app",
        "--admin-url",
        "postgresql://postgres@127.0.0.1:1/postgres",
    )
    assert unreachable.exit_code == 2
    assert "cannot connect as the administrator postgresql://postgres@127.0.0.1:1/postgres" in (
        unreachable.output
    )
    assert "BROKERPLANE_ADMIN_DATABASE_URL" in unreachable.output
    nameless = _run("create", "--database-url", "postgresql://127.0.0.1:5432/app")
    assert nameless.exit_code == 2 and "names no role" in nameless.output
    same = _run(
        "create",
        "--database-url",
        "postgresql://app:pw@127.0.0.1/app",
        "--admin-url",
        "postgresql://app@127.0.0.1/postgres",
    )
    assert same.exit_code == 2 and "must name a role that may create others" in same.output
    long_name = "x" * 64
    too_long = _run("create", "--database-url", f"postgresql://{long_name}@127.0.0.1/db")
    assert too_long.exit_code == 2 and "longer than 63 bytes" in too_long.output
    sqlite = _run("create", "--database-url", f"sqlite:///{tmp_path}/x.db")
    assert sqlite.exit_code == 0 and "nothing to create" in sqlite.output
    for result in (unreachable, nameless, same, too_long, sqlite):
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)

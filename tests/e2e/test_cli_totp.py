"""`brokerplane manager totp-reset`: an operator removes a manager's second factor (the manager
lost its phone and its recovery codes), audited; a manager without one, or none at all, is said
so. In-process through click's CliRunner, SQLite (tests/storage runs the SQL on both)."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner, Result

from brokerplane.bootstrap import Runtime
from brokerplane.cli.main import main
from brokerplane.core.access import totp
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.kinds import Dialect

pytestmark = pytest.mark.engines("sqlite")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


def test_totp_reset_removes_a_managers_second_factor_audited(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    s = runtime.app
    s.create_manager(CreateManager(2001, "Desk", "Str0ng#Pass"), admin)
    desk = Actor(manager_login=2001, dialect=Dialect.CONSOLE)
    text = s.start_second_factor(desk, "Str0ng#Pass").secret
    secret = base64.b32decode(text + "=" * (-len(text) % 8))
    s.confirm_second_factor(desk, totp.code_at(secret, s.clock()), "Str0ng#Pass")
    assert s.second_factor_status(desk).enabled

    done = run("manager", "totp-reset", "2001", "--database-url", database_url, "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"login": 2001, "reset": True}
    assert not s.second_factor_status(desk).enabled
    trail = s.query_audit(AuditQuery(action="manager.second_factor_reset"), admin)
    assert [r.entity_id for r in trail] == ["2001"]

    again = run("manager", "totp-reset", "2001", "--database-url", database_url)
    assert again.exit_code == 0
    assert "manager 2001 had no two-factor sign-in" in again.stdout


def test_totp_reset_of_an_unknown_manager_is_one_clear_line(database_url: str) -> None:
    result = run("manager", "totp-reset", "4242", "--database-url", database_url)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "4242" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["totp-reset", "unlock", "disable", "enable"])
def test_a_login_past_64_bits_is_refused_in_one_line(database_url: str, command: str) -> None:
    result = CliRunner().invoke(
        main, ["manager", command, "9" * 23, "--database-url", database_url]
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output

"""What the access command tests share: running `brokerplane` in-process through click's
CliRunner, reading its answers, and reading back what the commands changed."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from click.testing import CliRunner, Result

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.cli.main import main
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditQuery
from tests.unit.fakes import FakeClock

PASSWORD = "Str0ng#Pass"


def run(*args: str) -> Result:
    # Wide enough that no table cell wraps.
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def ok_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json").stdout)


def refused(*args: str) -> str:
    """Run a command that must fail on bad input: exit 2 and one line on stderr."""
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def create_manager(
    runtime: Runtime, admin: Actor, login: int = 2001, rights: str = "users:read,reports:read"
) -> None:
    cmd = CreateManager(login, "Worker", PASSWORD, frozenset(rights.split(",")), "demo*")
    runtime.app.create_manager(cmd, admin)


def issue(runtime: Runtime, admin: Actor, login: int = 2001, scopes: str = "users:read") -> str:
    cmd = CreateApiKey(login, frozenset(scopes.split(",")))
    return runtime.app.create_api_key(cmd, admin).secret


def at(runtime: Runtime, when: datetime) -> Application:
    """The same database seen through services whose clock reads `when`."""
    return Application(runtime.storage.uow, runtime.app.config, FakeClock(when))


def state_of(runtime: Runtime, admin: Actor) -> tuple[Any, ...]:
    """Everything the access commands may change, to show a refused command changed nothing."""
    services = runtime.app
    managers = tuple(
        (m.login, m.name, m.enabled, m.rights, m.group_mask, m.white_labels, tuple(m.verifiers))
        for m in services.list_managers(admin)
    )
    keys = tuple(
        (k.id, k.scopes, k.expires_at, k.revoked_at) for k in services.list_api_keys(admin)
    )
    return managers, keys, len(services.query_audit(AuditQuery(limit=1000), admin))

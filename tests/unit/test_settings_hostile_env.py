"""Hostile BROKERPLANE_* values (infinite, huge, not numbers): a one-line error naming the
setting, before anything is built; never a traceback from deep inside the start-up."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from brokerplane.cli.main import main

HOSTILE = [
    ("APPROVAL_TTL_HOURS", "1e300", "approval_ttl_hours"),
    ("EVENTS_RETENTION_DAYS", "1e300", "events_retention_days"),
    ("IDEMPOTENCY_RETENTION_DAYS", "inf", "idempotency_retention_days"),
    ("IDEMPOTENCY_LEASE_S", "1e300", "idempotency_lease_s"),
    ("KEY_ROTATION_OVERLAP_HOURS", "1e300", "key_rotation_overlap_hours"),
    ("WEBHOOK_RETRY_HOURS", "Infinity", "webhook_retry_hours"),
    ("MAINTENANCE_INTERVAL_S", "1e300", "maintenance_interval_s"),
    ("RATE_LIMIT_PER_MINUTE", "99999999999999999999", "rate_limit_per_minute"),
    ("TE_RATE_LIMIT_PER_SECOND", "99999999999999999999", "te_rate_limit_per_second"),
]


@pytest.mark.parametrize(("name", "value", "field"), HOSTILE)
def test_a_hostile_setting_is_one_line_naming_it(
    tmp_path: Path, name: str, value: str, field: str
) -> None:
    env = {f"BROKERPLANE_{name}": value, "BROKERPLANE_DATA_DIR": str(tmp_path)}
    done = CliRunner().invoke(main, ["key", "list"], env=env)
    assert done.exit_code == 2, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert f"settings: {field}:" in done.output


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


@pytest.mark.parametrize("command", [["key", "list"], ["serve", "--port", ""]])
def test_a_data_directory_that_cannot_be_made_is_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    command = [arg or _free_port() for arg in command]
    (tmp_path / "plain").write_text("a file, not a directory")
    env = {"BROKERPLANE_DATA_DIR": str(tmp_path / "plain" / "data")}
    done = CliRunner().invoke(main, command, env=env)
    assert done.exit_code == 2, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert "plain" in done.output and "Traceback" not in done.output

"""`brokerplane maintenance`: purge expired request ids and old events, expire overdue
approvals."""

from __future__ import annotations

from pathlib import Path

import click

from brokerplane.cli.common import build_settings, database_options, plural, runtime_for


@click.group()
def maintenance() -> None:
    """Purge expired request ids and old events; expire overdue approvals.

    The server runs it every BROKERPLANE_MAINTENANCE_INTERVAL_S seconds.
    """


@maintenance.command("run")
@database_options
def maintenance_run(database_url: str | None, data_dir: Path | None) -> None:
    """Purge expired request ids and events past the retention; expire overdue approvals, once."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        purged, expired = runtime.app.run_maintenance()
        old_events = runtime.app.purge_events()
    click.echo(
        f"maintenance: {plural(purged, 'expired request id')} purged, "
        f"{plural(expired, 'overdue approval')} expired, "
        f"{plural(old_events, 'event')} past the retention purged"
    )

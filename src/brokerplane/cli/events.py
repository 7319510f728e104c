"""`brokerplane events`: follow the event feed CRMs read (GET /v1/events) from the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from brokerplane.cli.common import CliFailure, build_settings, database_options, runtime_for


@click.group("events")
def events_group() -> None:
    """The event feed CRMs read (GET /v1/events): every committed change, in commit order."""


def _event_line(item: dict[str, Any]) -> str:
    from brokerplane.core.events.model import MARGIN_TYPES

    data = item.get("data") or {}
    kind = str(item["type"])
    if kind == "ledger.entry_posted":
        what = (
            f"{data.get('kind')} {data.get('amount')} {data.get('currency')} -> "
            f"balance {data.get('balance')} credit {data.get('credit')}"
        )
    elif kind in MARGIN_TYPES:
        what = (
            f"margin level {data.get('margin_level')}% (call {data.get('margin_call')}, "
            f"stop out {data.get('stop_out')}) equity {data.get('equity')} "
            f"margin {data.get('margin')} {data.get('currency')}"
        )
    elif kind.startswith("account."):
        what = f"{data.get('name', '')!r} enabled={data.get('enabled')}"
    elif kind.startswith("approval."):
        what = f"#{data.get('id')} {data.get('state')} {data.get('kind')} {data.get('amount')}"
    elif kind.startswith("position."):
        deal = data.get("deal") or {}
        what = (
            f"#{data.get('position_id')} {deal.get('side')} {deal.get('volume')} "
            f"{deal.get('symbol')}"
        )
    else:
        what = ", ".join(f"{k}={v}" for k, v in list(data.items())[:4])
    where = f"login {item['login']} ({item['group']})" if item.get("login") else "-"
    who = item["actor"].get("manager_login") or item["actor"].get("operator_id") or "system"
    via = item["dialect"]
    return f"{item['id']:>8}  {item['time']}  {kind:<20} {where}  {what}  by {who} via {via}"


@events_group.command("tail")
@database_options
@click.option(
    "--after",
    type=click.IntRange(0, 2**63 - 1),
    default=None,
    help="start after this event id (0: the oldest kept); default: only new events",
)
@click.option(
    "--type",
    "types",
    multiple=True,
    help="an event type or prefix (account., ledger.entry_posted); repeatable",
)
@click.option("--group", help="only accounts of groups matching this mask (demo*)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line, as the feed")
@click.option("--follow/--no-follow", default=True, help="keep waiting for new events")
@click.option(
    "--interval",
    type=click.FloatRange(0.05, 60),
    default=0.5,
    help="seconds between polls when caught up",
)
def events_tail(
    database_url: str | None,
    data_dir: Path | None,
    after: int | None,
    types: tuple[str, ...],
    group: str | None,
    as_json: bool,
    follow: bool,
    interval: float,
) -> None:
    """Print events as they commit (Ctrl-C stops)."""
    import time

    from brokerplane.api.native.events import render_event
    from brokerplane.core.actor import system_actor
    from brokerplane.core.errors import CoreError
    from brokerplane.core.events.commands import ReadEvents, parse_types

    settings = build_settings(database_url=database_url, data_dir=data_dir)
    actor = system_actor("events-tail")
    with runtime_for(settings) as runtime:
        core = runtime.app
        try:
            wanted = parse_types([n for t in types for n in t.split(",")])
            start = after
            if start is None:
                start = core.read_events(ReadEvents(limit=1), actor).head
            while True:
                page = core.read_events(
                    ReadEvents(after_id=start, types=wanted, group=group, limit=500), actor
                )
                for ev in page.events:
                    item = render_event(ev)
                    if as_json:
                        click.echo(json.dumps(item, separators=(",", ":")))
                    else:
                        click.echo(_event_line(item))
                start = page.next_after
                if not page.has_more:
                    if not follow:
                        return
                    time.sleep(interval)
        except CoreError as err:
            raise CliFailure(err.detail) from None
        except KeyboardInterrupt:
            return

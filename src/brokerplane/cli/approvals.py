"""`brokerplane approvals`: the thresholds above which money operations wait for a second
manager's approval, acting as the system."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from brokerplane.cli.common import (
    CliFailure,
    build_settings,
    console,
    database_options,
    escape,
    rich_table,
    runtime_for,
)
from brokerplane.core.actor import system_actor
from brokerplane.core.money import Currency, format_minor

if TYPE_CHECKING:
    from brokerplane.core.approval.model import ApprovalThreshold


@click.group()
def approvals() -> None:
    """Approval of high-value money operations."""


@approvals.group("thresholds")
def thresholds() -> None:
    """Amounts above which money operations wait for approval."""


def _threshold_json(t: ApprovalThreshold) -> dict[str, Any]:
    amount = format_minor(t.amount, Currency(t.currency, t.currency_digits))
    return {"currency": t.currency, "group": t.group, "amount": amount}


@thresholds.command("list")
@database_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def thresholds_list(database_url: str | None, data_dir: Path | None, as_json: bool) -> None:
    """List the currency thresholds and the group overrides."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        found = runtime.app.list_approval_thresholds(system_actor())
    items = [_threshold_json(t) for t in found]
    if as_json:
        click.echo(json.dumps({"items": items}))
        return
    out = console()
    if not items:
        out.print("No approval thresholds: every money operation applies at once.")
        return
    table = rich_table("approval thresholds")
    for col in ("currency", "group", "held above"):
        table.add_column(col, no_wrap=True)
    for item in items:
        group = escape(item["group"]) if item["group"] else "(every group)"
        table.add_row(item["currency"], group, item["amount"])
    out.print(table)


@thresholds.command("set")
@database_options
@click.option("--currency", required=True, help="Currency code, e.g. USD.")
@click.option("--amount", required=True, help="Operations above this amount are held, e.g. 10000.")
@click.option("--group", default=None, help="Override for this group only.")
def thresholds_set(
    database_url: str | None, data_dir: Path | None, currency: str, amount: str, group: str | None
) -> None:
    """Hold operations above an amount for a second manager's approval.

    Without --group the threshold holds for every account in the currency; with it, it
    overrides that for the group's accounts.
    """
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    from brokerplane.core.approval.commands import SetApprovalThreshold

    cmd = SetApprovalThreshold(currency=currency, amount=amount, group=group)
    with runtime_for(settings) as runtime:
        t = runtime.app.set_approval_threshold(cmd, system_actor())
    if t is None:  # pragma: no cover - a set always answers the threshold
        raise CliFailure("the threshold was not set")
    shown = _threshold_json(t)
    where = f"group {shown['group']}" if shown["group"] else "every group"
    click.echo(
        f"{shown['currency']} operations above {shown['amount']} in {where} now wait for approval"
    )


@thresholds.command("remove")
@database_options
@click.option("--currency", required=True, help="Currency code, e.g. USD.")
@click.option("--group", default=None, help="Remove this group's override only.")
def thresholds_remove(
    database_url: str | None, data_dir: Path | None, currency: str, group: str | None
) -> None:
    """Remove a currency's threshold or a group's override."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    from brokerplane.core.approval.commands import SetApprovalThreshold

    cmd = SetApprovalThreshold(currency=currency, amount=None, group=group)
    with runtime_for(settings) as runtime:
        before = {
            (t.currency, t.group) for t in runtime.app.list_approval_thresholds(system_actor())
        }
        runtime.app.set_approval_threshold(cmd, system_actor())
    code = currency.strip().upper()
    where = f"group {group}" if group else "every group"
    if (code, group) in before:
        click.echo(f"{code} threshold for {where} removed")
    else:
        click.echo(f"no {code} threshold for {where}: nothing to remove")

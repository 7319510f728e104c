"""`brokerplane ledger`: the ledger of money operations, checked against the audit trail."""

from __future__ import annotations

from pathlib import Path

import click

from brokerplane.cli.common import (
    EXIT_CHECK_FAILED,
    build_settings,
    database_options,
    plural,
    runtime_for,
)
from brokerplane.core.money import Currency, format_minor


@click.group()
def ledger() -> None:
    """The ledger of money operations."""


@ledger.command("verify")
@database_options
def ledger_verify(database_url: str | None, data_dir: Path | None) -> None:
    """Recompute every account's figures from its entries and tie every entry to its audit record.

    Exit 1 naming each account whose cached balance, credit or bonus is not the sum of its
    ledger entries, and each entry that no audit record (or more than one) names, or whose
    amount, kind, account, figures after, currency, time, comment, reference, manager or
    approval differ from what its audit record says; each account whose currency or digits
    differ from its entries' or its opening record's; and each manager, API key and approval
    that differs from its newest audit record (or has none).
    """
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings, provision_key=False) as runtime:
        report = runtime.app.audit_ledger()
    if report.ok:
        click.echo(
            f"ledger OK: {plural(report.accounts, 'account')} checked, "
            f"{plural(report.entries, 'entry').replace('entrys', 'entries')} tied to their "
            "audit records"
        )
        return
    for m in report.figures:
        cur = Currency(m.currency, m.currency_digits)
        click.echo(
            f"ledger mismatch: account {m.login} {m.figure}: cached "
            f"{format_minor(m.cached, cur)} {cur.code}, ledger sum "
            f"{format_minor(m.ledger, cur)} {cur.code}",
            err=True,
        )
    for p in report.entry_problems:
        click.echo(f"ledger entry mismatch: {p.reason}", err=True)
    for c in report.currencies:
        click.echo(
            f"account currency mismatch: account {c.login} is in {c.currency} with "
            f"{c.currency_digits} digits, its {c.source} says {c.said_currency} with "
            f"{c.said_digits}",
            err=True,
        )
    for reason in report.row_problems:
        click.echo(f"audit tie mismatch: {reason}", err=True)
    if report.currencies or report.row_problems:
        click.echo(
            f"ledger check failed: {len(report.currencies)} account currency and "
            f"{len(report.row_problems)} manager, API key or approval problem(s) against the "
            "audit trail",
            err=True,
        )
    if report.figures:
        accounts = len({m.login for m in report.figures})
        click.echo(
            f"ledger check failed: {accounts} of {report.accounts} accounts checked do not match "
            "their ledger entries",
            err=True,
        )
    if report.entry_problems:
        shown = len(report.entry_problems)
        from brokerplane.core.ledger.commands import MAX_REPORTED

        more = " (the first ones shown)" if shown >= MAX_REPORTED else ""
        click.echo(
            f"ledger check failed: {shown} entry problem(s){more} between the ledger's "
            f"{report.entries} entries and the audit trail",
            err=True,
        )
    click.get_current_context().exit(EXIT_CHECK_FAILED)

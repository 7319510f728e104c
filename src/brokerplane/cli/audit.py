"""`brokerplane audit`: the keyed, hash-chained audit trail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from brokerplane import auditkeys
from brokerplane.auditkeys import AuditKeyError
from brokerplane.cli.common import (
    EXIT_CHECK_FAILED,
    CliFailure,
    build_settings,
    database_options,
    runtime_for,
)

if TYPE_CHECKING:
    from brokerplane.core.audit.model import ChainReport


@click.group()
def audit() -> None:
    """The keyed, hash-chained audit trail: verify, checkpoint, rotate the key."""


def _chain_summary(report: ChainReport) -> str:
    keyed = report.records - report.legacy
    text = f"{report.records} records"
    if report.legacy:
        text += f" ({keyed} sealed with the audit key, {report.legacy} legacy unkeyed)"
    return text


@audit.command("verify")
@database_options
@click.option(
    "--checkpoint",
    "checkpoint",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    metavar="FILE",
    help="Also prove the chain still holds the head this signed checkpoint states, unchanged.",
)
def audit_verify(database_url: str | None, data_dir: Path | None, checkpoint: Path | None) -> None:
    """Re-hash the audit chain under the audit keys; exit 1 naming the first bad record.

    With --checkpoint FILE (from `brokerplane audit checkpoint`), also check the checkpoint's
    signature and that the chain still holds its record with the same hash: a rewrite of
    history (even by someone holding the audit key), a rollback or a truncation fails."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings, provision_key=False) as runtime:
        keys = runtime.app.config.audit_keys
        point = None
        if checkpoint is not None:
            try:
                point = auditkeys.read_checkpoint(checkpoint.read_text(encoding="utf-8"), keys)
            except (OSError, UnicodeDecodeError) as exc:
                raise CliFailure(f"checkpoint {checkpoint}: {exc}") from None
            except AuditKeyError as exc:
                click.echo(f"checkpoint {checkpoint}: {exc}", err=True)
                click.get_current_context().exit(EXIT_CHECK_FAILED)
        report = runtime.app.verify_audit(
            pin=(point.record, point.hash) if point is not None else None
        )
    if report.ok:
        click.echo(f"audit chain intact: {_chain_summary(report)}")
        if point is not None:
            click.echo(
                f"checkpoint holds: record {point.record} (of {point.made_at}, signed with audit "
                f"key {point.key_id}) is still in the chain, unchanged"
            )
        return
    click.echo(f"audit chain broken at record {report.first_bad_id}: {report.reason}", err=True)
    click.get_current_context().exit(EXIT_CHECK_FAILED)


@audit.command("checkpoint")
@database_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write the checkpoint to FILE instead of printing it.",
)
def audit_checkpoint(database_url: str | None, data_dir: Path | None, out: Path | None) -> None:
    """Verify the chain, then print a signed statement of its head (record, hash, counts,
    ledger totals) to keep somewhere the database's writers cannot reach.

    Signed with an Ed25519 key derived from the audit key; `audit verify --checkpoint FILE`
    later proves the chain still holds this head unchanged."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings, provision_key=False) as runtime:
        if runtime.keyring is None:
            raise CliFailure(
                "no audit key is configured: a checkpoint is signed with it (run "
                "`brokerplane db upgrade` to make one)"
            )
        report, totals = runtime.app.chain_statement()
        if not report.ok:
            click.echo(
                f"audit chain broken at record {report.first_bad_id}: {report.reason}; "
                "no checkpoint signed",
                err=True,
            )
            click.get_current_context().exit(EXIT_CHECK_FAILED)
        statement = auditkeys.sign_checkpoint(
            runtime.keyring.keys.current,
            report.head,
            report.records,
            report.legacy,
            totals,
            runtime.app.clock(),
        )
    text = json.dumps(statement, indent=2, sort_keys=True) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliFailure(f"checkpoint {out}: {exc.strerror or exc}") from None
    click.echo(f"checkpoint of record {report.head[0]} written to {out}", err=True)


@audit.command("rotate-key")
@database_options
def audit_rotate_key(database_url: str | None, data_dir: Path | None) -> None:
    """Put a new audit key first in the key file; the old keys stay to verify their records.

    Running servers keep sealing with the key they started with (still verifiable): restart
    them to seal with the new one. Back the key file up again afterwards."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        if runtime.keyring is None:
            raise CliFailure("no audit key is configured, so there is none to rotate")
        old = runtime.keyring.keys.current.id
        ring = auditkeys.rotate(runtime.keyring)
    click.echo(
        f"audit key rotated in {ring.source}: new records are sealed with {ring.keys.current.id}; "
        f"{old} is kept to verify older records. Restart running servers, and back up the file."
    )

"""`brokerplane tls`: certificates for the HTTPS listener (the checks and the writing are
server/tls.py's)."""

from __future__ import annotations

from pathlib import Path

import click

from brokerplane.cli.common import CliFailure, build_settings
from brokerplane.server import tls


@click.group("tls")
def tls_group() -> None:
    """Certificates for the HTTPS listener (brokerplane serve --mt5-tls-port)."""


@tls_group.command("self-signed")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write cert.pem and key.pem [default: <data dir>/tls, i.e. var/tls].",
)
@click.option(
    "--days",
    type=int,
    default=825,
    show_default=True,
    help=f"How long the certificate is valid (1-{tls.MAX_DAYS}).",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    metavar="HOST",
    help="Another DNS name or IP address to put in the certificate (repeatable); localhost "
    "and 127.0.0.1 are always in it.",
)
@click.option("--force", is_flag=True, help="Replace cert.pem and key.pem if they exist.")
def tls_self_signed(out_dir: Path | None, days: int, names: tuple[str, ...], force: bool) -> None:
    """Write a self-signed certificate and key for localhost.

    The certificate has CN localhost and the subject alternative names DNS:localhost and
    IP:127.0.0.1 (plus every --name); the key is readable by its owner only. Prints the serve
    command that uses them.
    """
    if out_dir is None:
        out_dir = build_settings().data_dir / "tls"
    try:
        cert, key, info = tls.self_signed(
            out_dir, days=days, names=(*tls.DEFAULT_NAMES, *names), force=force
        )
    except tls.TlsProblem as exc:
        raise CliFailure(str(exc)) from None
    click.echo(
        f"wrote {cert}: {info.subject}; {', '.join(info.names)}; "
        f"valid until {info.not_after:%Y-%m-%d}"
    )
    click.echo(f"wrote {key}: its private key, readable by its owner only")
    click.echo(f"SHA-256 fingerprint {info.fingerprint}")
    click.echo("Serve the API over HTTPS too (clients must allow this self-signed certificate):")
    click.echo(f"brokerplane serve --mt5-tls-port 8443 --tls-cert {cert} --tls-key {key}")

"""`brokerplane serve`: its flags, and what it shows (the audit key made, the demo's secrets,
where it listens). The server itself (listeners, TLS, workers, signals) is the server package:
server/run.py says what happens in which order.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from brokerplane.cli.common import (
    CliFailure,
    build_settings,
    console,
    database_options,
    escape,
    open_runtime,
    safe_url,
)
from brokerplane.settings import DIALECTS, LOG_FORMATS

if TYPE_CHECKING:
    from brokerplane.bootstrap import Runtime
    from brokerplane.server.tls import CertificateInfo
    from brokerplane.settings import Settings


@click.command()
@click.option(
    "--host", default=None, help="Interface to listen on [env BROKERPLANE_HOST; 127.0.0.1]."
)
@click.option(
    "--port", type=int, default=None, help="Port to listen on [env BROKERPLANE_PORT; 8080]."
)
@database_options
@click.option(
    "--dialects",
    default=None,
    metavar="LIST",
    help=f"Comma list of dialects to mount, of {', '.join(DIALECTS)} "
    "[env BROKERPLANE_DIALECTS; native,mt5,ctrader,traderevolution].",
)
@click.option(
    "--login-range",
    default=None,
    metavar="FROM-TO",
    help="Server login range for groups without their own, e.g. 100000-99999999 "
    "[env BROKERPLANE_LOGIN_RANGE_FROM / _TO].",
)
@click.option(
    "--mt5-tls-port",
    type=int,
    default=None,
    metavar="PORT",
    help="Also serve the API over HTTPS on this port, for MT5 Web API clients (which use "
    "https); needs --tls-cert and --tls-key [env BROKERPLANE_MT5_TLS_PORT; off].",
)
@click.option(
    "--mt5-tcp-port",
    type=int,
    default=None,
    metavar="PORT",
    help="Also serve the MT5 Web API's native TCP protocol (MetaQuotes' PHP and .NET "
    "libraries) on this port; with --tls-cert and --tls-key it accepts TLS connections too "
    "[env BROKERPLANE_MT5_TCP_PORT; off].",
)
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path),
    default=None,
    metavar="FILE",
    help="PEM certificate (chain) of the HTTPS listener [env BROKERPLANE_TLS_CERT].",
)
@click.option(
    "--tls-key",
    type=click.Path(path_type=Path),
    default=None,
    metavar="FILE",
    help="PEM private key (unencrypted) of the HTTPS listener [env BROKERPLANE_TLS_KEY].",
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    metavar="LIST",
    help="Comma list of reverse-proxy addresses or networks whose X-Forwarded-For and "
    "X-Forwarded-Proto are believed (client address in the audit, rate limits); '*' trusts "
    "every peer [env BROKERPLANE_FORWARDED_ALLOW_IPS; none].",
)
@click.option(
    "--demo/--no-demo",
    default=False,
    show_default=True,
    help="Load the demo data (and print its secrets once) when the database has no manager "
    "yet; the secrets are also written to <data dir>/demo.json, readable by its owner only.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    metavar="N",
    help="Server processes sharing the listeners, restarted when one dies; state is shared "
    "through the database [env BROKERPLANE_WORKERS; 1].",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default=None,
    help="Log lines as text (name=value fields) or one JSON object per line "
    "[env BROKERPLANE_LOG_FORMAT; text].",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default=None,
    help="The least severe lines logged; the access log is at info "
    "[env BROKERPLANE_LOG_LEVEL; info].",
)
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="One log line per request (and per MT5 TCP command) at info "
    "[env BROKERPLANE_ACCESS_LOG; on].",
)
def serve(
    host: str | None,
    port: int | None,
    database_url: str | None,
    data_dir: Path | None,
    dialects: str | None,
    login_range: str | None,
    mt5_tls_port: int | None,
    mt5_tcp_port: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    forwarded_allow_ips: str | None,
    demo: bool,
    workers: int | None,
    log_format: str | None,
    log_level: str | None,
    access_log: bool | None,
) -> None:
    """Migrate the database to head and serve the API.

    With --mt5-tls-port the same API is also served over HTTPS on a second port, in the same
    process (`brokerplane tls self-signed` writes a certificate for localhost).
    """
    low = high = None
    if login_range is not None:
        first, sep, last = login_range.partition("-")
        if not sep or not first.strip().isdigit() or not last.strip().isdigit():
            raise click.BadParameter(
                "expected FROM-TO, e.g. 100000-99999999", param_hint="--login-range"
            )
        low, high = int(first), int(last)
    settings = build_settings(
        host=host,
        port=port,
        database_url=database_url,
        data_dir=data_dir,
        dialects=dialects,
        login_range_from=low,
        login_range_to=high,
        mt5_tls_port=mt5_tls_port,
        mt5_tcp_port=mt5_tcp_port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        forwarded_allow_ips=forwarded_allow_ips,
        log_format=log_format,
        log_level=log_level.lower() if log_level else None,
        access_log=access_log,
        workers=workers,
    )
    from brokerplane.server import StartupError, run

    def ready(runtime: Runtime, certificate: CertificateInfo | None) -> None:
        if demo and runtime.app.is_empty():
            from brokerplane.cli.demo import load_demo, save_demo, show_secrets

            secrets = load_demo(runtime)
            if secrets is not None:
                saved = save_demo(settings.data_dir, secrets)
                show_secrets(secrets, runtime, console(), saved)
        _announce(console(), settings, certificate)

    try:
        run.serve(
            settings,
            open_runtime=open_runtime,
            note=_note,
            opened=_opened,
            ready=ready,
            err=console(stderr=True),
        )
    except StartupError as exc:
        raise CliFailure(str(exc)) from None


def _note(text: str) -> None:
    console(stderr=True).print(escape(text))


def _opened(runtime: Runtime) -> None:
    """The database is migrated: say so if the audit key was made just now (keep it safe)."""
    if runtime.keyring is not None and runtime.keyring.created:
        console().print(escape(runtime.keyring.announcement()), soft_wrap=True)


def _announce(out: Any, settings: Settings, certificate: CertificateInfo | None) -> None:
    """The lines that say where the server listens (once, whatever the number of workers)."""
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    if settings.console:
        out.print(
            f"Back-office console on [bold]http://{shown_host}:{settings.port}/console/[/]"
            " (sign in with a manager's login and password)",
            soft_wrap=True,
        )
    processes = f"; {settings.workers} worker processes" if settings.workers > 1 else ""
    out.print(
        f"brokerplane on [bold]http://{shown_host}:{settings.port}[/] "
        f"(dialects: {', '.join(settings.enabled_dialects)}; "
        f"database: {safe_url(settings.effective_database_url)}{processes})",
        soft_wrap=True,
    )
    if certificate is not None and settings.mt5_tls_port is not None:
        names = ", ".join(certificate.names) or certificate.subject
        out.print(
            f"MT5 Web API over TLS on [bold]https://{shown_host}:"
            f"{settings.mt5_tls_port}[/] (certificate {escape(str(settings.tls_cert))} "
            f"for {escape(names)}, valid until {certificate.not_after:%Y-%m-%d})",
            soft_wrap=True,
        )
    if settings.mt5_tcp_port is not None:
        mode = "plain, and TLS with the certificate above" if certificate else "plain"
        out.print(
            f"MT5 Web API TCP protocol on [bold]{shown_host}:{settings.mt5_tcp_port}[/] "
            f"({mode}; MetaQuotes' PHP and .NET libraries connect here)",
            soft_wrap=True,
        )

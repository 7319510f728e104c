"""The `brokerplane` commands: serve, db, demo, manager, key, audit, ledger, approvals and
maintenance, acting as the system."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from brokerplane import auditkeys, bootstrap
from brokerplane.auditkeys import AuditKeyError
from brokerplane.bootstrap import Runtime
from brokerplane.cli import tls
from brokerplane.cli.common import (
    EXIT_CHECK_FAILED,
    EXPIRY_HELP,
    BrokerplaneGroup,
    CliFailure,
    build_settings,
    comma_list,
    console,
    database_options,
    iso,
    open_runtime,
    parse_expiry,
    runtime_for,
    safe_url,
)
from brokerplane.cli.demo import (
    DEMO_ACCOUNTS_GROUP,
    DEMO_APPROVER_LOGIN,
    DEMO_MANAGER_LOGIN,
    DemoSecrets,
    generate_password,
    load_demo,
    open_demo_accounts,
)
from brokerplane.cli.quotes import quotes
from brokerplane.cli.tls import CertificateInfo
from brokerplane.core.access.model import ApiKey, Manager
from brokerplane.core.access.service import CreateApiKey, CreateManager, IssuedKey, UpdateManager
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.core.approval.model import ApprovalThreshold
from brokerplane.core.approval.service import SetApprovalThreshold
from brokerplane.core.audit.service import ChainReport
from brokerplane.core.errors import ApiKeyNotFound, ManagerNotFound, ValidationError
from brokerplane.core.ledger.service import MAX_REPORTED
from brokerplane.core.money import Currency, format_minor
from brokerplane.settings import DIALECTS, Settings
from brokerplane.storage import migrate


@click.group(cls=BrokerplaneGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="brokerplane", prog_name="brokerplane")
def main() -> None:
    """brokerplane: the open management plane for brokers.

    Settings come from BROKERPLANE_* environment variables; flags override them.
    """


# --------------------------------------------------------------------------- serve


@main.command()
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
    help="Load the demo data (and print its secrets once) when the database has no manager yet.",
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
    )
    certificate = _tls_settings(settings)
    try:
        import uvicorn  # noqa: F401 - fail here, in one line, when the server cannot load

        from brokerplane.api.app import create_app
    except ImportError as exc:
        raise CliFailure(f"the HTTP API cannot be loaded: {exc}") from None

    out = console()
    listening: list[list[socket.socket]] = []
    try:
        # Bound before the database is touched, so a busy port fails fast, in one line.
        listening.append(_listen(settings.host, settings.port))
        if certificate is not None and settings.mt5_tls_port is not None:
            listening.append(_listen(settings.host, settings.mt5_tls_port))
        tcp_socks = (
            _listen(settings.host, settings.mt5_tcp_port)
            if settings.mt5_tcp_port is not None
            else None
        )
        if tcp_socks is not None:
            listening.append(tcp_socks)
        runtime = open_runtime(settings, migrate_schema=True)
        try:
            if runtime.keyring is not None and runtime.keyring.created:
                out.print(escape(runtime.keyring.announcement()), soft_wrap=True)
            app = create_app(runtime)
            if demo and runtime.services.is_empty():
                secrets = load_demo(runtime)
                if secrets is not None:
                    _show_secrets(secrets, runtime, out)
            shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
            if settings.console:
                out.print(
                    f"Back-office console on [bold]http://{shown_host}:{settings.port}/console/[/]"
                    " (sign in with a manager's login and password)",
                    soft_wrap=True,
                )
            out.print(
                f"brokerplane on [bold]http://{shown_host}:{settings.port}[/] "
                f"(dialects: {', '.join(settings.enabled_dialects)}; "
                f"database: {safe_url(settings.effective_database_url)})",
                soft_wrap=True,
            )
            listener = _listener_class()
            plain = uvicorn_config(app, settings)
            servers = [(listener(plain), listening[0])]
            if certificate is not None and settings.mt5_tls_port is not None:
                names = ", ".join(certificate.names) or certificate.subject
                out.print(
                    f"MT5 Web API over TLS on [bold]https://{shown_host}:"
                    f"{settings.mt5_tls_port}[/] (certificate {escape(str(settings.tls_cert))} "
                    f"for {escape(names)}, valid until {certificate.not_after:%Y-%m-%d})",
                    soft_wrap=True,
                )
                secure = uvicorn_config(app, settings, tls=True)
                servers.append((listener(secure), listening[1]))
            if tcp_socks is not None:
                servers.append((mt5_tcp_server(app, settings), tcp_socks))
                mode = "plain, and TLS with the certificate above" if certificate else "plain"
                out.print(
                    f"MT5 Web API TCP protocol on [bold]{shown_host}:{settings.mt5_tcp_port}[/] "
                    f"({mode}; MetaQuotes' PHP and .NET libraries connect here)",
                    soft_wrap=True,
                )
            _run_listeners(servers, plain)
        finally:
            runtime.close()
    finally:
        for group in listening:
            for sock in group:
                sock.close()


def uvicorn_config(app: Any, settings: Settings, *, tls: bool = False) -> Any:
    """The uvicorn configuration of one listener: the plain one, or (tls) the HTTPS one, which
    leaves the app's startup and shutdown to the plain one.

    MT5 sessions live on the connection, and clients ping every 20 s and may stay silent for up
    to 180 s: idle keep-alive connections are kept a little longer than that, where uvicorn's
    default (5 s) would drop the connection, and with it the session, between two pings.

    The protocol (cli/listener.py) gives each connection its identity (MT5 sessions are bound
    to it, so the app is marked to refuse sessions without one) and a deadline for request
    heads. X-Forwarded-* headers are believed only from `forwarded_allow_ips` (none by
    default, where uvicorn would trust 127.0.0.1).
    """
    import uvicorn

    from brokerplane.api.mt5.session import IDLE_TIMEOUT_S
    from brokerplane.cli.listener import protocol_class
    from brokerplane.redact import server_log_config

    state = getattr(app, "state", None)
    if state is not None:
        state.connections_required = True
    keep_alive = int(IDLE_TIMEOUT_S) + 10 if "mt5" in settings.enabled_dialects else 5
    # Query strings carry tokens and passwords (cTrader ?token=, MT5 password=): every log
    # line, the access log's included, is written with their values as ***.
    trusted = settings.forwarded_allow_ips
    common: dict[str, Any] = {
        "host": settings.host, "log_level": settings.log_level, "timeout_keep_alive": keep_alive,
        "log_config": server_log_config(settings.log_level),
        "http": protocol_class(settings.header_timeout_s), "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or "", "limit_concurrency": settings.max_connections,
    }  # fmt: skip
    if not tls:
        return uvicorn.Config(app, port=settings.port, **common)
    if settings.mt5_tls_port is None or settings.tls_cert is None or settings.tls_key is None:
        raise ValueError("a TLS listener needs mt5_tls_port, tls_cert and tls_key")
    return uvicorn.Config(
        app, port=settings.mt5_tls_port, ssl_certfile=str(settings.tls_cert),
        ssl_keyfile=str(settings.tls_key), lifespan="off", **common,
    )  # fmt: skip


def mt5_tcp_server(app: Any, settings: Settings) -> Any:
    """The MT5 TCP protocol's listener over the app's services and MT5 sessions (TLS too when
    a certificate is configured)."""
    import ssl

    from brokerplane.api.mt5.tcp import Limits, Mt5TcpServer

    context = None
    if settings.tls_cert is not None and settings.tls_key is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    limits = Limits(
        idle_timeout_s=settings.mt5_tcp_idle_timeout_s,
        message_timeout_s=settings.header_timeout_s,
        max_message_bytes=settings.max_body_bytes,
        ping_interval_s=settings.mt5_tcp_ping_interval_s,
    )
    return Mt5TcpServer(app.state.runtime.services, app.state.mt5_sessions, limits, tls=context,
                        max_connections=settings.max_connections,
                        max_per_address=settings.mt5_tcp_max_per_address,
                        max_unauthenticated=settings.mt5_tcp_max_unauthenticated)  # fmt: skip


def _tls_settings(settings: Settings) -> CertificateInfo | None:
    """The TLS listener's certificate, checked; None when there is no TLS listener."""
    cert, key = settings.tls_cert, settings.tls_key
    tcp = settings.mt5_tcp_port
    if tcp is not None:
        if tcp in (settings.port, settings.mt5_tls_port):
            raise CliFailure(f"--mt5-tcp-port {tcp} is already the HTTP or TLS port: give another")
        if "mt5" not in settings.enabled_dialects:
            raise CliFailure(
                f"--mt5-tcp-port serves the MT5 Web API, but the mt5 dialect is not enabled "
                f"(dialects: {settings.dialects}); add mt5 to --dialects"
            )
    if settings.mt5_tls_port is None and tcp is not None and (cert is not None or key is not None):
        if cert is None or key is None:
            raise CliFailure("--tls-cert and --tls-key go together")
        try:
            return tls.check_pair(cert, key)
        except tls.TlsProblem as exc:
            raise CliFailure(str(exc)) from None
    if settings.mt5_tls_port is None:
        if cert is not None or key is not None:
            console(stderr=True).print(
                "note: --tls-cert and --tls-key are used only with --mt5-tls-port or "
                "--mt5-tcp-port; serving plain HTTP only"
            )
        return None
    if cert is None or key is None:
        raise CliFailure(
            "--mt5-tls-port needs --tls-cert and --tls-key (or BROKERPLANE_TLS_CERT and "
            "BROKERPLANE_TLS_KEY); `brokerplane tls self-signed` writes a pair for localhost"
        )
    if settings.mt5_tls_port == settings.port:
        raise CliFailure(f"--mt5-tls-port and --port are both {settings.port}: give two ports")
    if "mt5" not in settings.enabled_dialects:
        raise CliFailure(
            f"--mt5-tls-port serves the MT5 Web API, but the mt5 dialect is not enabled "
            f"(dialects: {settings.dialects}); add mt5 to --dialects"
        )
    try:
        info = tls.check_pair(cert, key)
    except tls.TlsProblem as exc:
        raise CliFailure(str(exc)) from None
    if info.expired:
        console(stderr=True).print(
            f"note: the TLS certificate {escape(str(cert))} expired on {info.not_after:%Y-%m-%d}; "
            "clients that verify certificates will refuse it"
        )
    return info


def _listen(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address of host:port (listening starts when served), so a busy
    port is one line before anything else happens."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CliFailure(f"cannot listen on {host}: {exc.strerror}") from None
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in bound:
            sock.close()
        raise CliFailure(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return bound


def _listener_class() -> type[Any]:
    import uvicorn

    class Listener(uvicorn.Server):
        """One of the process's listeners: the signals are handled once, for all of them."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        def install_signal_handlers(self) -> None:  # uvicorn before 0.29
            pass

    return Listener


def _run_listeners(servers: list[tuple[Any, list[socket.socket]]], primary: Any) -> None:
    """Run uvicorn servers in one event loop until a signal (or one of them stopping) stops
    them all. Ctrl+C twice forces the exit, as with plain uvicorn."""

    async def run_all() -> None:
        loop = asyncio.get_running_loop()

        def stop(sig: signal.Signals) -> None:
            for server, _ in servers:
                if server.should_exit and sig == signal.SIGINT:
                    server.force_exit = True
                server.should_exit = True

        handled = (signal.SIGINT, signal.SIGTERM)
        for sig in handled:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop, sig)
        tasks = [asyncio.create_task(server.serve(sockets=socks)) for server, socks in servers]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for server, _ in servers:
                server.should_exit = True
            await asyncio.gather(*tasks)
        finally:
            for sig in handled:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)

    factory = getattr(primary, "get_loop_factory", None)
    with asyncio.Runner(loop_factory=factory() if factory else None) as runner:
        runner.run(run_all())


def _show_secrets(secrets: DemoSecrets, runtime: Runtime, out: Console) -> None:
    settings = runtime.settings
    held = "".join(
        f"\n{code} operations above {amount} wait for a second manager's approval."
        for code, amount in secrets.approval_thresholds
    )
    body = (
        f"Manager login     [bold]{secrets.manager_login}[/]\n"
        f"Manager password  [bold]{secrets.manager_password}[/]\n"
        f"Approver login    [bold]{secrets.approver_login}[/] (in the console, approves what "
        f"{secrets.manager_login} asks)\n"
        f"Approver password [bold]{secrets.approver_password}[/]\n"
        f"Admin API key (manager {secrets.manager_login}, all scopes):\n"
        f"[bold]{secrets.admin_key}[/]\n"
        f"Approver API key (manager {secrets.approver_login}, balances:approve):\n"
        f"[bold]{secrets.approver_key}[/]\n"
        f"{held}\n\nThese secrets are shown once."
    )
    out.print(Panel(body, title="demo data loaded", border_style="green", expand=False))
    # Outside the panel and never wrapped, so each line pastes into a shell whole.
    out.print(
        "Try:\n"
        f"export KEY={secrets.admin_key}\n"
        f"export APPROVER_KEY={secrets.approver_key}\n"
        f'curl -H "Authorization: Bearer $KEY" http://{settings.host}:{settings.port}/v1/groups',
        soft_wrap=True,
    )


# --------------------------------------------------------------------------- tls


@main.group("tls")
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
    click.echo(f"wrote {cert}: {info.subject}; {', '.join(info.names)}; "
               f"valid until {info.not_after:%Y-%m-%d}")  # fmt: skip
    click.echo(f"wrote {key}: its private key, readable by its owner only")
    click.echo(f"SHA-256 fingerprint {info.fingerprint}")
    click.echo("Serve the API over HTTPS too (clients must allow this self-signed certificate):")
    click.echo(f"brokerplane serve --mt5-tls-port 8443 --tls-cert {cert} --tls-key {key}")


# --------------------------------------------------------------------------- db


@main.group()
def db() -> None:
    """Schema migrations: upgrade, current revision, drift check."""


@db.command("upgrade")
@database_options
def db_upgrade(database_url: str | None, data_dir: Path | None) -> None:
    """Migrate the database to the newest revision."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings, require_head=False) as runtime:
        engine = runtime.storage.engine
        before = migrate.current(engine)
        migrate.upgrade(engine)
        after = migrate.current(engine)
        ring = bootstrap.provision_audit_key(runtime)
    url = safe_url(settings.effective_database_url)
    if before == after:
        click.echo(f"{url}: already at head {after}")
    else:
        click.echo(f"{url}: upgraded {before or 'empty'} -> {after}")
    if ring is not None and ring.created:
        click.echo(ring.announcement())
    elif ring is not None:
        click.echo(f"audit key {ring.keys.current.id} from {ring.source}")


@db.command("current")
@database_options
def db_current(database_url: str | None, data_dir: Path | None) -> None:
    """Print the database's revision and whether it is the newest."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings, require_head=False) as runtime:
        at = migrate.current(runtime.storage.engine)
    head = migrate.head()
    if at == head:
        click.echo(f"{at} (head)")
    else:
        click.echo(f"{at or 'none'} (head is {head})")


@db.command("check")
@database_options
def db_check(database_url: str | None, data_dir: Path | None) -> None:
    """Fail unless the database is at head and the models match the migrations."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    problems: list[str] = []
    with runtime_for(settings, require_head=False) as runtime:
        engine = runtime.storage.engine
        at, head = migrate.current(engine), migrate.head()
        if at != head:
            problems.append(
                f"the database is at revision {at or 'none'}, not head {head} "
                "(run `brokerplane db upgrade`)"
            )
        else:
            diffs = migrate.drift(engine)
            if diffs:
                problems.append(
                    f"models and migrations differ in {len(diffs)} place(s) "
                    "(add a revision: every schema change is one Alembic revision):"
                )
                problems.extend(f"  {_describe_diff(diff)}" for diff in diffs)
    url = safe_url(settings.effective_database_url)
    if problems:
        click.echo(f"{url}: schema check failed", err=True)
        for line in problems:
            click.echo(line, err=True)
        click.get_current_context().exit(EXIT_CHECK_FAILED)
    click.echo(f"{url}: at head {head}; models match migrations")


def _describe_diff(diff: Any) -> str:
    """One line for one autogenerate difference (Alembic's tuples, or lists of them)."""
    if isinstance(diff, list):
        return "; ".join(_describe_diff(d) for d in diff)
    op, *args = diff
    if op in ("add_table", "remove_table"):
        return f"{op} {args[0].name}"
    if op in ("add_index", "remove_index"):
        return f"{op} {args[0].name} on {args[0].table.name}"
    if op in ("add_column", "remove_column"):
        return f"{op} {args[1]}.{args[2].name}"
    if op.startswith("modify_") and len(args) == 6:
        _schema, table, column, _info, old, new = args
        return f"{op} {table}.{column}: {old!r} -> {new!r}"
    text = repr(diff)
    return text if len(text) <= 200 else text[:197] + "..."


# --------------------------------------------------------------------------- demo


@main.command()
@database_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
@click.option(
    "--accounts",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also open this many demo accounts (checked and audited, 2,000 per transaction).",
)
@click.option(
    "--group",
    default=DEMO_ACCOUNTS_GROUP,
    show_default=True,
    help="Group of the accounts opened by --accounts.",
)
def demo(
    database_url: str | None, data_dir: Path | None, as_json: bool, accounts: int, group: str
) -> None:
    """Migrate and load the demo data once; print its secrets.

    The demo data: groups, symbols, manager 1000 with an admin key, manager 1001 (the finance
    approver) with its key, and the USD approval threshold of 10000.00.
    """
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings, migrate_schema=True) as runtime:
        secrets = load_demo(runtime)
        logins = _open_accounts(runtime, accounts, group, quiet=as_json)
        if as_json:
            payload: dict[str, Any]
            if secrets is None:
                payload = {"already_loaded": True, "manager": {"login": DEMO_MANAGER_LOGIN}}
            else:
                payload = secrets.to_json()
            payload["accounts_opened"] = len(logins)
            if logins:
                payload["account_logins"] = {"first": logins[0], "last": logins[-1]}
            click.echo(json.dumps(payload))
            return
        out = console()
        if runtime.keyring is not None and runtime.keyring.created:
            out.print(escape(runtime.keyring.announcement()), soft_wrap=True)
        if secrets is None:
            out.print(
                f"Demo data is already loaded (manager {DEMO_MANAGER_LOGIN} exists); its "
                "secrets were shown when it was loaded.\nA new key: brokerplane key create "
                f"--manager {DEMO_MANAGER_LOGIN} --scopes admin\nA new approver key: brokerplane "
                f"key create --manager {DEMO_APPROVER_LOGIN} --scopes balances:approve,"
                "balances:write"
            )
        else:
            out.print(_groups_table(runtime))
            out.print(_symbols_table(runtime))
            _show_secrets(secrets, runtime, out)
        if logins:
            out.print(f"Opened {len(logins)} accounts in {group}: {logins[0]}..{logins[-1]}")


def _open_accounts(runtime: Runtime, count: int, group: str, *, quiet: bool) -> list[int]:
    if count == 0:
        return []
    columns = (
        TextColumn("opening accounts"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console(stderr=True), disable=quiet) as progress:
        task = progress.add_task("accounts", total=count)
        return open_demo_accounts(
            runtime, count, group, on_opened=lambda done: progress.update(task, completed=done)
        )


def _groups_table(runtime: Runtime) -> Table:
    table = Table(title="groups")
    for col in ("name", "currency", "leverage", "logins", "broker"):
        table.add_column(col, no_wrap=True)
    for g in runtime.services.list_groups(system_actor()):
        logins = f"{g.login_range_from}-{g.login_range_to}" if g.login_range_from else "server"
        leverage = f"1:{g.default_leverage} (max {g.max_leverage})"
        table.add_row(escape(g.name), g.currency, leverage, logins, escape(g.broker))
    return table


def _symbols_table(runtime: Runtime) -> Table:
    table = Table(title="symbols")
    for col in ("name", "path", "digits", "contract size", "base/profit/margin"):
        table.add_column(col)
    for s in runtime.services.list_symbols(system_actor()):
        currencies = f"{s.currency_base}/{s.currency_profit}/{s.currency_margin}"
        table.add_row(
            escape(s.name), escape(s.path), str(s.digits), str(s.contract_size), currencies
        )
    return table


# --------------------------------------------------------------------------- manager

RIGHTS_HELP = ", ".join(SCOPES)


def _rights(value: str, field: str = "rights") -> frozenset[str]:
    rights = comma_list(value)
    if not rights:
        raise ValidationError.field(field, f"name at least one, of: {RIGHTS_HELP}")
    return rights


def _key_state(key: ApiKey, now: datetime) -> str:
    if key.revoked_at is not None and key.revoked_at <= now:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def _manager_json(m: Manager, active_keys: int | None = None) -> dict[str, Any]:
    """A manager as the CLI shows it: never a password or a verifier, only whether one is set."""
    shown: dict[str, Any] = {
        "login": m.login,
        "name": m.name,
        "enabled": m.enabled,
        "rights": sorted(m.rights),
        "groups": m.group_mask,
        "brokers": m.white_labels,
        "password_set": bool(m.verifiers),
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
    }
    if active_keys is not None:
        shown["active_keys"] = active_keys
    return shown


def _manager_table(m: Manager, title: str) -> Table:
    table = Table(title=title, show_header=False)
    table.add_row("login", str(m.login))
    table.add_row("name", escape(m.name))
    table.add_row("enabled", "yes" if m.enabled else "no (its keys do not work)")
    table.add_row("rights", ", ".join(sorted(m.rights)) or "(none)")
    table.add_row("groups", escape(m.group_mask))
    table.add_row("brokers", escape(m.white_labels))
    table.add_row("password", "set" if m.verifiers else "none")
    return table


def _existing_manager(runtime: Runtime, login: int) -> Manager:
    found = runtime.services.get_manager(login)
    if found is None:
        raise ManagerNotFound(login)
    return found


def _update_manager(
    database_url: str | None, data_dir: Path | None, cmd: UpdateManager
) -> tuple[Manager, Manager]:
    """(before, after) of one manager update, acting as the system."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        before = _existing_manager(runtime, cmd.login)
        after = runtime.services.update_manager(cmd, system_actor())
    return before, after


def _show_manager(m: Manager, as_json: bool, line: str) -> None:
    if as_json:
        click.echo(json.dumps(_manager_json(m)))
    else:
        console().print(line, soft_wrap=True)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object and nothing else."
)


@main.group()
def manager() -> None:
    """Back-office managers: their rights, reach and password (the owners of API keys)."""


@manager.command("create")
@database_options
@click.option("--login", type=int, required=True, help="Manager login (a number).")
@click.option("--name", required=True, help="Display name.")
@click.option(
    "--password",
    default=None,
    help="API password (8-64 characters) for the dialects' manager logins; generated and "
    "printed once if omitted.",
)
@click.option(
    "--no-password",
    is_flag=True,
    help="No API password: the manager works through its API keys only.",
)
@click.option(
    "--rights",
    required=True,
    metavar="R1,R2",
    help=f"Comma list of rights, of: {RIGHTS_HELP} (admin implies every other).",
)
@click.option(
    "--groups",
    default=None,
    metavar="MASKS",
    help="Groups the manager may see and touch: MT5-style masks, e.g. '*' or "
    "'demo\\*,!demo\\vip'.  [required]",
)
@click.option("--group-mask", default=None, hidden=True)  # the old name of --groups
@click.option(
    "--brokers",
    default="*",
    show_default=True,
    metavar="B1,B2",
    help="White labels (broker names) the manager may touch: a comma list, masks allowed.",
)
@json_option
def manager_create(
    database_url: str | None,
    data_dir: Path | None,
    login: int,
    name: str,
    password: str | None,
    no_password: bool,
    rights: str,
    groups: str | None,
    group_mask: str | None,
    brokers: str,
    as_json: bool,
) -> None:
    """Create a manager with its rights and reach."""
    if no_password and password is not None:
        raise CliFailure("give --password or --no-password, not both")
    if groups is not None and group_mask is not None and groups != group_mask:
        raise CliFailure("--groups and --group-mask differ: give --groups only")
    groups = groups if groups is not None else group_mask
    if groups is None:
        raise click.MissingParameter(param_hint="'--groups'", param_type="option")
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    generated = password is None and not no_password
    secret = generate_password() if generated else password
    cmd = CreateManager(login=login, name=name, password=secret, rights=_rights(rights),
                        group_mask=groups, white_labels=brokers)  # fmt: skip
    with runtime_for(settings) as runtime:
        created = runtime.services.create_manager(cmd, system_actor())
    if as_json:
        payload = _manager_json(created)
        if generated:
            payload["password"] = secret
        click.echo(json.dumps(payload))
        return
    out = console()
    out.print(_manager_table(created, f"manager {created.login} created"))
    if generated and secret is not None:
        out.print(Panel(f"[bold]{escape(secret)}[/]", title="password (shown once)", expand=False))


@manager.command("list")
@database_options
@json_option
def manager_list(database_url: str | None, data_dir: Path | None, as_json: bool) -> None:
    """List the managers with their rights, reach and number of active keys."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        services = runtime.services
        found = services.list_managers(system_actor())
        keys = services.list_api_keys(system_actor())
        now = services.clock()
    active = Counter(k.manager_login for k in keys if _key_state(k, now) == "active")
    items = [_manager_json(m, active[m.login]) for m in sorted(found, key=lambda m: m.login)]
    if as_json:
        click.echo(json.dumps({"items": items}))
        return
    out = console()
    if not items:
        out.print("No managers yet: brokerplane manager create (or brokerplane demo).")
        return
    table = Table(title="managers", box=None, pad_edge=False, padding=(0, 1, 0, 0),
                  header_style="bold underline")  # fmt: skip
    for col in ("login", "name", "enabled", "rights", "groups", "brokers", "keys"):
        table.add_column(col, no_wrap=col in ("login", "rights"), overflow="fold")
    for n, m in enumerate(items):
        if n:
            table.add_row()  # a blank line between managers
        table.add_row(
            str(m["login"]), escape(m["name"]), "yes" if m["enabled"] else "no",
            "\n".join(m["rights"]) or "(none)", escape(m["groups"]), escape(m["brokers"]),
            str(m["active_keys"]),
        )  # fmt: skip
    out.print(table)


@manager.command("disable")
@database_options
@click.argument("login", type=int)
@json_option
def manager_disable(
    database_url: str | None, data_dir: Path | None, login: int, as_json: bool
) -> None:
    """Disable a manager: all its keys and sessions stop working at once."""
    before, after = _update_manager(database_url, data_dir, UpdateManager(login, enabled=False))
    state = "was already disabled" if not before.enabled else "disabled"
    _show_manager(after, as_json, f"manager {login} {state}: its API keys and sessions do not "
                  "work until it is enabled")  # fmt: skip


@manager.command("enable")
@database_options
@click.argument("login", type=int)
@json_option
def manager_enable(
    database_url: str | None, data_dir: Path | None, login: int, as_json: bool
) -> None:
    """Enable a manager again: its keys that are neither revoked nor expired work again."""
    before, after = _update_manager(database_url, data_dir, UpdateManager(login, enabled=True))
    state = "was already enabled" if before.enabled else "enabled"
    _show_manager(after, as_json, f"manager {login} {state}")


@manager.command("set-password")
@database_options
@click.argument("login", type=int)
@click.option(
    "--password", default=None, help="The new password; generated and printed once if omitted."
)
@json_option
def manager_set_password(
    database_url: str | None, data_dir: Path | None, login: int, password: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Set a manager's API password (for the dialects' manager logins)."""
    generated = password is None
    secret = password if password is not None else generate_password()
    _, after = _update_manager(database_url, data_dir, UpdateManager(login, password=secret))
    if as_json:
        payload = _manager_json(after)
        if generated:
            payload["password"] = secret
        click.echo(json.dumps(payload))
        return
    out = console()
    out.print(f"password of manager {login} changed")
    if generated:
        out.print(Panel(f"[bold]{escape(secret)}[/]", title="password (shown once)", expand=False))


@manager.command("unlock")
@database_options
@click.argument("login", type=int)
@json_option
def manager_unlock(
    database_url: str | None, data_dir: Path | None, login: int, as_json: bool
) -> None:
    """Forget a manager's failed sign-ins (from every address) and end its locks at once;
    audited as manager.unlocked. The addresses' own counters stay."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        cleared = runtime.services.unlock_manager(login, system_actor())
    if as_json:
        click.echo(json.dumps({"login": login, "counters_cleared": cleared}))
        return
    state = "unlocked" if cleared else "had no failed sign-ins to forget"
    console().print(f"manager {login} {state}", soft_wrap=True)


@manager.command("grant")
@database_options
@click.argument("login", type=int)
@click.argument("rights", metavar="R1,R2")
@json_option
def manager_grant(
    database_url: str | None, data_dir: Path | None, login: int, rights: str, as_json: bool
) -> None:
    """Give a manager more rights (comma list)."""
    cmd = UpdateManager(login, grant=_rights(rights, "grant"))
    _, after = _update_manager(database_url, data_dir, cmd)
    _show_manager(after, as_json, f"manager {login} rights: {', '.join(sorted(after.rights))}")


@manager.command("revoke")
@database_options
@click.argument("login", type=int)
@click.argument("rights", metavar="R1,R2")
@json_option
def manager_revoke(
    database_url: str | None, data_dir: Path | None, login: int, rights: str, as_json: bool
) -> None:
    """Take rights away from a manager (comma list); its keys lose them at once."""
    cmd = UpdateManager(login, revoke=_rights(rights, "revoke"))
    _, after = _update_manager(database_url, data_dir, cmd)
    held = ", ".join(sorted(after.rights)) or "(none)"
    _show_manager(after, as_json, f"manager {login} rights: {held}")


@manager.command("set-reach")
@database_options
@click.argument("login", type=int)
@click.option("--groups", default=None, metavar="MASKS", help="The new group masks.")
@click.option("--brokers", default=None, metavar="B1,B2", help="The new white labels.")
@json_option
def manager_set_reach(
    database_url: str | None, data_dir: Path | None, login: int, groups: str | None,
    brokers: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Change the groups and white labels a manager may see and touch."""
    if groups is None and brokers is None:
        raise CliFailure("name --groups, --brokers or both")
    cmd = UpdateManager(login, group_mask=groups, white_labels=brokers)
    _, after = _update_manager(database_url, data_dir, cmd)
    _show_manager(after, as_json, f"manager {login} reaches groups {escape(after.group_mask)} "
                  f"and brokers {escape(after.white_labels)}")  # fmt: skip


# --------------------------------------------------------------------------- key


def _key_json(key: ApiKey, now: datetime) -> dict[str, Any]:
    """A key as `GET /keys` shows it: never its secret or the secret's hash."""
    return {
        "id": key.id,
        "prefix": key.prefix,
        "manager_login": key.manager_login,
        "scopes": sorted(key.scopes),
        "name": key.name,
        "state": _key_state(key, now),
        "created_at": iso(key.created_at),
        "expires_at": iso(key.expires_at),
        "revoked_at": iso(key.revoked_at),
        "last_used_at": iso(key.last_used_at),
    }


def _minute(stamp: str | None) -> str | None:
    """An ISO time shortened for a table cell: 2027-01-31, 18:00Z below it."""
    return f"{stamp[:10]}\n{stamp[11:16]}Z" if stamp else None


def _issued_json(issued: IssuedKey, previous: ApiKey | None = None) -> dict[str, Any]:
    """A new key as `POST /keys` answers it: `key` is the secret, shown this once."""
    key = issued.key
    return {
        "id": key.id,
        "key": issued.secret,
        "prefix": key.prefix,
        "manager_login": key.manager_login,
        "scopes": sorted(key.scopes),
        "name": key.name,
        "expires_at": iso(key.expires_at),
        "previous": {"id": previous.id, "expires_at": iso(previous.expires_at)}
        if previous
        else None,
    }


def _show_issued(issued: IssuedKey, title: str) -> None:
    key = issued.key
    out = console()
    table = Table(title=title, show_header=False)
    table.add_row("id", key.id)
    table.add_row("prefix", key.prefix)
    table.add_row("manager", str(key.manager_login))
    table.add_row("scopes", ", ".join(sorted(key.scopes)))
    table.add_row("name", escape(key.name))
    table.add_row("expires", iso(key.expires_at) or "never")
    out.print(table)
    out.print(Panel(f"[bold]{issued.secret}[/]", title="key (shown once)", expand=False))


def _key_id(runtime: Runtime, ref: str) -> str:
    """A key's id from its id or its prefix (the part of the secret that logs show)."""
    ref = ref.strip()
    for k in runtime.services.list_api_keys(system_actor()):
        if ref in (k.id, k.prefix):
            return k.id
    raise ApiKeyNotFound(ref)


@main.group()
def key() -> None:
    """Native API keys: create, list, rotate, revoke."""


@key.command("create")
@database_options
@click.option("--manager", "manager_login", type=int, required=True, help="Owner's login.")
@click.option(
    "--scopes",
    required=True,
    metavar="S1,S2",
    help=f"Comma list of scopes, each a right of the manager, of: {RIGHTS_HELP}.",
)
@click.option("--name", default="", help="What the key is for, e.g. crm-provisioning.")
@click.option(
    "--expires", default=None, metavar="WHEN", help=f"Expiry: {EXPIRY_HELP}. Default: never."
)
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None, hidden=True)
@json_option
def key_create(
    database_url: str | None,
    data_dir: Path | None,
    manager_login: int,
    scopes: str,
    name: str,
    expires: str | None,
    expires_in_days: int | None,
    as_json: bool,
) -> None:
    """Issue an API key for a manager; the secret is printed once."""
    if expires is not None and expires_in_days is not None:
        raise CliFailure("give --expires only (--expires-in-days N is --expires Nd)")
    if expires_in_days is not None:
        expires = f"{expires_in_days}d"
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        services = runtime.services
        expires_at = parse_expiry(expires, services.clock()) if expires is not None else None
        cmd = CreateApiKey(manager_login=manager_login, scopes=comma_list(scopes), name=name,
                           expires_at=expires_at)  # fmt: skip
        issued = services.create_api_key(cmd, system_actor())
        owner = _existing_manager(runtime, manager_login)
    if not owner.enabled:
        console(stderr=True).print(
            f"note: manager {manager_login} is disabled; the key works once it is enabled"
        )
    if as_json:
        click.echo(json.dumps(_issued_json(issued)))
        return
    _show_issued(issued, f"key {issued.key.id} created")


@key.command("list")
@database_options
@click.option(
    "--manager", "manager_login", type=int, default=None, help="Only this manager's keys."
)
@json_option
def key_list(
    database_url: str | None, data_dir: Path | None, manager_login: int | None, as_json: bool
) -> None:
    """List keys with their state and last use (never their secrets)."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        services = runtime.services
        if manager_login is not None:
            _existing_manager(runtime, manager_login)
        keys = services.list_api_keys(system_actor(), manager_login)
        disabled = {m.login for m in services.list_managers(system_actor()) if not m.enabled}
        now = services.clock()
    items = [_key_json(k, now) for k in keys]
    if as_json:
        click.echo(json.dumps({"items": items}))
        return
    out = console()
    if not items:
        out.print("No keys: brokerplane key create --manager L --scopes S1,S2")
        return
    table = Table(title="API keys", box=None, pad_edge=False, padding=(0, 1, 0, 0),
                  header_style="bold underline")  # fmt: skip
    table.add_column("id / prefix", no_wrap=True)
    table.add_column("owner", no_wrap=True)
    table.add_column("name", overflow="fold", ratio=1)
    table.add_column("scopes", no_wrap=True)
    table.add_column("state", overflow="fold", min_width=6)
    table.add_column("expires", overflow="fold", min_width=10)
    table.add_column("last used", overflow="fold", min_width=10)
    for n, k in enumerate(items):
        if n:
            table.add_row()  # a blank line between keys
        state = k["state"]
        if state == "active" and k["manager_login"] in disabled:
            state = "active (manager disabled)"
        table.add_row(
            f"{k['id']}\n{k['prefix']}", str(k["manager_login"]), escape(k["name"]),
            "\n".join(k["scopes"]), state, _minute(k["expires_at"]) or "never",
            _minute(k["last_used_at"]) or "-",
        )  # fmt: skip
    out.print(table)


@key.command("rotate")
@database_options
@click.argument("key_ref", metavar="ID")
@json_option
def key_rotate(
    database_url: str | None, data_dir: Path | None, key_ref: str, as_json: bool
) -> None:
    """Issue a new secret for a key (same scopes, name and expiry); the old secret keeps working
    for BROKERPLANE_KEY_ROTATION_OVERLAP_HOURS (24), then expires. ID may be the key's prefix."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        issued, previous = runtime.services.rotate_api_key(
            _key_id(runtime, key_ref), system_actor()
        )
    if as_json:
        click.echo(json.dumps(_issued_json(issued, previous)))
        return
    _show_issued(issued, f"key {issued.key.id} created")
    console().print(
        f"It replaces key {previous.id} (prefix {previous.prefix}), which keeps working until "
        f"{iso(previous.expires_at)}; revoke it sooner with: brokerplane key revoke {previous.id}",
        soft_wrap=True,
    )


@key.command("revoke")
@database_options
@click.argument("key_ref", metavar="ID")
@json_option
def key_revoke(
    database_url: str | None, data_dir: Path | None, key_ref: str, as_json: bool
) -> None:
    """Revoke a key at once. ID may be the key's prefix."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        services = runtime.services
        started = services.clock()
        revoked = services.revoke_api_key(_key_id(runtime, key_ref), system_actor())
        now = services.clock()
    if as_json:
        click.echo(json.dumps(_key_json(revoked, now)))
        return
    already = revoked.revoked_at is not None and revoked.revoked_at < started
    verb = "was already revoked" if already else "revoked"
    click.echo(
        f"key {revoked.id} (prefix {revoked.prefix}, manager {revoked.manager_login}) {verb} "
        f"at {iso(revoked.revoked_at)}"
    )


# --------------------------------------------------------------------------- audit


@main.group()
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
        keys = runtime.services.config.audit_keys
        point = None
        if checkpoint is not None:
            try:
                point = auditkeys.read_checkpoint(checkpoint.read_text(encoding="utf-8"), keys)
            except (OSError, UnicodeDecodeError) as exc:
                raise CliFailure(f"checkpoint {checkpoint}: {exc}") from None
            except AuditKeyError as exc:
                click.echo(f"checkpoint {checkpoint}: {exc}", err=True)
                click.get_current_context().exit(EXIT_CHECK_FAILED)
        report = runtime.services.verify_audit(
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
        report, totals = runtime.services.chain_statement()
        if not report.ok:
            click.echo(
                f"audit chain broken at record {report.first_bad_id}: {report.reason}; "
                "no checkpoint signed",
                err=True,
            )
            click.get_current_context().exit(EXIT_CHECK_FAILED)
        statement = auditkeys.sign_checkpoint(
            runtime.keyring.keys.current, report.head, report.records, report.legacy, totals,
            runtime.services.clock(),
        )  # fmt: skip
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


# --------------------------------------------------------------------------- ledger


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@main.group()
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
        report = runtime.services.audit_ledger()
    if report.ok:
        click.echo(
            f"ledger OK: {_count(report.accounts, 'account')} checked, "
            f"{_count(report.entries, 'entry').replace('entrys', 'entries')} tied to their "
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
        more = " (the first ones shown)" if shown >= MAX_REPORTED else ""
        click.echo(
            f"ledger check failed: {shown} entry problem(s){more} between the ledger's "
            f"{report.entries} entries and the audit trail",
            err=True,
        )
    click.get_current_context().exit(EXIT_CHECK_FAILED)


# --------------------------------------------------------------------------- approvals


@main.group()
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
        found = runtime.services.list_approval_thresholds(system_actor())
    items = [_threshold_json(t) for t in found]
    if as_json:
        click.echo(json.dumps({"items": items}))
        return
    out = console()
    if not items:
        out.print("No approval thresholds: every money operation applies at once.")
        return
    table = Table(title="approval thresholds")
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
    cmd = SetApprovalThreshold(currency=currency, amount=amount, group=group)
    with runtime_for(settings) as runtime:
        t = runtime.services.set_approval_threshold(cmd, system_actor())
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
    cmd = SetApprovalThreshold(currency=currency, amount=None, group=group)
    with runtime_for(settings) as runtime:
        before = {
            (t.currency, t.group) for t in runtime.services.list_approval_thresholds(system_actor())
        }
        runtime.services.set_approval_threshold(cmd, system_actor())
    code = currency.strip().upper()
    where = f"group {group}" if group else "every group"
    if (code, group) in before:
        click.echo(f"{code} threshold for {where} removed")
    else:
        click.echo(f"no {code} threshold for {where}: nothing to remove")


# --------------------------------------------------------------------------- maintenance


@main.group()
def maintenance() -> None:
    """Purge expired request ids and expire overdue approvals.

    The server runs it every BROKERPLANE_MAINTENANCE_INTERVAL_S seconds.
    """


@maintenance.command("run")
@database_options
def maintenance_run(database_url: str | None, data_dir: Path | None) -> None:
    """Purge expired request ids and expire overdue approvals, once."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        purged, expired = runtime.services.run_maintenance()
    click.echo(
        f"maintenance: {_count(purged, 'expired request id')} purged, "
        f"{_count(expired, 'overdue approval')} expired"
    )


main.add_command(quotes)


if __name__ == "__main__":  # pragma: no cover
    main()

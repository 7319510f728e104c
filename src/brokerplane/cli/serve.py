"""`brokerplane serve`: the API (and the MT5 TLS and TCP listeners) in one process.

The listening sockets are bound before anything else happens: a port in use fails at once, in
one line, before the database is migrated, demo keys are minted or var/ is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from brokerplane.cli import supervisor, tls
from brokerplane.cli.common import CliFailure, build_settings, console, database_options, safe_url
from brokerplane.settings import DIALECTS, LOG_FORMATS, Settings

if False:  # pragma: no cover - for the type checker only
    from brokerplane.cli.tls import CertificateInfo

# --------------------------------------------------------------------------- serve


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
    certificate = _tls_settings(settings)
    if settings.workers > 1:
        supervisor.check_database(settings)
    out = console()
    listening: list[list[socket.socket]] = []
    try:
        # Bound before anything else happens (the database, the audit key, demo keys, var/),
        # so a port in use fails at once, in one line, and a second `make serve` changes
        # nothing the running one uses.
        listening.append(_listen(settings.host, settings.port, "--port"))
        if certificate is not None and settings.mt5_tls_port is not None:
            listening.append(_listen(settings.host, settings.mt5_tls_port, "--mt5-tls-port"))
        tcp_socks = (
            _listen(settings.host, settings.mt5_tcp_port, "--mt5-tcp-port")
            if settings.mt5_tcp_port is not None
            else None
        )
        if tcp_socks is not None:
            listening.append(tcp_socks)
        try:
            import uvicorn  # noqa: F401 - fail here, in one line, when the server cannot load

            from brokerplane.api.app import create_app
            from brokerplane.cli.common import open_runtime
            from brokerplane.cli.demo import load_demo, save_demo, show_secrets
        except ImportError as exc:
            raise CliFailure(f"the HTTP API cannot be loaded: {exc}") from None
        if not settings.database_url or (settings.audit_key is None
                                         and settings.audit_key_file is None):  # fmt: skip
            try:  # the SQLite database or the audit key lives here
                private_dir(settings.data_dir)
            except OSError as exc:
                raise CliFailure(f"cannot make the data directory {settings.data_dir}: "
                                 f"{exc.strerror or exc}") from None  # fmt: skip
        runtime = open_runtime(settings, migrate_schema=True)
        try:
            if runtime.keyring is not None and runtime.keyring.created:
                out.print(escape(runtime.keyring.announcement()), soft_wrap=True)
            # With workers, built here too: every module the app needs is then loaded before
            # the workers are forked, so a worker (and its replacement) starts at once.
            app = create_app(runtime)
            if demo and runtime.services.is_empty():
                secrets = load_demo(runtime)
                if secrets is not None:
                    saved = save_demo(settings.data_dir, secrets)
                    show_secrets(secrets, runtime, out, saved)
            _announce(out, settings, certificate)
            if settings.workers == 1:
                _run_listeners(_servers(app, settings, listening, certificate))
        finally:
            runtime.close()
        if settings.workers > 1:
            # Each worker opens its own database connections: the parent's are closed above,
            # before the workers are forked.

            def worker() -> None:
                rt = open_runtime(settings)
                try:
                    servers = _servers(create_app(rt), settings, listening, certificate)
                    _run_listeners(servers, worker=True)
                finally:
                    rt.close()

            bound = [sock for group in listening for sock in group]
            code = supervisor.supervise(settings.workers, bound, worker, console(stderr=True))
            if code:
                raise SystemExit(code)
    finally:
        for group in listening:
            for sock in group:
                sock.close()


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


def _servers(
    app: Any, settings: Settings, listening: list[list[socket.socket]],
    certificate: CertificateInfo | None,
) -> list[tuple[Any, list[socket.socket]]]:  # fmt: skip
    """The process's servers over the bound sockets: HTTP first (it runs the app's startup
    and shutdown), then the TLS listener, then the MT5 TCP listener, as configured."""
    listener = _listener_class()
    servers = [(listener(uvicorn_config(app, settings)), listening[0])]
    rest = iter(listening[1:])
    if certificate is not None and settings.mt5_tls_port is not None:
        servers.append((listener(uvicorn_config(app, settings, tls=True)), next(rest)))
    if settings.mt5_tcp_port is not None:
        servers.append((mt5_tcp_server(app, settings), next(rest)))
    return servers


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

    from brokerplane.api.mt5.auth import IDLE_TIMEOUT_S
    from brokerplane.cli.listener import protocol_class
    from brokerplane.logs import server_log_config

    state = getattr(app, "state", None)
    if state is not None:
        state.connections_required = True
    keep_alive = int(IDLE_TIMEOUT_S) + 10 if "mt5" in settings.enabled_dialects else 5
    # Query strings carry tokens and passwords (cTrader ?token=, MT5 password=): every log
    # line, the access log's included, is written with their values as ***.
    trusted = settings.forwarded_allow_ips
    common: dict[str, Any] = {
        "host": settings.host, "log_level": settings.log_level, "timeout_keep_alive": keep_alive,
        "log_config": server_log_config(settings.log_level, settings.log_format,
                                        access=settings.access_log),
        "access_log": False,  # brokerplane.access writes one line per request instead
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

    from brokerplane.api.mt5.tcp import Mt5TcpServer
    from brokerplane.api.mt5.tcpconnection import Limits

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
    metrics = getattr(app.state, "metrics", None)
    server = Mt5TcpServer(app.state.runtime.services, app.state.mt5_sessions, limits, tls=context,
                          max_connections=settings.max_connections,
                          max_per_address=settings.mt5_tcp_max_per_address,
                          max_unauthenticated=settings.mt5_tcp_max_unauthenticated,
                          on_command=metrics.tcp_command if metrics is not None else None,
                          )  # fmt: skip
    app.state.mt5_tcp_server = server  # its open connections are a metric
    return server


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


def private_dir(path: Path) -> None:
    """Create brokerplane's data directory owner-only (0700); an existing one of ours that
    others may read is tightened, unless it is a shared (sticky) directory such as /tmp."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        os.chmod(path, 0o700)  # whatever the umask
        return
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 and not mode & stat.S_ISVTX and info.st_uid == os.geteuid():
        with contextlib.suppress(OSError):
            os.chmod(path, mode & 0o700)


def _listen(host: str, port: int, flag: str = "--port") -> list[socket.socket]:
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
        message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        if exc.errno == errno.EADDRINUSE:
            message += (
                f" (another process, perhaps a brokerplane server started earlier, holds the "
                f"port: stop it, or pick another port with {flag}); nothing was changed"
            )
        raise CliFailure(message) from None
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


def _run_listeners(servers: list[tuple[Any, list[socket.socket]]], *, worker: bool = False) -> None:
    """Run uvicorn servers in one event loop until a signal (or one of them stopping) stops
    them all. Ctrl+C twice forces the exit, as with plain uvicorn.

    A `worker` of `serve --workers` leaves Ctrl+C to its supervisor (cli/workers.py), which
    stops it with SIGTERM (finish what is under way) and forces it with SIGQUIT."""

    async def run_all() -> None:
        loop = asyncio.get_running_loop()

        def stop(sig: signal.Signals) -> None:
            for server, _ in servers:
                if (server.should_exit and sig == signal.SIGINT) or sig == signal.SIGQUIT:
                    server.force_exit = True
                server.should_exit = True

        handled = (signal.SIGTERM, signal.SIGQUIT) if worker else (signal.SIGINT, signal.SIGTERM)
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

    factory = getattr(servers[0][0].config, "get_loop_factory", None)
    with asyncio.Runner(loop_factory=factory() if factory else None) as runner:
        runner.run(run_all())

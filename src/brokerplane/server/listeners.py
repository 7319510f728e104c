"""The listeners of one server process: binding their sockets, configuring each (HTTP, the
HTTPS one for MT5 Web API clients, the MT5 TCP protocol), and running them in one event loop
that handles the signals once, for all of them.

The sockets are bound before anything else happens (run.py): a port in use fails at once, in
one line, before the database is migrated, demo keys are minted or var/ is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from brokerplane.server import StartupError

if TYPE_CHECKING:
    from brokerplane.server.tls import CertificateInfo
    from brokerplane.settings import Settings


def bind(host: str, port: int, flag: str = "--port") -> list[socket.socket]:
    """Sockets bound to every address of host:port (listening starts when served), so a busy
    port is one line before anything else happens."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {host}: {exc.strerror}") from None
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
        raise StartupError(message) from None
    return bound


def servers(
    app: Any,
    settings: Settings,
    listening: list[list[socket.socket]],
    certificate: CertificateInfo | None,
) -> list[tuple[Any, list[socket.socket]]]:
    """The process's servers over the bound sockets: HTTP first (it runs the app's startup
    and shutdown), then the TLS listener, then the MT5 TCP listener, as configured."""
    listener = _listener_class()
    found = [(listener(uvicorn_config(app, settings)), listening[0])]
    rest = iter(listening[1:])
    if certificate is not None and settings.mt5_tls_port is not None:
        found.append((listener(uvicorn_config(app, settings, tls=True)), next(rest)))
    if settings.mt5_tcp_port is not None:
        found.append((mt5_tcp_server(app, settings), next(rest)))
    return found


def uvicorn_config(app: Any, settings: Settings, *, tls: bool = False) -> Any:
    """The uvicorn configuration of one listener: the plain one, or (tls) the HTTPS one, which
    leaves the app's startup and shutdown to the plain one.

    MT5 sessions live on the connection, and clients ping every 20 s and may stay silent for up
    to 180 s: idle keep-alive connections are kept a little longer than that, where uvicorn's
    default (5 s) would drop the connection, and with it the session, between two pings.

    The protocol (server/protocol.py) gives each connection its identity (MT5 sessions are
    bound to it, so the app is marked to refuse sessions without one) and a deadline for
    request heads. X-Forwarded-* headers are believed only from `forwarded_allow_ips` (none by
    default, where uvicorn would trust 127.0.0.1).
    """
    import uvicorn

    from brokerplane.api.mt5.auth import IDLE_TIMEOUT_S
    from brokerplane.logs import server_log_config
    from brokerplane.server.protocol import protocol_class

    state = getattr(app, "state", None)
    if state is not None:
        state.connections_required = True
    keep_alive = int(IDLE_TIMEOUT_S) + 10 if "mt5" in settings.enabled_dialects else 5
    # Query strings carry tokens and passwords (cTrader ?token=, MT5 password=): every log
    # line, the access log's included, is written with their values as ***.
    trusted = settings.forwarded_allow_ips
    common: dict[str, Any] = {
        "host": settings.host,
        "log_level": settings.log_level,
        "timeout_keep_alive": keep_alive,
        "log_config": server_log_config(
            settings.log_level, settings.log_format, access=settings.access_log
        ),
        "access_log": False,  # brokerplane.access writes one line per request instead
        "http": protocol_class(settings.header_timeout_s),
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or "",
        "limit_concurrency": settings.max_connections,
    }
    if not tls:
        return uvicorn.Config(app, port=settings.port, **common)
    if settings.mt5_tls_port is None or settings.tls_cert is None or settings.tls_key is None:
        raise ValueError("a TLS listener needs mt5_tls_port, tls_cert and tls_key")
    return uvicorn.Config(
        app,
        port=settings.mt5_tls_port,
        ssl_certfile=str(settings.tls_cert),
        ssl_keyfile=str(settings.tls_key),
        lifespan="off",
        **common,
    )


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
    server = Mt5TcpServer(
        app.state.runtime.app,
        app.state.mt5_sessions,
        limits,
        tls=context,
        max_connections=settings.max_connections,
        max_per_address=settings.mt5_tcp_max_per_address,
        max_unauthenticated=settings.mt5_tcp_max_unauthenticated,
        on_command=metrics.tcp_command if metrics is not None else None,
    )
    app.state.mt5_tcp_server = server  # its open connections are a metric
    return server


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


def run(servers: list[tuple[Any, list[socket.socket]]], *, worker: bool = False) -> None:
    """Run uvicorn servers in one event loop until a signal (or one of them stopping) stops
    them all. Ctrl+C twice forces the exit, as with plain uvicorn.

    A `worker` of `serve --workers` leaves Ctrl+C to its supervisor (server/supervisor.py),
    which stops it with SIGTERM (finish what is under way) and forces it with SIGQUIT."""

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

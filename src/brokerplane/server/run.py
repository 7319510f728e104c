"""`brokerplane serve` from its settings on: the API (and the MT5 TLS and TCP listeners) in one
process, or in `settings.workers` forked processes under a supervisor.

The listening sockets are bound before anything else happens: a port in use fails at once, in
one line, before the database is migrated, demo keys are minted or var/ is written.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brokerplane.server import StartupError, listeners, supervisor, tls

if TYPE_CHECKING:
    from brokerplane.bootstrap import Runtime
    from brokerplane.server.tls import CertificateInfo
    from brokerplane.settings import Settings


def serve(
    settings: Settings,
    *,
    open_runtime: Callable[..., Runtime],
    note: Callable[[str], None],
    opened: Callable[[Runtime], None],
    ready: Callable[[Runtime, CertificateInfo | None], None],
    err: Any,
) -> None:
    """Check the settings, bind the listeners, migrate the database, build the app and serve
    until a signal stops it. Raises StartupError (one line) when it cannot start.

    Whoever starts it (cli/serve.py) is called back: `open_runtime(settings,
    migrate_schema=...)` opens the runtime (here and in each worker); `note(text)` is told of
    settings that are harmless but probably not what was meant; `opened(runtime)` once the
    database is migrated, before the app is built; `ready(runtime, certificate)` once the app is
    built, before serving (in this process, whatever the number of workers). `err` (a rich
    console) shows the supervisor's lines about its workers.
    """
    certificate = tls.listener_certificate(settings, note)
    if settings.workers > 1:
        supervisor.check_database(settings)
    listening: list[list[socket.socket]] = []
    try:
        # Bound before anything else happens (the database, the audit key, demo keys, var/),
        # so a port in use fails at once, in one line, and a second `make serve` changes
        # nothing the running one uses.
        listening.append(listeners.bind(settings.host, settings.port, "--port"))
        if certificate is not None and settings.mt5_tls_port is not None:
            listening.append(listeners.bind(settings.host, settings.mt5_tls_port, "--mt5-tls-port"))
        tcp_socks = (
            listeners.bind(settings.host, settings.mt5_tcp_port, "--mt5-tcp-port")
            if settings.mt5_tcp_port is not None
            else None
        )
        if tcp_socks is not None:
            listening.append(tcp_socks)
        try:
            import uvicorn  # noqa: F401 - fail here, in one line, when the server cannot load

            from brokerplane.api.app import create_app
        except ImportError as exc:
            raise StartupError(f"the HTTP API cannot be loaded: {exc}") from None
        if not settings.database_url or (
            settings.audit_key is None and settings.audit_key_file is None
        ):
            try:  # the SQLite database or the audit key lives here
                private_dir(settings.data_dir)
            except OSError as exc:
                raise StartupError(
                    f"cannot make the data directory {settings.data_dir}: {exc.strerror or exc}"
                ) from None
        runtime = open_runtime(settings, migrate_schema=True)
        try:
            opened(runtime)
            # With workers, built here too: every module the app needs is then loaded before
            # the workers are forked, so a worker (and its replacement) starts at once.
            app = create_app(runtime)
            ready(runtime, certificate)
            if settings.workers == 1:
                listeners.run(listeners.servers(app, settings, listening, certificate))
        finally:
            runtime.close()
        if settings.workers > 1:
            # Each worker opens its own database connections: the parent's are closed above,
            # before the workers are forked.

            def worker() -> None:
                rt = open_runtime(settings)
                try:
                    servers = listeners.servers(create_app(rt), settings, listening, certificate)
                    listeners.run(servers, worker=True)
                finally:
                    rt.close()

            bound = [sock for group in listening for sock in group]
            code = supervisor.supervise(settings.workers, bound, worker, err)
            if code:
                raise SystemExit(code)
    finally:
        for group in listening:
            for sock in group:
                sock.close()


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

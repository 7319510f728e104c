"""`brokerplane serve --workers N`: N server processes forked over the listening sockets the
parent bound, and the parent supervising them.

Every worker is a full server (HTTP, TLS, the MT5 TCP listener) accepting on the same
inherited sockets; the kernel hands each new connection to one of them. What a request needs
to know is in the database (rate limits, lockouts, tokens, request ids, quotes); what is bound
to one connection (an MT5 session) lives in the worker that accepted it.

The parent only supervises: a worker that dies (a crash, SIGKILL, the OOM killer) is replaced
at once (after a growing pause when workers keep dying young, and not at all after
MAX_EARLY_DEATHS in a row: then everything stops with an error). SIGTERM or Ctrl+C stops the
workers gracefully (each finishes its requests under way, as one `serve` would); a second
Ctrl+C forces them. Workers ignore Ctrl+C themselves (the terminal sends it to them too), so
one press means one graceful stop. A worker whose parent dies is sent SIGTERM (Linux).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from brokerplane.server import StartupError
from brokerplane.settings import Settings

BACKLOG = 2048
GRACE_S = 30.0  # a stopping worker's time to finish before it is forced
YOUNG_S = 5.0  # a worker that dies younger than this died "early"
MAX_EARLY_DEATHS = 5
_PR_SET_PDEATHSIG = 1


def check_database(settings: Settings) -> None:
    """Several workers need one database they can all open: PostgreSQL, or an SQLite file
    (WAL, on a local disk), never an in-memory SQLite database."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1] if "///" in url else ""
        if not path or path == ":memory:" or "mode=memory" in url or path.startswith(":memory:"):
            raise StartupError(
                "--workers needs a database every worker can open: an in-memory SQLite database "
                "is one per process; use an SQLite file or PostgreSQL"
            )


def supervise(count: int, sockets: list[socket.socket], work: Callable[[], None], err: Any) -> int:
    """Fork `count` workers, each running `work` over the inherited `sockets`; replace any that
    dies until asked to stop. Returns the exit status: 0 after a requested stop."""
    for sock in sockets:
        sock.listen(BACKLOG)  # connections queue while a worker is being replaced
    state = _State()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, state.on_signal)
    signal.signal(signal.SIGTERM, state.on_signal)
    slots: dict[int, tuple[int, float]] = {}  # pid -> (worker number, started at)
    early = 0
    try:
        for number in range(1, count + 1):
            pid = _fork(number, work)
            slots[pid] = (number, time.monotonic())
        err.print(f"{count} workers started (pids {', '.join(map(str, slots))})")
        while slots:
            if state.forced:
                _signal_all(slots, signal.SIGQUIT)
                state.forced = False
            if state.stopping and not state.told:
                _signal_all(slots, signal.SIGTERM)
                state.told = True
                state.stop_by = time.monotonic() + GRACE_S
            if state.told and time.monotonic() > state.stop_by:
                _signal_all(slots, signal.SIGKILL)
            pid, status = _reap()
            if pid == 0:
                time.sleep(0.05)
                continue
            if pid not in slots:
                continue
            number, started = slots.pop(pid)
            if state.stopping:
                continue
            err.print(f"worker {number} (pid {pid}) {_death(status)}; starting another")
            early = early + 1 if time.monotonic() - started < YOUNG_S else 0
            if early >= MAX_EARLY_DEATHS:
                err.print(
                    f"error: {early} workers died within {YOUNG_S:g} s of starting; "
                    "stopping (see the lines above)"
                )
                state.stopping = True
                state.failed = True
                continue
            if early:
                time.sleep(min(10.0, 0.25 * 2**early))
            new = _fork(number, work)
            slots[new] = (number, time.monotonic())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _signal_all(slots, signal.SIGKILL)
        for pid in list(slots):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return 1 if state.failed else 0


class _State:
    def __init__(self) -> None:
        self.stopping = False
        self.told = False
        self.forced = False
        self.failed = False
        self.stop_by = 0.0

    def on_signal(self, sig: int, _frame: object) -> None:
        if self.stopping and sig == signal.SIGINT:
            self.forced = True  # Ctrl+C again: do not wait for the requests under way
        self.stopping = True


def _reap() -> tuple[int, int]:
    try:
        return os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return 0, 0


def _signal_all(slots: dict[int, tuple[int, float]], sig: signal.Signals) -> None:
    for pid in slots:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _death(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def _fork(number: int, work: Callable[[], None]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides (see above)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _die_with_parent()
        if os.getppid() != parent:  # the supervisor died before this worker could ask
            raise SystemExit(0)
        work()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when the supervisor dies, so no orphan keeps the ports."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

"""The server a docs page's examples run against (tools/docs/examples.py): a working directory
with `.venv/bin/brokerplane` (the brokerplane under test), `var/` holding the demo, and
`brokerplane serve` on free ports, with the documented ports translated both ways."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC_PORT = 8080
DOC_TCP_PORT = 4430


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(workdir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BROKERPLANE_") and k not in ("PYTEST_XDIST_WORKER", "PYTHONPATH")
    }
    env["PYTHONPATH"] = str(ROOT / "src")
    env["PATH"] = f"{workdir / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["BROKERPLANE_LOG_LEVEL"] = "warning"
    env["HOME"] = str(workdir)
    env["LC_ALL"] = "C.UTF-8"
    env["COLUMNS"] = "100"
    env["NO_COLOR"] = "1"
    return env


def _install_wrapper(workdir: Path) -> None:
    """.venv/bin/brokerplane (and python3) in the page's directory: the brokerplane under test."""
    bindir = workdir / ".venv" / "bin"
    bindir.mkdir(parents=True)
    py = sys.executable
    (bindir / "brokerplane").write_text(
        f'#!/bin/sh\nexec "{py}" -m brokerplane.cli.main "$@"\n', encoding="utf-8"
    )
    (bindir / "python").write_text(f'#!/bin/sh\nexec "{py}" "$@"\n', encoding="utf-8")
    for name in ("brokerplane", "python"):
        (bindir / name).chmod(0o755)


def _load_demo(workdir: Path, env: dict[str, str]) -> None:
    """`var/` in `workdir`: a data directory with the demo loaded and var/demo.json."""
    (workdir / "var").mkdir(mode=0o700)
    brokerplane = str(workdir / ".venv" / "bin" / "brokerplane")
    with open(workdir / "var" / "demo.json", "wb") as out:
        subprocess.run(
            [brokerplane, "demo", "--json"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            check=True,
            timeout=120,
        )


def demo_template(where: Path) -> Path:
    """A data directory under `where` with the demo loaded, as a page's `var/` starts: pass it
    to `check_page` for each page to copy instead of loading the demo again. The demo process
    exits before this returns, so the directory is complete (SQLite folds its WAL back in when
    the last connection closes) and nothing writes to it while it is copied."""
    where.mkdir(parents=True, exist_ok=True)
    _install_wrapper(where)
    _load_demo(where, _env(where))
    return where / "var"


class PageServer:
    """A fresh data directory with the demo loaded (a copy of `template` when given), and
    `brokerplane serve` on free ports."""

    def __init__(self, workdir: Path, template: Path | None = None) -> None:
        self.workdir = workdir
        self.port, self.tcp_port = free_port(), free_port()
        self.env = _env(workdir)
        _install_wrapper(workdir)
        if template is None:
            _load_demo(workdir, self.env)
        else:
            shutil.copytree(template, workdir / "var")  # modes too: var/ 0700, secrets 0600
        brokerplane = str(workdir / ".venv" / "bin" / "brokerplane")
        self.log = open(workdir / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [brokerplane, "serve", "--port", str(self.port), "--mt5-tcp-port", str(self.tcp_port)],
            cwd=workdir,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            url = f"http://127.0.0.1:{self.port}/ready"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the page's server did not start:\n" + self.server_log())

    def server_log(self) -> str:
        return (self.workdir / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.log.close()

    def to_local(self, command: str) -> str:
        command = command.replace(f"127.0.0.1:{DOC_PORT}", f"127.0.0.1:{self.port}")
        command = command.replace(f"localhost:{DOC_PORT}", f"localhost:{self.port}")
        command = command.replace(f'"127.0.0.1", {DOC_PORT}', f'"127.0.0.1", {self.port}')
        return re.sub(rf"\b{DOC_TCP_PORT}\b", str(self.tcp_port), command)

    def to_doc(self, output: str) -> str:
        output = re.sub(rf":{self.port}\b", f":{DOC_PORT}", output)
        return re.sub(rf"\b{self.tcp_port}\b", str(DOC_TCP_PORT), output)

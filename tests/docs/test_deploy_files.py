"""The deployment guide's files (deploy/) hold together: the systemd unit passes
`systemd-analyze verify` and starts `brokerplane serve` with options it has, and the nginx file
forwards to the ports the unit and its own comments give brokerplane, HTTP through an `http {}`
proxy and MT5 through a `stream {}` pass-through."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from brokerplane.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "brokerplane.service"
NGINX = ROOT / "deploy" / "nginx.conf"


def _exec_start() -> str:
    text = UNIT.read_text(encoding="utf-8").replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    return line.removeprefix("ExecStart=")


def test_the_unit_starts_brokerplane_serve_with_options_it_has() -> None:
    program, command, *options = _exec_start().split()
    assert program.endswith("/brokerplane") and command == "serve"
    known = CliRunner().invoke(main, ["serve", "--help"]).output
    flags = [o for o in options if o.startswith("--")]
    assert flags and [f for f in flags if f not in known] == []


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze on this machine")
    program = _exec_start().split()[0]
    real = Path(sys.executable).with_name("brokerplane")  # the same command, installed here
    unit = tmp_path / "brokerplane.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(program, str(real)))
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120, check=False
    )
    complaints = [
        line for line in (done.stdout + done.stderr).splitlines() if "brokerplane.service" in line
    ]
    assert done.returncode == 0 and complaints == [], done.stdout + done.stderr


def test_nginx_proxies_http_and_passes_mt5_through_to_the_ports_brokerplane_listens_on() -> None:
    text = NGINX.read_text(encoding="utf-8")
    http = text.split("\nhttp {", 1)[1].split("\nstream {", 1)[0]
    stream = text.split("\nstream {", 1)[1]
    port = re.search(r"--port (\d+)", _exec_start())
    assert port is not None
    assert f"server 127.0.0.1:{port.group(1)};" in http and "proxy_pass http://" in http
    assert "ssl_certificate" in http and "X-Forwarded-For $remote_addr" in http
    directives = re.sub(r"#[^\n]*", "", stream)
    assert not re.search(r"\bssl\b", directives)  # MT5's TLS ends in brokerplane, not nginx
    serve_comment = text.split("# brokerplane: serve", 1)[1].split("\n# MT5 clients", 1)[0]
    for flag in ("--mt5-tls-port", "--mt5-tcp-port"):
        given = re.search(rf"{flag} (\d+)", serve_comment)
        assert given is not None, flag
        assert f"server 127.0.0.1:{given.group(1)};" in stream, flag

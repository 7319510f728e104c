"""`brokerplane tls self-signed` and `brokerplane serve --mt5-tls-port`: the MT5 handshake over
HTTPS, as clients that skip verification and clients that trust the certificate make it."""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from brokerplane.server.listeners import uvicorn_config
from brokerplane.settings import Settings
from tests.e2e.mt5client import Mt5Client, Mt5HttpError
from tests.e2e.transport_support import MANAGER, PASSWORD, ServeProcess, _database, free_port, run


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    result = run("tls", "self-signed", "--out-dir", str(tmp_path / "tls"))
    assert result.exit_code == 0, result.output
    return tmp_path / "tls"


@pytest.fixture
def database(tmp_path: Path) -> str:
    """A migrated SQLite database with manager 1005 and its API password, made with the CLI."""
    return _database(tmp_path)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    started: list[ServeProcess] = []

    def start(
        args: list[str], env: dict[str, str], ready_url: str, verify: ssl.SSLContext
    ) -> ServeProcess:
        server = ServeProcess(args, tmp_path / f"serve-{len(started)}.log", env=env)
        started.append(server)
        server.wait_ready(ready_url, verify=verify)
        return server

    yield start
    for server in started:
        server.stop()


def _handshake_and_ping(base: str, verify: bool | ssl.SSLContext) -> None:
    with Mt5Client(base, verify=verify) as mt5:
        mt5.auth(MANAGER, PASSWORD)
        mt5.ping()
        assert mt5.call("time/server")["Time"]
        mt5.quit()
        with pytest.raises(Mt5HttpError):
            mt5.ping()


def _trusting(cafile: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile))


def _strict(cafile: Path) -> ssl.SSLContext:
    """Verification as strict as Python 3.13's default context (VERIFY_X509_STRICT)."""
    context = ssl.create_default_context(cafile=str(cafile))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


def test_serve_with_an_mt5_tls_port_answers_the_handshake_over_https_and_plain_http(
    tls_dir: Path, database: str, serve: Callable[..., ServeProcess]
) -> None:
    port, tls_port = free_port(), free_port()
    cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
    server = serve(
        [
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database-url",
            database,
            "--mt5-tls-port",
            str(tls_port),
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ],
        {},
        f"https://127.0.0.1:{tls_port}/ready",
        _trusting(cert),
    )
    _handshake_and_ping(f"https://127.0.0.1:{tls_port}", verify=False)  # as MT5 clients do
    _handshake_and_ping(f"https://127.0.0.1:{tls_port}", verify=_trusting(cert))  # IP:127.0.0.1
    _handshake_and_ping(f"https://localhost:{tls_port}", verify=_strict(cert))  # DNS:localhost
    _handshake_and_ping(f"http://127.0.0.1:{port}", verify=True)  # the same app, plain
    with pytest.raises(httpx.ConnectError):  # self-signed: not trusted without cert.pem
        httpx.get(f"https://127.0.0.1:{tls_port}/health", verify=ssl.create_default_context())
    assert server.stop() == 0  # SIGTERM stops both listeners gracefully


def test_the_tls_listener_is_configured_by_environment_variables(
    tls_dir: Path, database: str, serve: Callable[..., ServeProcess]
) -> None:
    port, tls_port = free_port(), free_port()
    cert = tls_dir / "cert.pem"
    env = {
        "BROKERPLANE_PORT": str(port),
        "BROKERPLANE_MT5_TLS_PORT": str(tls_port),
        "BROKERPLANE_TLS_CERT": str(cert),
        "BROKERPLANE_TLS_KEY": str(tls_dir / "key.pem"),
        "BROKERPLANE_DATABASE_URL": database,
        "BROKERPLANE_HOST": "127.0.0.1",
    }
    serve([], env, f"https://localhost:{tls_port}/ready", _trusting(cert))
    _handshake_and_ping(f"https://localhost:{tls_port}", verify=_trusting(cert))


def test_serve_refuses_a_certificate_path_that_does_not_exist_in_one_line_with_exit_2(
    tls_dir: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "cert.pem"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "brokerplane.cli.main",
            "serve",
            "--port",
            str(free_port()),
            "--mt5-tls-port",
            str(free_port()),
            "--tls-cert",
            str(missing),
            "--tls-key",
            str(tls_dir / "key.pem"),
            "--data-dir",
            str(tmp_path / "var"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"Error: the TLS certificate {missing} does not exist"
    ]
    assert not (tmp_path / "var").exists()  # refused before the database was touched


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tls-key", "{dir}/missing.pem"], "the TLS key {dir}/missing.pem does not exist"),
        (["--tls-key", "{dir}"], "the TLS key {dir} is not a file"),
        (["--tls-key", "{dir}/cert.pem"], "the TLS key {dir}/cert.pem is not a PEM private key"),
        (
            ["--tls-cert", "{dir}/key.pem"],
            "the TLS certificate {dir}/key.pem is not a PEM certificate",
        ),
        (
            ["--tls-key", "{dir}/other/key.pem"],
            "the TLS key {dir}/other/key.pem does not belong to the certificate {dir}/cert.pem",
        ),
        (["--tls-cert", "", "--tls-key", ""], "--mt5-tls-port needs --tls-cert and --tls-key"),
        (["--port", "9443"], "--mt5-tls-port and --port are both 9443"),
        (["--dialects", "native"], "the mt5 dialect is not enabled"),
    ],
)
def test_serve_refuses_an_unusable_tls_setting_in_one_line_with_exit_2(
    tls_dir: Path, tmp_path: Path, flags: list[str], message: str
) -> None:
    assert run("tls", "self-signed", "--out-dir", str(tls_dir / "other")).exit_code == 0
    given = {"--tls-cert": str(tls_dir / "cert.pem"), "--tls-key": str(tls_dir / "key.pem")}
    rest: list[str] = []
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        if flag in given:
            given[flag] = value.format(dir=tls_dir)
        else:
            rest += [flag, value]
    args = ["serve", "--mt5-tls-port", "9443", "--data-dir", str(tmp_path / "var"), *rest]
    for flag, value in given.items():
        if value:
            args += [flag, value]
    result = run(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message.format(dir=tls_dir) in lines[0], result.stderr


def test_tls_self_signed_writes_a_certificate_for_localhost_and_127_0_0_1(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    result = run("tls", "self-signed", "--out-dir", str(out), "--days", "30")
    assert result.exit_code == 0, result.output
    cert = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    lifetime = cert.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=29) < lifetime <= timedelta(days=30)
    assert (out / "key.pem").stat().st_mode & 0o077 == 0  # the key is its owner's only
    assert (
        f"brokerplane serve --mt5-tls-port 8443 --tls-cert {out / 'cert.pem'} "
        f"--tls-key {out / 'key.pem'}" in result.stdout
    )


def test_tls_self_signed_keeps_existing_files_unless_forced_and_adds_names(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    assert run("tls", "self-signed", "--out-dir", str(out)).exit_code == 0
    before = (out / "cert.pem").read_bytes()
    again = run("tls", "self-signed", "--out-dir", str(out))
    assert again.exit_code == 2
    assert "already exist; add --force to replace" in again.stderr
    assert (out / "cert.pem").read_bytes() == before
    forced = run(
        "tls",
        "self-signed",
        "--out-dir",
        str(out),
        "--force",
        "--name",
        "mt5.example.test",
        "--name",
        "10.0.0.7",
    )
    assert forced.exit_code == 0, forced.output
    cert = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "mt5.example.test"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "10.0.0.7",
    ]


def test_serve_keeps_an_idle_connection_open_longer_than_an_mt5_session_lasts() -> None:
    """A client that pings every 20 s (or is silent up to 180 s) keeps its connection, and so
    its session; uvicorn's default would close an idle connection after 5 s."""
    settings = Settings(port=8080, mt5_tls_port=8443, tls_cert=Path("c"), tls_key=Path("k"))
    assert uvicorn_config(object(), settings).timeout_keep_alive > 180
    assert uvicorn_config(object(), settings, tls=True).timeout_keep_alive > 180

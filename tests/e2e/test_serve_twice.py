"""`make serve` twice: the second start fails at once on the busy port, before it touches the
database or mints demo keys, so the running server and its demo.json keep working; and the
first start leaves var/ owner-only with the demo's secrets in var/demo.json (0600)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx

from tests.e2e.transport_support import ServeProcess, free_port


def _serve(data_dir: Path, port: int, tcp_port: int, log: Path) -> ServeProcess:
    return ServeProcess(
        [
            "--demo",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--mt5-tcp-port",
            str(tcp_port),
            "--data-dir",
            str(data_dir),
        ],
        log,
    )


def _keys(base: str, key: str) -> list[str]:
    listed = httpx.get(base + "/v1/keys", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert listed.status_code == 200, listed.text
    return sorted(item["id"] for item in listed.json()["items"])


def test_a_second_serve_fails_on_the_busy_port_and_changes_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    port, tcp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    first = _serve(data_dir, port, tcp_port, tmp_path / "first.log")
    try:
        first.wait_ready(base + "/ready")
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        demo_file = data_dir / "demo.json"
        assert stat.S_IMODE(demo_file.stat().st_mode) == 0o600
        saved = demo_file.read_bytes()
        demo = json.loads(saved)
        assert demo["manager"]["login"] == 1000 and demo["already_loaded"] is False
        key = demo["admin_key"]
        as_approver = {"Authorization": f"Bearer {demo['approver_key']}"}
        approver = httpx.get(base + "/v1/approvals", timeout=30, headers=as_approver)
        assert approver.status_code == 200
        keys_before = _keys(base, key)
        database = data_dir / "brokerplane.db"
        assert database.exists()

        busy = ((port, free_port(), "--port"), (free_port(), tcp_port, "--mt5-tcp-port"))
        for other_port, other_tcp, flag in busy:
            log = tmp_path / f"second-{flag}.log"
            second = _serve(data_dir, other_port, other_tcp, log)
            try:
                assert second.proc.wait(timeout=120) == 2
            finally:
                second.stop()
            said = log.read_text(errors="replace")
            assert "Address already in use" in said, said
            assert f"pick another port with {flag}" in said and "nothing was changed" in said
            assert "demo data loaded" not in said and "bpk_" not in said
            assert "Traceback" not in said

        assert demo_file.read_bytes() == saved
        assert _keys(base, key) == keys_before  # no key minted
        assert (
            httpx.get(
                base + "/v1/groups", timeout=30, headers={"Authorization": f"Bearer {key}"}
            ).status_code
            == 200
        )
    finally:
        first.stop()


def test_an_existing_data_dir_others_can_read_is_made_owner_only(tmp_path: Path) -> None:
    from brokerplane.server.run import private_dir

    made = tmp_path / "made-by-mkdir"
    made.mkdir()
    made.chmod(0o755)  # as `mkdir var` leaves it under the usual umask
    private_dir(made)
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # a sticky directory such as /tmp is left alone
    private_dir(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    fresh = tmp_path / "a" / "b"
    private_dir(fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700

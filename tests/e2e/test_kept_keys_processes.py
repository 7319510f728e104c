"""Keys (and cTrader manager tokens) verified once are kept in each server process's memory
(application.keycache), and a change made anywhere (another server process, the CLI, plain
SQL) is seen by every process on its next request: a revoked key gets 401 at once, a disabled
manager's keys stop at once, a rotated key's new secret works at once, a token issued under a
password that has since changed is refused at once. Two real `brokerplane serve` processes
on one database, both engines."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from brokerplane import bootstrap
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import system_actor
from brokerplane.settings import Settings
from tests.e2e.transport_support import ServerProcess

MANAGER, OTHER = 1000, 1001
SERVE = (sys.executable, "-m", "brokerplane.cli.main")
ENV = {"BROKERPLANE_RATE_LIMIT_PER_MINUTE": "0"}


def _keys(url: str, tmp_path: Path) -> tuple[str, dict[str, tuple[str, str]]]:
    """The admin key, and keys of manager OTHER by name: (id, secret)."""
    admin = system_actor()
    runtime = bootstrap.build(Settings(database_url=url, data_dir=tmp_path))
    try:
        services = runtime.app
        services.create_manager(CreateManager(MANAGER, "Admin", "Adm1n!passw0rd"), admin)
        services.create_manager(
            CreateManager(OTHER, "Other", "0ther!passw0rd", rights=frozenset({"users:read"})),
            admin,
        )
        root = services.create_api_key(CreateApiKey(MANAGER, frozenset({"admin"})), admin)
        made = {}
        for name in ("revoked", "sql", "cli", "rotated", "disabled"):
            owner = OTHER if name == "disabled" else MANAGER
            issued = services.create_api_key(
                CreateApiKey(owner, frozenset({"users:read"}), name=name), admin
            )
            made[name] = (issued.key.id, issued.secret)
        return root.secret, made
    finally:
        runtime.close()


def _get(server: ServerProcess, secret: str) -> httpx.Response:
    return httpx.get(
        server.base + "/v1/groups", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )


def _trader(server: ServerProcess, token: str) -> httpx.Response:
    return httpx.get(f"{server.base}/v2/webserv/traders/1?token={token}", timeout=30)


def test_a_change_anywhere_is_seen_by_every_process_on_its_next_request(
    database_url: str, tmp_path: Path
) -> None:
    root, keys = _keys(database_url, tmp_path)
    servers = [
        ServerProcess(database_url, tmp_path / f"serve-{n}.log", program=SERVE, extra_env=ENV)
        for n in range(2)
    ]
    try:
        for server in servers:
            server.wait_ready()
        one, two = servers
        # Each process checks every key a few times, so it keeps them.
        for server in servers:
            for _, secret in keys.values():
                for _ in range(3):
                    assert _get(server, secret).status_code == 200

        # Revoked through the first process: the second refuses it on its next request.
        key_id, secret = keys["revoked"]
        admin = {"Authorization": f"Bearer {root}"}
        assert httpx.delete(f"{one.base}/v1/keys/{key_id}", headers=admin).status_code == 200
        for server in (two, one):
            refused = _get(server, secret)
            assert refused.status_code == 401 and "revoked" in refused.json()["detail"]

        # Revoked by the CLI, another process.
        key_id, secret = keys["cli"]
        subprocess.run(
            [
                *SERVE,
                "key",
                "revoke",
                key_id,
                "--database-url",
                database_url,
                "--data-dir",
                str(tmp_path),
            ],
            check=True,
            capture_output=True,
        )
        for server in servers:
            assert _get(server, secret).status_code == 401

        # Revoked by plain SQL, behind brokerplane's back.
        key_id, secret = keys["sql"]
        engine = create_engine(database_url)
        try:
            with engine.begin() as conn:
                conn.execute(
                    text("UPDATE api_keys SET revoked_at = created_at WHERE id = :id"),
                    {"id": key_id},
                )
        finally:
            engine.dispose()
        for server in servers:
            assert _get(server, secret).status_code == 401

        # A manager disabled by the CLI: its keys stop in both.
        _, secret = keys["disabled"]
        subprocess.run(
            [
                *SERVE,
                "manager",
                "disable",
                str(OTHER),
                "--database-url",
                database_url,
                "--data-dir",
                str(tmp_path),
            ],
            check=True,
            capture_output=True,
        )
        for server in servers:
            refused = _get(server, secret)
            assert refused.status_code == 401 and "disabled" in refused.json()["detail"]

        # Rotated through the first process: the new secret works in the second at once.
        key_id, _ = keys["rotated"]
        rotated = httpx.post(f"{one.base}/v1/keys/{key_id}/rotate", headers=admin)
        assert rotated.status_code == 201, rotated.text
        assert _get(two, rotated.json()["key"]).status_code == 200

        # A cTrader manager token, checked in both, stops in both once the manager's password
        # is changed by the CLI (the token was issued under the old one).
        hashed = hashlib.md5(b"Adm1n!passw0rd").hexdigest()
        issued = httpx.post(
            f"{one.base}/v2/webserv/managers/token",
            json={"login": MANAGER, "hashedPassword": hashed},
            headers={"Accept": "application/json"},
        )
        assert issued.status_code == 200, issued.text
        token = issued.json()["webservToken"]
        for server in servers:
            for _ in range(3):
                assert _trader(server, token).status_code != 401
        subprocess.run(
            [
                *SERVE,
                "manager",
                "set-password",
                str(MANAGER),
                "--password",
                "N3w!passw0rd",
                "--database-url",
                database_url,
                "--data-dir",
                str(tmp_path),
            ],
            check=True,
            capture_output=True,
        )
        for server in servers:
            assert _trader(server, token).status_code == 401

        # The keys nobody touched go on working everywhere.
        for server in servers:
            assert _get(server, root).status_code == 200
    finally:
        for server in servers:
            server.stop()

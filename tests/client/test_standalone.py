"""The client runs where the server's dependencies are not installed: a CRM's process with
httpx and pydantic only. A child interpreter that cannot import any of the server's packages
imports the client and moves money on the live server with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.client.conftest import Live

SRC = Path(__file__).resolve().parents[2] / "src"

CHILD = textwrap.dedent(
    """
    import importlib.abc, json, sys

    SERVER_ONLY = ("sqlalchemy", "fastapi", "starlette", "alembic", "psycopg", "uvicorn",
                   "click", "rich", "cryptography", "brokerplane.api", "brokerplane.core",
                   "brokerplane.storage", "brokerplane.cli", "brokerplane.bootstrap",
                   "brokerplane.settings")

    class Absent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == m or name.startswith(m + ".") for m in SERVER_ONLY):
                raise ModuleNotFoundError(f"No module named {name!r} (not installed here)")
            return None

    sys.meta_path.insert(0, Absent())

    from brokerplane.client import Client

    base, key, group = sys.argv[1:4]
    with Client(base, key) as bp:
        account = bp.accounts.open(group=group, leverage=100, name="Standalone CRM")
        op = bp.money.deposit(account.login, "12.34", reference="standalone")
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "fastapi",
                                                                  "starlette", "uvicorn"))
    print(json.dumps({"balance": str(op.balance), "loaded": loaded}))
    """
)


def test_the_client_imports_and_works_without_the_servers_dependencies(live: Live) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, live.base, live.admin_key, live.group],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"balance": "12.34", "loaded": []}

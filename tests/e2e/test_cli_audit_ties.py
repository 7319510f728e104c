"""`ledger verify` names rows a database writer forged outside the commands: an API key minted
with a known secret, an account whose digits were changed."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import insert, update

from brokerplane.bootstrap import Runtime
from brokerplane.core.actor import Actor
from brokerplane.storage import tables as t
from tests.e2e.test_cli_audit import run
from tests.e2e.test_cli_money import open_usd_account, post


def test_ledger_verify_names_a_minted_api_key_and_changed_currency_digits(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    login = open_usd_account(runtime, admin)
    post(runtime, admin, login, "deposit", "3.00")
    assert run("ledger", "verify", "--database-url", database_url).exit_code == 0
    with runtime.storage.engine.begin() as conn:
        conn.execute(
            insert(t.managers).values(
                login=1000,
                name="",
                enabled=True,
                rights=["admin"],
                group_mask="*",
                white_labels="*",
                verifiers={},
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
        conn.execute(
            insert(t.api_keys).values(
                id="minted",
                manager_login=1000,
                prefix="mintedpfx",
                scopes=["admin"],
                secret_hash=hashlib.sha256(b"known").hexdigest(),
                name="",
                created_at=datetime.now(UTC),
            )
        )
        conn.execute(
            update(t.accounts).where(t.accounts.c.login == login).values(currency_digits=0)
        )

    result = run("ledger", "verify", "--database-url", database_url)

    assert result.exit_code == 1
    assert "audit tie mismatch: manager 1000 has no audit record" in result.stderr
    assert "audit tie mismatch: API key minted (manager 1000) has no audit record" in result.stderr
    assert (
        f"account currency mismatch: account {login} is in USD with 0 digits, its entry "
        "1 says USD with 2"
    ) in result.stderr

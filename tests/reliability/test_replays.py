"""Replays through a real server socket, on both engines: signed TraderEvolution webhooks and
refresh tokens, each sent many times at once on connections of their own (with a new
X-Request-Id on every copy), open exactly one position per webhook id and give exactly one
session per refresh token."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import func, select

from brokerplane import bootstrap
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.core.backoffice import webhooks
from brokerplane.core.backoffice.commands import NewAccount, OpenUser
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.core.symbol.commands import CreateSymbol
from brokerplane.core.trading.commands import QuoteInput
from brokerplane.settings import Settings
from brokerplane.storage import tables
from tests.dialects.traderevolution.conftest import make_catalog
from tests.e2e.test_money_server import _serving
from tests.reliability.support import engine_of, size
from tests.storage.test_money_concurrency import _in_threads

TE = "/proftrading/rest"
WEBHOOKS, COPIES = size(4, 16), size(6, 12)  # ids, and copies of each sent at once
TOKENS = size(3, 10)  # refresh tokens, each sent COPIES times at once
MANAGER, PASSWORD = 1010, "Backoffice#1010"
FX = {
    "currency_base": "EUR",
    "currency_profit": "USD",
    "currency_margin": "EUR",
    "digits": 5,
    "contract_size": "100000",
}


def label(response: httpx.Response) -> str:
    """`200`, `200 replayed`, or the status with TE's errorCode (`401 1.2.0.1`)."""
    if response.is_success:
        return "200 replayed" if response.headers.get("Idempotent-Replay") == "true" else "200"
    try:
        return f"{response.status_code} {response.json().get('errorCode')}"
    except ValueError:
        return f"{response.status_code} (not JSON)"


def test_replayed_webhooks_and_refresh_tokens_apply_once(
    database_url: str, tmp_path: Path, summary: Callable[[str], None]
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, te_rate_limit_per_second=0)
    runtime = bootstrap.build(settings)
    admin = system_actor()
    try:
        services = runtime.app
        services.create_manager(CreateManager(MANAGER, "TE", PASSWORD, frozenset(SCOPES)), admin)
        ids = make_catalog(services, admin)
        made = services.open_user_with_accounts(
            OpenUser(
                "replay",
                "Trader#2024x",
                "replay@example.com",
                ids["retail"],
                accounts=(NewAccount("main"),),
            ),
            admin,
        )
        login = made.accounts[0].login
        services.post_ledger_entry(PostLedgerEntry(login, "deposit", "100000.00"), admin)
        services.create_symbol(CreateSymbol("EURUSD", FX), admin)
        services.set_quotes([QuoteInput("EURUSD", "1.10000", "1.10020")], admin)
        key = services.create_webhook_key(webhooks.CreateWebhookKey(made.user.id), admin)

        now_ms = int(time.time() * 1000)
        bodies = [
            json.dumps(
                {
                    "symbol": "EURUSD",
                    "side": "buy",
                    "volume": 0.01,
                    "id": f"w-{n}",
                    "timestamp": now_ms,
                }
            ).encode()
            for n in range(WEBHOOKS)
        ]
        sends = [bodies[n] for n in range(WEBHOOKS) for _ in range(COPIES)]
        random.shuffle(sends)

        with _serving(runtime) as base:

            def webhook(i: int) -> httpx.Response:
                raw = sends[i]
                headers = {
                    "X-Api-Key": key.key.api_key,
                    "Content-Type": "application/json",
                    "X-Signature": webhooks.sign(key.secret, raw),
                    "X-Request-Id": f"fresh-{i}",
                }
                with httpx.Client(base_url=base, timeout=120) as http:
                    return http.post(TE + "/webhooks/orders", content=raw, headers=headers)

            hooked = _in_threads(webhook, workers=len(sends))

            refresh_tokens = []
            with httpx.Client(base_url=base, timeout=60) as http:
                for _ in range(TOKENS):
                    signed = http.post(
                        TE + "/auth/token", json={"login": MANAGER, "password": PASSWORD}
                    )
                    assert signed.status_code == 200, signed.text
                    refresh_tokens.append(signed.json()["refreshToken"])
            presented = [t for t in refresh_tokens for _ in range(COPIES)]

            def refresh(i: int) -> httpx.Response:
                with httpx.Client(base_url=base, timeout=120) as http:
                    return http.get(TE + "/auth/token/refresh", headers={"token": presented[i]})

            refreshed = _in_threads(refresh, workers=len(presented))

        hooks_seen = Counter(label(a) for a in hooked)
        refresh_seen = Counter(label(a) for a in refreshed)
        summary(
            f"replays {engine_of(database_url)}: {WEBHOOKS} signed webhooks x {COPIES} at once, "
            f"answers {dict(hooks_seen)}; {TOKENS} refresh tokens x {COPIES} at once, answers "
            f"{dict(refresh_seen)}"
        )
        assert all(a.status_code < 500 for a in hooked + refreshed)
        assert hooks_seen["200"] == WEBHOOKS  # one first answer per id; the rest replays
        for answer in hooked:
            assert answer.status_code == 200 or answer.json()["errorCode"] == "1.9.0.9", answer.text
        trades = services.list_ledger(LedgerQuery(login=login, kinds=("trade",)), admin)
        assert Counter(e.request_id for e in trades) == {f"w-{n}": 1 for n in range(WEBHOOKS)}
        assert len(services.list_positions(admin, logins=[login])) == WEBHOOKS

        assert refresh_seen == {"200": TOKENS, "401 1.2.0.1": TOKENS * (COPIES - 1)}
        with runtime.storage.engine.connect() as conn:
            b = tables.backoffice_tokens
            sessions = conn.execute(select(func.count(func.distinct(b.c.session_id)))).scalar()
        assert sessions == TOKENS
    finally:
        runtime.close()

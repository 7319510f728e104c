"""Crash: clients keep sending deposits and withdrawals, each under a request id of its own and
retried with it on any failure until acknowledged, while the server is killed with SIGKILL at
random moments and restarted. Afterwards every acknowledged operation is in the ledger exactly
once, nothing else is, the balances are the sums, and `ledger verify` and `audit verify` pass."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from tests.reliability.support import (
    KILL_PAUSE_S,
    Load,
    Served,
    check,
    engine_of,
    seed,
    server_errors,
    size,
    tally,
)

CLIENTS = size(8, 32)
KILLS = size(2, 20)
ACCOUNTS = size(4, 8)
OPENING = 500_00  # cents on each account before the load starts


def test_acknowledged_money_survives_the_server_killed_again_and_again(
    database_url: str,
    tmp_path: Path,
    serve: Callable[[str], Served],
    summary: Callable[[str], None],
) -> None:
    name = f"crash {engine_of(database_url)}"
    seeded = seed(database_url, tmp_path, ACCOUNTS, OPENING)
    served = serve(database_url)
    rng = random.Random()
    with Load(name.replace(" ", "-"), served, seeded, CLIENTS) as load:
        for _ in range(KILLS):
            # Each server answers some of the load before it dies, then dies at a random moment.
            assert load.wait_for_progress(CLIENTS), "the server made no progress"
            time.sleep(rng.uniform(*KILL_PAUSE_S))
            served.kill()
            served.start()
        assert load.wait_for_progress(CLIENTS), "the last server made no progress"
    findings = check(load, database_url, tmp_path)
    summary(findings.line(name, f"; {served.kills} kills; answers: {tally(load.answers)}"))

    assert served.kills == KILLS
    assert server_errors(load.answers) == {}
    assert findings.unsettled == []
    assert (findings.duplicates, findings.lost, findings.strays) == (0, 0, [])
    assert findings.found == findings.applied > 0
    assert findings.wrong_balances == {}
    assert findings.clean, findings.verify

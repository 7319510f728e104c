"""ReDoS: while clients keep sending deposits and withdrawals, readers send name masks built to
make a backtracking matcher run for hours (`*a*a*a...*b` against names made of `a`), and masks
past the limits, through every listing that takes one: native `group=` / `name=`, and MT5
`group=` / `mask=` / `symbol=`. `/health` keeps answering, money keeps moving, no answer is a
server error, and afterwards the ledger holds exactly what was acknowledged."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from brokerplane import bootstrap
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import system_actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.symbol.commands import CreateSymbol
from brokerplane.settings import Settings
from tests.e2e.mt5client import Mt5Client
from tests.reliability.support import (
    MANAGER,
    PASSWORD,
    Load,
    Served,
    check,
    engine_of,
    label,
    seed,
    server_errors,
    size,
    tally,
)

CLIENTS = size(4, 16)  # money
ATTACKERS = size(2, 8)  # masks, half native and half MT5
ATTACK_S = size(4.0, 60.0)
ACCOUNTS = size(4, 8)
OPENING = 500_00
GUARD_S = 10.0  # the longest any answer may take; a backtracking matcher needs hours
# Within the limits (at most 16 stars a part): valid, answered with whatever they match.
HARD = [
    "*a*a*a*a*a*a*a*a*a*a*a*a*b",
    "*a" * 16 + ",!" + "*a" * 15 + "*b",
    ("*a" * 15 + "*b,") * 8 + "!*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c",
    "demo\\*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
]
# Past the limits: refused as bad input (400 validation.mask, MT5 3).
REFUSED = ["*a" * 17 + "*b", "a*," * 200, "x" * 1025]
NATIVE = [
    ("/v1/users", "group"),
    ("/v1/reports/users", "group"),
    ("/v1/groups", "name"),
    ("/v1/symbols", "name"),
    ("/v1/positions", "group"),
]
MT5 = [
    ("user/logins", "group"),
    ("user/get_batch", "group"),
    ("position/get_batch", "group"),
    ("group/get", "mask"),
    ("symbol/get", "mask"),
    ("tick/last", "symbol"),
]


def _names_made_of_a(url: str, data_dir: Path) -> None:
    """Groups (with an account each) and a symbol whose names are long runs of `a`."""
    admin = system_actor()
    runtime = bootstrap.build(Settings(database_url=url, data_dir=data_dir))
    try:
        services = runtime.app
        for name in ("a" * 63, "demo\\" + "a" * 58):
            services.create_group(CreateGroup(name, "USD"), admin)
            services.open_account(OpenAccount(group=name, name="Mask Target"), admin)
        services.create_symbol(CreateSymbol("a" * 31, {"path": "a" * 63}), admin)
    finally:
        runtime.close()


class Attack:
    """Threads sending masks until stopped; every answer is tallied by what it was."""

    def __init__(self, served: Served, key: str) -> None:
        self.served = served
        self.key = key
        self.answers: Counter[str] = Counter()
        self.wrong: list[str] = []  # answers other than the expected kind, with the request
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._native if n % 2 == 0 else self._mt5, args=(n,), daemon=True
            )
            for n in range(ATTACKERS)
        ]

    def __enter__(self) -> Attack:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=GUARD_S * 6)

    def _note(self, what: str, wrong: str | None) -> None:
        with self._lock:
            self.answers[what] += 1
            if wrong:
                self.wrong.append(wrong)

    def _native(self, n: int) -> None:
        rng = random.Random(f"redos-native-{n}")
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.served.base, headers=headers, timeout=GUARD_S) as http:
            while not self._stop.is_set():
                (path, param), mask = rng.choice(NATIVE), rng.choice(HARD + REFUSED)
                params = {param: mask}
                if path == "/v1/reports/users" and rng.random() < 0.5:
                    params["format"] = "csv"
                try:
                    what = label(http.get(path, params=params))
                except httpx.TransportError as err:
                    self._note(f"native transport {type(err).__name__}", f"{path} {mask!r}")
                    continue
                expected = "200" if mask in HARD else "400 ValidationError validation.mask"
                self._note(f"native {what}", None if what == expected else f"{path} {what}")

    def _mt5(self, n: int) -> None:
        rng = random.Random(f"redos-mt5-{n}")
        with Mt5Client(self.served.base, timeout=GUARD_S) as mt5:
            mt5.auth(MANAGER, PASSWORD)
            while not self._stop.is_set():
                (command, param), mask = rng.choice(MT5), rng.choice(HARD + REFUSED)
                try:
                    code = mt5.send(command, {param: mask})["retcode"].split(" ", 1)[0]
                except httpx.TransportError as err:
                    self._note(f"mt5 transport {type(err).__name__}", f"{command} {mask!r}")
                    continue
                # valid masks: 0 Done, or 13 Not found for a config mask matching nothing
                good = code in ("0", "13") if mask in HARD else code == "3"
                self._note(f"mt5 {code}", None if good else f"{command} {code}")


def test_masks_built_to_backtrack_freeze_nothing_while_money_moves(
    database_url: str,
    tmp_path: Path,
    serve: Callable[[str], Served],
    summary: Callable[[str], None],
) -> None:
    name = f"redos {engine_of(database_url)}"
    seeded = seed(database_url, tmp_path, ACCOUNTS, OPENING)
    _names_made_of_a(database_url, tmp_path)
    served = serve(database_url)
    health: list[float] = []
    with Load(name.replace(" ", "-"), served, seeded, CLIENTS) as load:
        assert load.wait_for_progress(CLIENTS), "no money moved before the attack"
        with Attack(served, seeded.key) as attack, httpx.Client(timeout=GUARD_S) as probe:
            before = load.acknowledged()
            deadline = time.monotonic() + ATTACK_S
            while time.monotonic() < deadline:
                started = time.monotonic()
                assert probe.get(served.base + "/health").status_code == 200
                health.append(time.monotonic() - started)
                time.sleep(0.1)
            during = load.acknowledged() - before
    findings = check(load, database_url, tmp_path)
    masks_sent = sum(attack.answers.values())
    summary(
        findings.line(
            name,
            f"; {masks_sent} masks sent ({tally(attack.answers)}), "
            f"{during} money answers during the attack, /health slowest "
            f"{max(health) * 1000:.0f} ms of {len(health)}",
        )
    )

    assert attack.wrong == []
    assert masks_sent >= ATTACKERS
    assert server_errors(load.answers) == {}
    assert during > 0, "money stopped while masks were matched"
    assert findings.unsettled == []
    assert (findings.duplicates, findings.lost, findings.strays) == (0, 0, [])
    assert findings.wrong_balances == {}
    assert findings.clean, findings.verify

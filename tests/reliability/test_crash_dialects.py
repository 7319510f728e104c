"""Crash, through the dialects a CRM speaks: TraderEvolution and MT5 clients keep sending
deposits and withdrawals (POST /accountOperations, trade/balance), each under an idempotency
key of its own and retried with it on any failure until answered, while the server is killed
with SIGKILL at random moments and restarted. Afterwards every acknowledged operation is in the
ledger exactly once under its key, nothing else is, the balances are the sums, and `ledger
verify` and `audit verify` pass."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from brokerplane.api.mt5.auth import password_hash, rand_answer
from tests.reliability.support import (
    KILL_PAUSE_S,
    MANAGER,
    PASSWORD,
    SETTLE_S,
    Load,
    Operation,
    Served,
    check,
    engine_of,
    money,
    seed,
    size,
    tally,
)

CLIENTS = size(6, 24)  # half TraderEvolution, half MT5
KILLS = size(2, 12)
ACCOUNTS = size(4, 8)
OPENING = 500_00  # cents on each account before the load starts
TE = "/proftrading/rest"


class DialectLoad(Load):
    """Load whose even clients speak TraderEvolution and odd ones MT5, each operation under an
    Idempotency-Key (TE) or x-request-id (MT5) of its own."""

    def _client(self, n: int) -> None:
        rng = random.Random(f"{self.name}-{n}")
        logins = list(self.seeded.funded)
        settle = self._settle_te if n % 2 == 0 else self._settle_mt5
        timeout = httpx.Timeout(60, connect=5)
        with httpx.Client(base_url=self.served.base, timeout=timeout) as http:
            session: dict[str, str] = {}
            count = 0
            while not self._stop.is_set():
                kind = rng.choice(("deposit", "withdrawal"))
                op = Operation(
                    f"{self.name}-{n}-{count}", rng.choice(logins), kind, rng.randint(1_00, 100_00)
                )
                count += 1
                with self._lock:
                    self.operations.append(op)
                settle(http, op, session)

    # TraderEvolution: a bearer token from /auth/token, kept across restarts (it is stored)

    def _te_token(self, http: httpx.Client, session: dict[str, str]) -> str:
        if "te" not in session:
            signed = http.post(TE + "/auth/token", json={"login": MANAGER, "password": PASSWORD})
            signed.raise_for_status()
            session["te"] = signed.json()["accessToken"]
        return session["te"]

    def _settle_te(self, http: httpx.Client, op: Operation, session: dict[str, str]) -> None:
        type_id = 2 if op.kind == "deposit" else 3  # a positive withdrawal: the sum to take
        body = {"accountId": op.login, "amount": money(op.cents), "operationTypeId": type_id}
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            try:
                token = self._te_token(http, session)
                headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": op.request_id}
                response = http.post(TE + "/accountOperations", json=body, headers=headers)
            except (httpx.TransportError, httpx.HTTPStatusError) as err:
                self._note(f"te transport {type(err).__name__}")
                time.sleep(0.25)
                continue
            replayed = " replayed" if response.headers.get("Idempotent-Replay") else ""
            code = "" if response.is_success else _te_code(response)
            self._note(f"te {response.status_code}{replayed} {code}".strip())
            if response.status_code == 200:
                op.operation_id = int(response.json()["id"])
                op.outcome = "applied"
                return
            if code == "2.3.0.1":  # insufficient funds
                op.outcome = "refused"
                return
            if response.status_code == 401:
                session.pop("te", None)
                continue
            if response.status_code == 503 or code in ("1.9.0.9",):
                time.sleep(0.2)
                continue
            op.outcome = f"unexpected te {response.status_code} {code}"
            return
        op.outcome = "gave up"

    # MT5: a handshake per connection; a lost connection (a kill) or a 403 means another

    def _settle_mt5(self, http: httpx.Client, op: Operation, session: dict[str, str]) -> None:
        amount = money(op.cents) if op.kind == "deposit" else "-" + money(op.cents)
        params: dict[str, str | int] = {"login": op.login, "type": 2, "balance": amount}
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            try:
                if "mt5" not in session:
                    refused = _mt5_sign_in(http)
                    if refused:  # a server coming back may answer 11 (offline): try again
                        self._note(f"mt5 handshake {refused}")
                        time.sleep(0.25)
                        continue
                    session["mt5"] = "1"
                response = http.get(
                    "/api/trade/balance", params=params, headers={"x-request-id": op.request_id}
                )
            except httpx.TransportError as err:
                session.pop("mt5", None)
                self._note(f"mt5 transport {type(err).__name__}")
                time.sleep(0.25)
                continue
            if response.status_code == 403:
                session.pop("mt5", None)
                self._note("mt5 403 session")
                continue
            retcode = str(response.json().get("retcode", "")) if response.content else ""
            replayed = " replayed" if response.headers.get("Idempotent-Replay") else ""
            self._note(f"mt5 {response.status_code}{replayed} {retcode}")
            if retcode == "0 Done":
                op.operation_id = int(response.json()["answer"]["Ticket"])
                op.outcome = "applied"
                return
            if retcode.startswith("10019 "):
                op.outcome = "refused"
                return
            if retcode.startswith(("11 ", "12 ")):  # offline, or in flight: the same key again
                time.sleep(0.2)
                continue
            op.outcome = f"unexpected mt5 {response.status_code} {retcode}"
            return
        op.outcome = "gave up"


def _mt5_sign_in(http: httpx.Client) -> str:
    """The MT5 handshake on the client's connection: "" when signed in, else what the server
    answered instead (a status and retcode, or a refusal)."""
    hello = {"version": "3470", "agent": "soak", "login": str(MANAGER), "type": "manager"}
    start = http.get("/api/auth/start", params=hello)
    if start.status_code != 200 or "srv_rand" not in start.json():
        return f"start {start.status_code} {start.json().get('retcode', '')}".strip()
    b2, cli_rand = password_hash(PASSWORD), random.randbytes(16)
    params = {
        "srv_rand_answer": rand_answer(b2, bytes.fromhex(start.json()["srv_rand"])),
        "cli_rand": cli_rand.hex(),
    }
    answer = http.get("/api/auth/answer", params=params)
    body = answer.json() if answer.content else {}
    if answer.status_code != 200 or "cli_rand_answer" not in body:
        return f"answer {answer.status_code} {body.get('retcode', '')}".strip()
    assert body["cli_rand_answer"] == rand_answer(b2, cli_rand), "the server's proof is wrong"
    return ""


def _te_code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("errorCode"))
    except ValueError:
        return "(not JSON)"


def _server_errors(answers: dict[str, int]) -> dict[str, int]:
    """Answers no client should get: TE 5xx other than 503, MT5 non-200 or 2 Common error."""
    return {
        what: n
        for what, n in answers.items()
        if (what.startswith("te 5") and not what.startswith("te 503"))
        or (
            what.startswith("mt5 ") and not what.startswith(("mt5 200", "mt5 403", "mt5 transport"))
        )
        or what.endswith(" 2 Common error")
    }


def test_keyed_money_from_te_and_mt5_survives_the_server_killed_again_and_again(
    database_url: str,
    tmp_path: Path,
    serve: Callable[[str], Served],
    summary: Callable[[str], None],
) -> None:
    name = f"crash dialects {engine_of(database_url)}"
    seeded = seed(database_url, tmp_path, ACCOUNTS, OPENING)
    served = serve(database_url)
    rng = random.Random()
    with DialectLoad(name.replace(" ", "-"), served, seeded, CLIENTS) as load:
        for _ in range(KILLS):
            assert load.wait_for_progress(CLIENTS), "the server made no progress"
            time.sleep(rng.uniform(*KILL_PAUSE_S))
            served.kill()
            served.start()
        assert load.wait_for_progress(CLIENTS), "the last server made no progress"
    findings = check(load, database_url, tmp_path)
    summary(findings.line(name, f"; {served.kills} kills; answers: {tally(load.answers)}"))

    assert served.kills == KILLS
    assert _server_errors(load.answers) == {}
    assert findings.unsettled == []
    assert (findings.duplicates, findings.lost, findings.strays) == (0, 0, [])
    assert findings.found == findings.applied > 0
    assert findings.wrong_balances == {}
    assert findings.clean, findings.verify

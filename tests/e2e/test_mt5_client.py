"""A CRM written for MetaTrader 5 (tests/e2e/mt5client.py, from the spec alone) against a real
uvicorn socket: seed 002's user/add, money, passwords, deletion, the same account through the
native API, and the session rules (one per connection, 403s, re-auth, the 10 s and 180 s
windows on an injected clock)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from brokerplane import bootstrap
from brokerplane.api.app import create_app
from brokerplane.api.mt5.auth import Sessions
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.server.listeners import uvicorn_config
from brokerplane.settings import Settings
from tests.e2e.mt5client import DONE, Mt5Client, Mt5HttpError, Mt5ProtocolError, rand_answer
from tests.e2e.transport_support import free_port, in_thread

# What the command line or the wire answers: SQLite only (tests/storage runs the SQL on both).
pytestmark = pytest.mark.engines("sqlite")

MANAGER = 1005
PASSWORD = "Manag3r!pw"
RANGE = (954400, 954499)

# Seed 002's example: POST /api/user/add?group=demoforex&name=JohnSmith&leverage=100
SEED_002_QUERY = {"group": "demoforex", "name": "JohnSmith", "leverage": "100"}
SEED_002_BODY = {
    "PassMain": "1Ar#pqkj",
    "PassInvestor": "2Ar#pqkj",
    "MQID": "5CD369A9",
    "Company": "Individual",
    "Country": "United States",
    "City": "New York",
}


class Clock:
    """The sessions' clock, moved by hand: no test sleeps through 10 or 180 seconds."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Served:
    base: str
    key: str  # a native API key of the same manager
    clock: Clock
    runtime: Runtime
    sessions: Sessions

    def client(self, legacy: bool = False) -> Mt5Client:
        return Mt5Client(self.base, legacy=legacy)

    def session(self, legacy: bool = False) -> Mt5Client:
        mt5 = self.client(legacy)
        mt5.auth(MANAGER, PASSWORD)
        return mt5


@contextmanager
def _serving(database_url: str, data_dir: Path) -> Iterator[Served]:
    """The CRM's manager, key and group on a fresh runtime, served by uvicorn in a thread."""
    admin = system_actor()
    runtime = bootstrap.build(Settings(database_url=database_url, data_dir=data_dir))
    try:
        services = runtime.app
        services.create_manager(CreateManager(MANAGER, "CRM", PASSWORD), admin)
        key = services.create_api_key(CreateApiKey(MANAGER, frozenset(SCOPES)), admin).secret
        services.create_group(
            CreateGroup(
                "demoforex", "USD", {"login_range_from": RANGE[0], "login_range_to": RANGE[1]}
            ),
            admin,
        )
        clock = Clock()
        app = create_app(runtime)
        sessions = app.state.mt5_sessions = Sessions(clock=clock)
        settings = runtime.settings.model_copy(update={"port": free_port(), "log_level": "warning"})
        with in_thread(uvicorn_config(app, settings)) as base:  # as `brokerplane serve` does
            yield Served(base, key, clock, runtime, sessions)
    finally:
        runtime.close()


@pytest.fixture(scope="module", params=["sqlite"])
def shared_url(
    request: pytest.FixtureRequest,
    _sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, Path]:
    """A migrated SQLite database for the module's shared server (named like the engine
    parameter, so the tests keep their ids)."""
    data_dir = tmp_path_factory.mktemp("mt5-client")
    shutil.copyfile(_sqlite_template, data_dir / "mt5.db")
    return f"sqlite:///{(data_dir / 'mt5.db').as_posix()}", data_dir


@pytest.fixture(scope="module")
def served(shared_url: tuple[str, Path]) -> Iterator[Served]:
    """One server for the module: each test opens its own connections and sessions (closed by
    its `with`), adds its own accounts, and moves the clock only for sessions of its own."""
    with _serving(*shared_url) as running:
        yield running


@pytest.fixture
def fresh(database_url: str, tmp_path: Path) -> Iterator[Served]:
    """A server of the test's own, for counting every session it holds."""
    with _serving(database_url, tmp_path) as running:
        yield running


def _forbidden(mt5: Mt5Client, command: str = "test/access") -> int:
    with pytest.raises(Mt5HttpError) as refused:
        mt5.send(command)
    return refused.value.status


def test_a_session_ends_when_its_connection_closes(fresh: Served) -> None:
    served = fresh
    first, second = served.session(), served.session()
    assert served.sessions.count() == 2
    first.close()
    deadline = time.monotonic() + 20
    while served.sessions.count() != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert served.sessions.count() == 1
    second.ping()  # the other connection's session lives on
    second.close()
    while served.sessions.count() != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert served.sessions.count() == 0


# ---- the CRM flow ---------------------------------------------------------------------------


def test_a_crm_adds_seed_002s_user_deposits_reads_updates_checks_withdraws_and_deletes(
    served: Served,
) -> None:
    with served.session() as mt5:
        added = mt5.user_add(SEED_002_QUERY, SEED_002_BODY)
        login = int(added["Login"])
        assert RANGE[0] <= login <= RANGE[1]
        assert (added["Group"], added["Name"], added["Leverage"]) == (
            "demoforex",
            "JohnSmith",
            "100",
        )
        assert (added["Company"], added["Country"], added["City"]) == (
            "Individual",
            "United States",
            "New York",
        )
        assert added["MQID"] == "5CD369A9"
        assert Decimal(added["Balance"]) == 0

        deposit = mt5.balance(login, "1000", comment="online deposit")
        assert deposit["retcode"] == DONE
        ticket = deposit["answer"]["Ticket"]
        deal = mt5.call("deal/get", {"ticket": ticket})  # balance operations are deals (§4.3)
        assert (deal["Deal"], deal["Login"], deal["Action"]) == (ticket, str(login), "2")
        got = mt5.user_get(login)
        assert got["Login"] == str(login)
        assert Decimal(got["Balance"]) == Decimal("1000")

        updated = mt5.user_update(login, {"name": "John Smith"}, {"City": "Boston"})
        assert (updated["Name"], updated["City"], updated["Company"]) == (
            "John Smith",
            "Boston",
            "Individual",
        )
        assert Decimal(updated["Balance"]) == Decimal("1000")
        assert mt5.user_get(login)["City"] == "Boston"

        assert mt5.check_password(login, "1Ar#pqkj") == DONE
        assert mt5.check_password(login, "2Ar#pqkj", "investor") == DONE
        assert mt5.check_password(login, "1Ar#pqkX") == "3006 Invalid account password"

        short = mt5.balance(login, "-1000.01", comment="withdrawal")
        assert short["retcode"].split(" ", 1)[0] == "10019"
        assert Decimal(mt5.user_get(login)["Balance"]) == Decimal("1000")
        assert mt5.balance(login, "-250.50", comment="withdrawal")["retcode"] == DONE
        assert Decimal(mt5.user_get(login)["Balance"]) == Decimal("749.50")

        mt5.user_delete(login)
        assert mt5.retcode("user/get", {"login": login}) == "13 Not found"
        assert mt5.retcode("user/delete", {"login": login}) == "13 Not found"


def test_an_account_opened_over_mt5_reads_the_same_through_the_native_api(
    served: Served,
) -> None:
    body = {
        **SEED_002_BODY,
        "Email": "john@example.com",
        "Phone": "+1 212 555 0100",
        "Comment": "from the CRM",
    }
    with served.session() as mt5:
        login = int(mt5.user_add(SEED_002_QUERY, body)["Login"])
        deposit = mt5.balance(login, "1234.56", comment="wire in")
        credit = mt5.balance(login, "100", kind=3, comment="credit line")
        assert (deposit["retcode"], credit["retcode"]) == (DONE, DONE)
        seen = mt5.user_get(login)
    headers = {"Authorization": f"Bearer {served.key}"}
    with httpx.Client(base_url=served.base, headers=headers, timeout=15) as native:
        account = native.get(f"/v1/users/{login}").json()
        history = native.get("/v1/balances/history", params={"login": login}).json()["items"]
    assert account["login"] == login
    assert (account["group"], account["name"], account["leverage"]) == (
        "demoforex",
        "JohnSmith",
        100,
    )
    assert (account["balance"], account["credit"], account["currency"]) == (
        "1234.56",
        "100.00",
        "USD",
    )
    assert Decimal(seen["Balance"]) == Decimal(account["balance"])
    assert Decimal(seen["Credit"]) == Decimal(account["credit"])
    assert (account["email"], account["phone"], account["comment"]) == (
        "john@example.com",
        "+1 212 555 0100",
        "from the CRM",
    )
    assert (account["company"], account["country"], account["city"], account["mqid"]) == (
        "Individual",
        "United States",
        "New York",
        "5CD369A9",
    )
    operations = {
        (h["operation_id"], h["amount"], h["dialect"], h["manager_login"]) for h in history
    }
    assert operations == {
        (int(deposit["answer"]["Ticket"]), "1234.56", "mt5", MANAGER),
        (int(credit["answer"]["Ticket"]), "100.00", "mt5", MANAGER),
    }


# ---- sessions -------------------------------------------------------------------------------


def test_the_handshake_proves_the_server_and_every_answer_is_strings(served: Served) -> None:
    with served.session() as mt5:  # auth() checks cli_rand_answer and only_strings() every answer
        assert mt5.version_access is not None and mt5.version_access.isdigit()
        mt5.ping()
        assert mt5.call("time/server")["Time"].split(" ", 1)[0].isdigit()
        assert isinstance(mt5.call("common/get"), dict)


def test_the_legacy_root_paths_work_and_share_the_session_with_api_paths(served: Served) -> None:
    with served.session(legacy=True) as mt5:  # /auth_start, /auth_answer
        mt5.ping()  # /test_access
        assert mt5.call("time/server")["Time"]  # /time_server
        mt5.legacy = False
        mt5.ping()  # /api/test/access on the same connection
        mt5.legacy = True
        mt5.quit()  # /quit
        assert _forbidden(mt5) == 403


def test_a_wrong_api_password_is_refused_with_403_at_auth_answer(served: Served) -> None:
    with served.client() as mt5:
        with pytest.raises(Mt5HttpError) as refused:
            mt5.auth(MANAGER, "not-the-password")
        assert refused.value.status == 403
        assert _forbidden(mt5) == 403


def test_a_connection_that_did_not_authenticate_gets_403(served: Served) -> None:
    with served.session() as first, served.client() as second:
        first.ping()
        assert _forbidden(second) == 403
        assert _forbidden(second, "user/get") == 403
        first.ping()  # the other connection's session is untouched


def test_two_sessions_of_one_manager_work_at_the_same_time(served: Served) -> None:
    with served.session() as one, served.session() as two:
        one.ping()
        two.ping()
        one.call("time/server")
        two.call("time/server")

        def work(mt5: Mt5Client) -> int:
            for _ in range(15):
                mt5.ping()
                mt5.call("time/server")
            return 30

        with ThreadPoolExecutor(max_workers=2) as pool:
            assert list(pool.map(work, [one, two])) == [30, 30]


def test_quit_ends_the_session_and_the_next_command_gets_403(served: Served) -> None:
    with served.session() as mt5, served.session() as other:
        mt5.quit()
        assert _forbidden(mt5) == 403
        other.ping()  # quitting ends this connection's session only
        mt5.auth(MANAGER, PASSWORD)
        mt5.ping()


def test_authenticating_again_on_a_live_connection_works(served: Served) -> None:
    with served.session() as mt5:
        mt5.ping()
        for _ in range(3):
            mt5.auth(MANAGER, PASSWORD)
            mt5.ping()


def test_auth_answer_is_accepted_within_10_seconds_of_auth_start_and_refused_after(
    served: Served,
) -> None:
    start = {"version": "484", "agent": "WebManager", "login": MANAGER, "type": "manager"}
    with served.client() as mt5:
        for waited, accepted in ((9.5, True), (10.5, False)):
            srv_rand = mt5.send("auth/start", start)["srv_rand"]
            served.clock.advance(waited)
            answer = {"srv_rand_answer": rand_answer(PASSWORD, srv_rand), "cli_rand": "ab" * 16}
            if accepted:
                assert mt5.send("auth/answer", answer)["cli_rand_answer"] == rand_answer(
                    PASSWORD, "ab" * 16
                )
                mt5.ping()
            else:
                with pytest.raises(Mt5HttpError) as late:
                    mt5.send("auth/answer", answer)
                assert late.value.status == 403
                assert _forbidden(mt5) == 403


def test_a_session_expires_after_180_idle_seconds_and_pings_keep_it_alive(served: Served) -> None:
    with served.session() as mt5:
        for _ in range(3):  # a ping every 170 s keeps the session for 510 s and more
            served.clock.advance(170)
            mt5.ping()
        served.clock.advance(181)
        assert _forbidden(mt5) == 403
        mt5.auth(MANAGER, PASSWORD)
        mt5.ping()


def test_the_client_refuses_a_number_where_the_protocol_wants_a_string() -> None:
    from tests.e2e.mt5client import only_strings

    only_strings({"retcode": "0 Done", "answer": [{"Login": "1", "ApiData": [{"AppID": "0"}]}]})
    with pytest.raises(Mt5ProtocolError):
        only_strings({"retcode": "0 Done", "answer": {"Total": 3}})

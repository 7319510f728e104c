"""Every command the MT5 dialect serves answers the same over HTTP (`/api/<command>`) and over the
native TCP protocol (`<COMMAND>` packets on the AES channel), against one real `brokerplane
serve` process: the same retcode (the one each case expects, so a case cannot pass by failing
the same way twice) and the same answer.

The list of commands is the dialect's own route table (`COMMANDS`, what `/api/...` and the TCP
raw names dispatch to): a command served without a case here fails
`test_every_served_command_has_a_parity_case`, so a new command cannot be forgotten.

What legitimately differs between the two runs of a case, and how the comparison treats it:
- A command that changes something runs each time on objects of its own (an account, a client
  record, a group or symbol name made for that transport by `fresh`), so both runs do the same
  change. Those objects' identifiers (a login, a client id, a name) are written back as their
  placeholder (`{fresh}`) before the answers are compared.
- Values the server allocates or stamps per change are replaced by `<varies>` under the keys a
  case lists in `varies` (a new ticket, login, record id; a registration or server time). Every
  other field must be equal.
- The TCP answer line carries `Total`/`Ticket`/`Time` and the top-level extras that HTTP puts
  in its JSON envelope; the test client's `envelope()` writes a TCP answer the way HTTP does.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import APIRouter

from brokerplane.api.mt5 import mount
from brokerplane.api.mt5.mount import legacy_paths
from brokerplane.api.mt5.tcpwire import raw_names
from brokerplane.api.mt5.wire import COMMANDS
from tests.e2e.mt5_tcp_support import GROUP, MANAGER, Server, _serve
from tests.e2e.mt5client import Mt5Client

DONE = "0 Done"
NOT_FOUND = "13 Not found"
NOT_SUPPORTED = "12002 Command doesn't supported"
CERTIFICATE_NONE = NOT_FOUND
FAR = "2000000000"  # a `to` past every test's records
PASSWORD = "Abc123!xyz"
INVESTOR = "Abc123!uvw"
_serial = itertools.count(1)

Ctx = dict[str, str]


@functools.cache
def _served() -> frozenset[str]:
    """The dialect's route table: `mount()` on a bare app registers every command module the
    app serves under `/api/...` (and as a legacy root route, `/user_get`)."""
    mount.mount(APIRouter())
    assert set(legacy_paths().values()) >= set(COMMANDS)
    return frozenset(COMMANDS)


# ---- what the cases run on --------------------------------------------------------------------


def _account(http: Mt5Client, funded: str = "") -> str:
    answer = http.user_add(
        {"group": GROUP, "name": "Parity Example", "leverage": 100},
        {"PassMain": PASSWORD, "PassInvestor": INVESTOR, "City": "Riga", "ZipCode": "LV-1050"},
    )
    login = str(answer["Login"])
    if funded:
        assert http.balance(login, funded)["retcode"] == DONE
    return login


def _client(http: Mt5Client, tag: str) -> str:
    email = f"parity-{tag}-{next(_serial)}@example.com"
    [created] = http.call("client/add", body=[{"ContactEmail": email, "PersonName": "Pat"}])
    assert created["retcode"] == DONE
    return str(created["id"])


def fresh_account(http: Mt5Client, tag: str) -> Ctx:
    return {"fresh": _account(http)}


def fresh_funded(http: Mt5Client, tag: str) -> Ctx:
    return {"fresh": _account(http, funded="5000")}


def fresh_archived(http: Mt5Client, tag: str) -> Ctx:
    login = _account(http)
    http.call("user/archive/add", {"login": login})
    return {"fresh": login}


def fresh_email(http: Mt5Client, tag: str) -> Ctx:
    return {"email": f"parity-{tag}-{next(_serial)}@example.com"}


def fresh_client(http: Mt5Client, tag: str) -> Ctx:
    return {"fclient": _client(http, tag)}


def fresh_client_and_account(http: Mt5Client, tag: str) -> Ctx:
    return {"fclient": _client(http, tag), "fresh": _account(http)}


def fresh_linked(http: Mt5Client, tag: str) -> Ctx:
    ctx = fresh_client_and_account(http, tag)
    http.call("client/user/add", {"id": ctx["fclient"], "login": ctx["fresh"]})
    return ctx


def fresh_group_name(http: Mt5Client, tag: str) -> Ctx:
    return {"gname": f"parity\\{tag}{next(_serial)}"}


def fresh_group(http: Mt5Client, tag: str) -> Ctx:
    ctx = fresh_group_name(http, tag)
    http.call("group/add", body={"Group": ctx["gname"], "Currency": "USD"})
    return ctx


def fresh_symbol_name(http: Mt5Client, tag: str) -> Ctx:
    return {"sname": f"PAR{tag.upper()}{next(_serial)}"}


def fresh_symbol(http: Mt5Client, tag: str) -> Ctx:
    ctx = fresh_symbol_name(http, tag)
    http.call("symbol/add", body={"Symbol": ctx["sname"], **SYMBOL})
    return ctx


SYMBOL = {"CurrencyBase": "EUR", "CurrencyProfit": "USD", "CurrencyMargin": "EUR"}


@dataclass(frozen=True)
class Case:
    params: dict[str, str]
    expect: str = DONE
    body: Any = None
    fresh: Callable[[Mt5Client, str], Ctx] | None = None
    varies: frozenset[str] = field(default_factory=frozenset)


def case(
    params: dict[str, str] | None = None,
    expect: str = DONE,
    body: Any = None,
    fresh: Callable[[Mt5Client, str], Ctx] | None = None,
    varies: str = "",
) -> Case:
    return Case(params or {}, expect, body, fresh, frozenset(varies.split()))


LOGIN = {"login": "{login}"}
PERIOD = {"from": "0", "to": FAR}
NEW_ACCOUNT = "Login login Registration LastAccess LastPassChange"
TRADE_IDS = "ID id DealID OrderID Deal Order Position PositionID Ticket"

CASES: dict[str, list[Case]] = {
    # service
    "test/access": [case()],
    "time/server": [case(varies="Time")],
    "common/get": [case()],
    # users
    "user/add": [
        case(
            {"group": GROUP, "name": "Parity New", "leverage": "100"},
            body={"PassMain": PASSWORD, "PassInvestor": INVESTOR, "City": "Oslo"},
            varies=NEW_ACCOUNT,
        ),
        case(
            {"group": "no-such-group", "name": "X", "leverage": "100"},
            "8 Not enough permissions",
            body={"PassMain": PASSWORD, "PassInvestor": INVESTOR},
        ),
    ],
    "user/update": [
        case(
            {"login": "{fresh}", "name": "Parity Renamed"},
            fresh=fresh_account,
            varies="Registration LastAccess LastPassChange",
        )
    ],
    "user/delete": [
        case({"login": "{fresh}"}, fresh=fresh_account),
        case({"login": "1"}, NOT_FOUND),
        case({"login": str(MANAGER)}, "3005 Attempt of self-deletion"),
    ],
    "user/get": [
        case(LOGIN),
        case({"login": str(MANAGER)}),  # in MT5 a manager is also an account
        case({"login": "1"}, NOT_FOUND),
        case({}, "3 Invalid parameters"),
    ],
    "user/get_batch": [case({"login": "{login},{other}"}), case({"group": GROUP})],
    "user/logins": [case({"group": GROUP})],
    "user/total": [case({"group": GROUP})],
    "user/group": [case(LOGIN)],
    "user/account/get": [case(LOGIN)],
    "user/account/get_batch": [case({"login": "{login},{other}"})],
    "user/check_password": [
        case({"login": "{login}", "type": "main", "password": PASSWORD}),
        case(
            {"login": "{login}", "type": "main", "password": "Wrong#1x"},
            "3006 Invalid account password",
        ),
    ],
    "user/pass_check": [case({"login": "{login}", "type": "investor", "password": INVESTOR})],
    "user/change_password": [
        case({"login": "{fresh}", "type": "main", "password": "New#Pass123"}, fresh=fresh_account)
    ],
    "user/pass_change": [
        case(
            {"login": "{fresh}", "type": "investor", "password": "New#Inv123"}, fresh=fresh_account
        )
    ],
    "user/check_balance": [case({"login": "{login}", "fixflag": "0"})],
    "user/archive/add": [case({"login": "{fresh}"}, fresh=fresh_account)],
    "user/archive/get": [case({"login": "{archived}"}), case(LOGIN, NOT_FOUND)],
    "user/archive/get_batch": [case({"login": "{archived},{login}"})],
    "user/restore": [case({"login": "{fresh}"}, fresh=fresh_archived), case(LOGIN, NOT_FOUND)],
    "user/otp_secret/get": [case(LOGIN)],
    "user/certificate/get": [case(LOGIN, CERTIFICATE_NONE)],
    # money and trading
    "trade/balance": [
        case(
            {"login": "{fresh}", "type": "2", "balance": "25.50", "comment": "parity"},
            fresh=fresh_account,
            varies="Ticket",
        ),
        case({"login": "{login}", "type": "9", "balance": "1"}, "3 Invalid parameters"),
        case(
            {"login": "{fresh}", "type": "2", "balance": "-5"},
            "10019 Not enough money",
            fresh=fresh_account,
        ),
    ],
    "trade/check_margin": [
        case({"login": "{login}", "symbol": "EURUSD", "type": "0", "volume": "10000"})
    ],
    "trade/calc_profit": [
        case(
            {
                "group": GROUP,
                "symbol": "EURUSD",
                "type": "0",
                "volume": "10000",
                "price_open": "1.08000",
                "price_close": "1.09000",
            }
        )
    ],
    "dealer/send_request": [
        case(
            body={
                "Action": "200",
                "Login": "{fresh}",
                "Symbol": "EURUSD",
                "Volume": "100",
                "Type": "0",
                "TypeFill": "0",
                "Digits": "5",
            },
            fresh=fresh_funded,
            varies=TRADE_IDS,
        ),
    ],
    "dealer/get_request_result": [case({"id": "{request}"})],
    "deal/get": [case({"ticket": "{deal}"}), case({"ticket": "999999999"}, NOT_FOUND)],
    "deal/get_batch": [case({"login": "{login}", **PERIOD}), case({"group": GROUP, **PERIOD})],
    "deal/get_page": [case({"login": "{login}", **PERIOD, "offset": "0", "total": "10"})],
    "deal/get_total": [case({"login": "{login}", **PERIOD})],
    "deal/update": [case({"ticket": "{deal}"}, NOT_SUPPORTED, body={"Deal": "{deal}"})],
    "deal/delete": [case({"ticket": "{deal}"}, NOT_SUPPORTED)],
    "position/get": [case({"login": "{login}", "symbol": "EURUSD"})],
    "position/get_batch": [case(LOGIN), case({"group": GROUP})],
    "position/get_page": [case({"login": "{login}", "offset": "0", "total": "10"})],
    "position/get_total": [case(LOGIN)],
    "position/update": [
        case({"ticket": "{position}"}, NOT_SUPPORTED, body={"Position": "{position}"})
    ],
    "position/delete": [case({"ticket": "{position}"}, NOT_SUPPORTED)],
    "order/get": [case({"ticket": "{position}"}, NOT_FOUND)],
    "order/get_batch": [case(LOGIN)],
    "order/get_page": [case({"login": "{login}", "offset": "0", "total": "10"})],
    "order/get_total": [case(LOGIN)],
    # market orders fill at once: there is never an open order to change
    "order/update": [case({"ticket": "{trade}"}, NOT_FOUND, body={"Order": "{trade}"})],
    "order/delete": [case({"ticket": "{trade}"}, NOT_FOUND)],
    "history/get": [case({"ticket": "{trade}"})],
    "history/get_batch": [case({"login": "{login}", **PERIOD})],
    "history/get_page": [case({"login": "{login}", **PERIOD, "offset": "0", "total": "10"})],
    "history/get_total": [case({"login": "{login}", **PERIOD})],
    # configuration
    "group/get": [case({"group": GROUP}), case({"group": "nothing-here"}, NOT_FOUND)],
    "group/next": [case({"index": "0"})],
    "group/total": [case()],
    "group/add": [case(body={"Group": "{gname}", "Currency": "USD"}, fresh=fresh_group_name)],
    "group/delete": [case({"group": "{gname}"}, fresh=fresh_group)],
    "symbol/get": [case({"symbol": "EURUSD"})],
    "symbol/get_group": [case({"symbol": "EURUSD", "group": GROUP})],
    "symbol/list": [case()],
    "symbol/next": [case({"index": "0"})],
    "symbol/total": [case()],
    "symbol/add": [
        case(
            body={"Symbol": "{sname}", "Path": "Parity\\{sname}", **SYMBOL}, fresh=fresh_symbol_name
        )
    ],
    "symbol/delete": [case({"symbol": "{sname}"}, fresh=fresh_symbol)],
    "tick/last": [case({"symbol": "EURUSD"})],
    "tick/last_group": [case({"symbol": "EURUSD", "group": GROUP})],
    "tick/history": [case({"symbol": "EURUSD", **PERIOD})],
    # client records
    "client/add": [
        case(
            body=[{"ContactEmail": "{email}", "PersonName": "Pat"}], fresh=fresh_email, varies="id"
        )
    ],
    "client/get": [case({"id": "{client}"}), case({"id": "999999"}, NOT_FOUND)],
    "client/get_ids": [case(), case({"group": GROUP})],
    "client/user/get_logins": [case({"id": "{client}"})],
    "client/update": [
        case(body=[{"RecordID": "{fclient}", "PersonLastName": "Renamed"}], fresh=fresh_client)
    ],
    "client/delete": [case({"id": "{fclient}"}, fresh=fresh_client)],
    "client/history/get": [case({"id": "{client}"})],
    "client/user/add": [
        case({"id": "{fclient}", "login": "{fresh}"}, fresh=fresh_client_and_account)
    ],
    "client/user/delete": [case({"id": "{fclient}", "login": "{fresh}"}, fresh=fresh_linked)],
}

PARAMETRIZED = [(path, n, c) for path in sorted(CASES) for n, c in enumerate(CASES[path])]


# ---- the server and its shared objects --------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # the TCP sessions of this module live longer than test_mt5_tcp's short idle timeout
    with _serve(
        tmp_path_factory.mktemp("mt5parity"),
        {"BROKERPLANE_MT5_TCP_IDLE_TIMEOUT_S": "180", "BROKERPLANE_MAX_BODY_BYTES": "1048576"},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def world(server: Server) -> Ctx:
    """What the read cases read, made once over HTTP: a funded account with an open position
    and a trade deal, another account, an archived one, and a client owning the first."""
    with server.http() as http:
        login, other = _account(http, funded="5000"), _account(http, funded="100")
        deposit = http.balance(login, "250")["answer"]["Ticket"]
        opened = http.call(
            "dealer/send_request",
            body={
                "Action": "200",
                "Login": login,
                "Symbol": "EURUSD",
                "Volume": "10000",
                "Type": "0",
                "TypeFill": "0",
                "Digits": "5",
            },
        )
        position = http.call("position/get", {"login": login, "symbol": "EURUSD"})["Position"]
        archived = _account(http)
        http.call("user/archive/add", {"login": archived})
        client = _client(http, "world")
        http.call("client/user/add", {"id": client, "login": login})
        http.call("client/update", body={"RecordID": client, "PersonLastName": "Changed"})
    return {
        "login": login,
        "other": other,
        "deal": str(deposit),
        "request": str(opened["id"]),
        "trade": str(opened["result"]["DealID"]),
        "position": str(position),
        "archived": archived,
        "client": client,
        "group": GROUP,
    }


# ---- running a case on both transports --------------------------------------------------------


def _fill(value: Any, ctx: Ctx) -> Any:
    if isinstance(value, str):
        for name, real in ctx.items():
            value = value.replace("{" + name + "}", real)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ctx) for v in value]
    return value


def _normal(value: Any, own: Ctx, varies: frozenset[str]) -> Any:
    """The answer with this run's own objects written as their placeholders and the fields
    that legitimately differ as `<varies>`."""
    if isinstance(value, dict):
        return {k: "<varies>" if k in varies else _normal(v, own, varies) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, own, varies) for v in value]
    if isinstance(value, str):
        for name, real in sorted(own.items(), key=lambda kv: -len(kv[1])):
            if value == real:
                return "{" + name + "}"
            if not real.isdigit() and real in value:
                value = value.replace(real, "{" + name + "}")
        return value
    return value


def _over_http(server: Server, path: str, c: Case, ctx: Ctx) -> dict[str, Any]:
    with server.http() as http:
        return http.send(path, _fill(c.params, ctx), _fill(c.body, ctx))


def _over_tcp(server: Server, path: str, c: Case, ctx: Ctx) -> dict[str, Any]:
    _served()  # the raw names come from the route table, filled by mount()
    raw = {v: k for k, v in raw_names().items() if k != "USER_DEPOSIT_CHANGE"}[path]
    params = {k.upper(): v for k, v in _fill(c.params, ctx).items()}
    with server.session() as tcp:
        return tcp.send(raw, params, _fill(c.body, ctx)).envelope()


def test_every_served_command_has_a_parity_case() -> None:
    served = _served()
    assert set(CASES) == served, (
        f"served without a case: {sorted(served - set(CASES))}; "
        f"cases for commands not served: {sorted(set(CASES) - served)}"
    )
    names = raw_names()
    assert all(path in names.values() for path in served)


@pytest.mark.parametrize(
    ("path", "n", "c"), PARAMETRIZED, ids=[f"{p}-{n}" for p, n, _ in PARAMETRIZED]
)
def test_the_command_answers_the_same_over_http_and_tcp(
    server: Server, world: Ctx, path: str, n: int, c: Case
) -> None:
    own: dict[str, Ctx] = {"http": {}, "tcp": {}}
    if c.fresh is not None:
        with server.http() as admin:
            own = {tag: c.fresh(admin, tag) for tag in ("http", "tcp")}
    over_http = _over_http(server, path, c, world | own["http"])
    over_tcp = _over_tcp(server, path, c, world | own["tcp"])
    over_http.pop("reason", None), over_tcp.pop("reason", None)
    assert over_http["retcode"] == c.expect, over_http
    compared = [_normal(a, own[t], c.varies) for t, a in (("http", over_http), ("tcp", over_tcp))]
    assert compared[1] == compared[0], json.dumps(compared, indent=1)[:4000]


def test_the_parity_cases_name_only_known_objects() -> None:
    """A case's placeholders are all known: a typo would send `{logn}` to both transports and
    compare two identical refusals."""
    known = {
        "login",
        "other",
        "deal",
        "request",
        "trade",
        "position",
        "archived",
        "client",
        "group",
        "fresh",
        "fclient",
        "email",
        "gname",
        "sname",
    }
    for cases in CASES.values():
        for c in cases:
            text = json.dumps([c.params, c.body])
            assert set(re.findall(r"\{([a-z]+)\}", text)) <= known, text

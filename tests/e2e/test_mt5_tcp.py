"""A CRM speaking MT5's native TCP protocol (tests/e2e/mt5tcpclient.py, from the spec alone)
against a real `brokerplane serve --mt5-tcp-port` process: the handshake's golden packets,
plain and AES channels, TLS on the same port, money and reads, large answers, pings, the idle
timeout, hostile frames, and the same answers as the HTTP dialect. (Connection caps, on a
server of their own: test_mt5_tcp_caps.py.)"""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.mt5_tcp_support import (
    GROUP,
    IDLE_S,
    LOCKED_MANAGER,
    MANAGER,
    PASSWORD,
    Server,
    _open_account,
    _serve,
)
from tests.e2e.mt5tcpclient import (
    DONE,
    PREFIX,
    Mt5TcpClient,
    Mt5TcpError,
    Mt5TcpProtocolError,
    command_text,
    packet,
    rand_answer,
)
from tests.e2e.transport_support import free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with _serve(tmp_path_factory.mktemp("mt5tcp"), {}) as running:
        yield running


# ---- the handshake --------------------------------------------------------------------------


def test_the_spec_worked_example_auth_start_packet_gets_a_challenge_with_its_number(
    server: Server,
) -> None:
    body = (
        "AUTH_START|VERSION=3211|AGENT=WebAPI|LOGIN=1005|TYPE=MANAGER|CRYPT_METHOD=AES256OFB|\r\n"
    )
    wire = PREFIX + b"00ac00010" + body.encode("utf-16-le")
    assert len(wire) == 190 and wire[:28] == b"MT5WEBAPI00ac00010A\x00U\x00T\x00H\x00_\x00"
    with server.client() as mt5:
        mt5.send_raw(wire)
        answer = mt5.read_answer(1)
    assert (answer.command, answer.retcode) == ("AUTH_START", DONE)
    assert len(answer.params["SRV_RAND"]) == 32
    assert answer.packets == [(1, 0, answer.packets[0][2])]


@pytest.mark.parametrize("crypt", [True, False], ids=["aes256ofb", "plain"])
def test_a_manager_opens_funds_reads_and_batch_reads_accounts(server: Server, crypt: bool) -> None:
    with server.session(crypt=crypt) as mt5:
        first, second = _open_account(mt5), _open_account(mt5, "Bob Example")
        funds = {
            "LOGIN": first,
            "TYPE": 2,
            "BALANCE": "150.25",
            "COMMENT": "wire | in",
            "CHECK_MARGIN": 1,
        }
        deposit = mt5.send("TRADE_BALANCE", funds)
        assert deposit.retcode == DONE and int(deposit.params["TICKET"]) > 0
        assert mt5.call("USER_GET", {"LOGIN": first})["Balance"] == "150.25"
        assert mt5.call("USER_ACCOUNT_GET", {"LOGIN": first})["Equity"] == "150.25"
        batch = mt5.call("USER_GET_BATCH", {"LOGIN": f"{first},{second}"})
        assert [u["Login"] for u in batch] == [str(first), str(second)]
        assert all(isinstance(v, str) for u in batch for v in u.values() if not isinstance(v, list))
        deals = mt5.call(
            "DEAL_GET_PAGE",
            {"LOGIN": first, "FROM": 0, "TO": 2_000_000_000, "OFFSET": 0, "TOTAL": 10},
        )
        assert [d["Comment"] for d in deals] == ["wire | in"]
        assert mt5.send("USER_TOTAL").params["TOTAL"].isdigit()
        assert mt5.send("TEST_ACCESS").retcode == DONE
        mt5.quit()
        assert mt5.closed_by_server()


def test_the_server_proves_the_password_and_answers_the_spec_crypt_rand_size(
    server: Server,
) -> None:
    with server.client() as mt5:
        started = mt5.send(
            "AUTH_START",
            {
                "VERSION": 3211,
                "AGENT": "WebAPI",
                "LOGIN": MANAGER,
                "TYPE": "Manager",
                "CRYPT_METHOD": "NONE",
            },
        )
        cli_rand = "4db98fec17aab4dc5a240bdc659e8395"
        answered = mt5.send(
            "AUTH_ANSWER",
            {
                "SRV_RAND_ANSWER": rand_answer(PASSWORD, started.params["SRV_RAND"]).upper(),
                "CLI_RAND": cli_rand,
            },
        )
        assert answered.retcode == DONE
        assert answered.params["CLI_RAND_ANSWER"] == rand_answer(PASSWORD, cli_rand)
        assert len(answered.params["CRYPT_RAND"]) == 512


def test_a_wrong_password_is_1001_invalid_account_and_the_connection_closes(
    server: Server,
) -> None:
    with server.client() as mt5:
        with pytest.raises(Mt5TcpError) as refused:
            mt5.auth(LOCKED_MANAGER, "not the password")
        assert refused.value.retcode == "1001 Invalid account"
        assert mt5.closed_by_server()


def test_repeated_wrong_passwords_lock_the_login_even_for_the_right_one(server: Server) -> None:
    for _ in range(6):
        with server.client() as mt5, pytest.raises(Mt5TcpError):
            mt5.auth(LOCKED_MANAGER, "still wrong")
    with server.client() as mt5, pytest.raises(Mt5TcpError) as refused:
        mt5.auth(LOCKED_MANAGER, PASSWORD)
    assert refused.value.code == 1001


def test_a_pool_of_32_connections_signing_in_as_one_manager_at_once_all_get_in(
    server: Server,
) -> None:
    """A CRM opening its connection pool: 32 connections from one address sign in as the same
    manager at the same moment, all with the right password; every one gets a session (the
    lockout lets five be checked at a time, the others wait their turn), and no lock is left
    behind for the next one."""
    clients = [server.client().connect() for _ in range(32)]
    start = threading.Barrier(len(clients))

    def sign_in(mt5: Mt5TcpClient) -> str:
        start.wait(timeout=30)
        mt5.auth(MANAGER, PASSWORD)
        return mt5.send("TEST_ACCESS").retcode

    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            answers = list(pool.map(sign_in, clients))
    finally:
        for mt5 in clients:
            mt5.close()
    assert answers == [DONE] * 32
    with server.session() as mt5:
        assert mt5.send("TEST_ACCESS").retcode == DONE


def test_commands_before_the_handshake_are_refused_and_the_connection_closes(
    server: Server,
) -> None:
    with server.client() as mt5:
        answer = mt5.send("USER_GET", {"LOGIN": 1})
        assert answer.retcode == "8 Not enough permissions"
        assert mt5.closed_by_server()


def test_an_unknown_command_is_12002_and_the_session_goes_on(server: Server) -> None:
    with server.session() as mt5:
        assert mt5.send("SERVER_RESTART_NOW").retcode == "12002 Command doesn't supported"
        assert mt5.send("TEST_ACCESS").retcode == DONE


def test_malformed_client_changes_are_invalid_parameters_and_the_session_goes_on(
    server: Server,
) -> None:
    with server.session() as mt5:
        login = _open_account(mt5)
        [created] = mt5.call("CLIENT_ADD", body=[{"ContactEmail": f"tcp{login}@example.com"}])
        ident = created["id"]
        params = "3 Invalid parameters"
        assert mt5.send("CLIENT_UPDATE", body='[{"RecordID": ').retcode == params
        assert mt5.send("CLIENT_UPDATE", body='"just text"').retcode == params
        too_many = [{"RecordID": ident, "PersonName": "x"}] * 101
        assert mt5.send("CLIENT_UPDATE", body=too_many).retcode == params
        for logins in (f"{login}|FORGED=1", f"{login}=2", "1_0", ",".join(["1"] * 101)):
            answer = mt5.send("CLIENT_USER_ADD", {"ID": ident, "LOGIN": logins})
            assert (answer.retcode, answer.params) == (params, {}), answer
        assert mt5.send("CLIENT_DELETE", {"ID": "x" * 3000}).retcode == params
        assert mt5.send("CLIENT_HISTORY_GET", {"ID": ident, "TO": "-1"}).retcode == params
        assert mt5.call("CLIENT_USER_GET_LOGINS", {"ID": ident}) == []
        assert mt5.send("TEST_ACCESS").retcode == DONE


# ---- TLS on the same port -------------------------------------------------------------------


def test_the_tcp_port_speaks_tls_to_clients_that_start_a_tls_handshake(server: Server) -> None:
    context = ssl.create_default_context(cafile=str(server.cert))
    with server.client(tls=context) as mt5:
        mt5.auth(MANAGER, PASSWORD)
        assert mt5.send("TEST_ACCESS").retcode == DONE


# ---- framing ---------------------------------------------------------------------------------


def test_a_large_answer_comes_in_several_packets_of_one_number(server: Server) -> None:
    with server.session() as mt5:
        number = mt5.next_number()
        mt5.send_message(number, command_text("USER_GET_BATCH", {"GROUP": GROUP}))
        answer = mt5.read_answer(number)
        assert answer.retcode == DONE
        assert len(answer.packets) >= 2
        assert [f for _, f, _ in answer.packets] == [1] * (len(answer.packets) - 1) + [0]
        assert all(length == 0xFFFE for _, _, length in answer.packets[:-1])
        assert len(answer.json()) >= 30


def test_a_request_split_over_several_packets_is_run_once_whole(server: Server) -> None:
    with server.session() as mt5:
        login = _open_account(mt5)
        number = mt5.next_number()
        data = command_text("USER_GET", {"LOGIN": login}).encode("utf-16-le")
        cut = 7  # inside a UTF-16 unit
        assert mt5.outbound is not None
        first, rest = mt5.outbound.apply(data[:cut]), mt5.outbound.apply(data[cut:])
        mt5.send_raw(packet(number, first, 1) + packet(number, rest, 0))
        assert mt5.read_answer(number).json()["Login"] == str(login)


def test_pings_get_no_answer_and_the_server_pings_in_its_own_range(server: Server) -> None:
    with server.session() as mt5:
        for _ in range(3):
            mt5.send_ping()  # an empty packet
            mt5.send_message(mt5.next_number(), "|\r\n")  # the libraries' explicit ping
            time.sleep(IDLE_S / 3)
        assert mt5.send("TEST_ACCESS").retcode == DONE  # still open after > IDLE_S in all
        assert mt5.server_pings and all(0x4000 <= n < 0x8000 for n in mt5.server_pings)


def test_a_silent_connection_is_dropped_after_the_idle_timeout(server: Server) -> None:
    with server.session() as mt5:
        started = time.monotonic()
        assert mt5.closed_by_server(wait=IDLE_S + 10)
        assert time.monotonic() - started >= IDLE_S - 0.5


@pytest.mark.parametrize(
    "garbage",
    [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", PREFIX + b"zzzz00010", PREFIX + b"0x0400010"],
    ids=["http", "non-hex", "0x-prefix"],
)
def test_a_garbage_header_is_answered_with_a_protocol_error_and_closed(
    server: Server, garbage: bytes
) -> None:
    with server.client() as mt5:
        mt5.send_raw(garbage)
        try:
            _number, _, body = mt5.read_packet()
        except Mt5TcpProtocolError:
            pytest.fail("no protocol error before the close")
        assert body.decode("utf-16-le").startswith("|RETCODE=3 Invalid parameters|REASON=")
        assert mt5.closed_by_server()


def test_a_message_over_the_limit_is_refused_before_its_body_is_read(server: Server) -> None:
    with server.session(crypt=False) as mt5:
        number = mt5.next_number()
        mt5.send_raw(packet(number, b"\x00" * 0x1000, 1) + packet(number, b"\x00" * 0x1000, 1))
        mt5.send_raw(b"ffff" + f"{number:04x}".encode() + b"0")  # the body never comes
        got, _, body = mt5.read_packet()
        assert got == number
        assert "larger than 8192 bytes" in body.decode("utf-16-le")
        assert mt5.closed_by_server()


def test_a_message_before_the_sign_in_is_refused_over_4_kib(server: Server) -> None:
    with server.client() as mt5:
        mt5.send_raw(PREFIX + packet(1, b"\x00" * 0x1000, 1))
        mt5.send_raw(b"0800" + b"00010")  # 6 KiB in all, under max_body_bytes; never comes
        got, _, body = mt5.read_packet()
        assert got == 1
        assert "larger than 4096 bytes" in body.decode("utf-16-le")
        assert mt5.closed_by_server()


def test_a_command_name_cannot_forge_fields_of_its_answer_line(server: Server) -> None:
    with server.session(crypt=False) as mt5:
        number = mt5.next_number()
        mt5.send_message(number, "FOO\\|RETCODE\\=0 Done\\|TICKET\\=999|\r\n")
        answer = mt5.read_answer(number)
        assert answer.retcode == "12002 Command doesn't supported"
        assert answer.command == "FOORETCODE0DoneTICKET999"
        assert "TICKET" not in answer.params


def test_a_truncated_deposit_is_never_applied(server: Server) -> None:
    with server.session(crypt=False) as mt5:
        login = _open_account(mt5)
        text = command_text("TRADE_BALANCE", {"LOGIN": login, "TYPE": 2, "BALANCE": "10"})
        data = text.encode("utf-16-le")
        mt5.send_raw(packet(mt5.next_number(), data)[:-6])  # the connection drops mid-body
    with server.session() as mt5:
        assert mt5.call("USER_GET", {"LOGIN": login})["Balance"] == "0.00"


def test_a_client_stalling_mid_packet_is_dropped_after_the_header_timeout(server: Server) -> None:
    with server.session() as mt5:
        mt5.send_raw(b"002c0")  # half a header, then nothing
        started = time.monotonic()
        assert mt5.closed_by_server(wait=10)
        assert time.monotonic() - started < IDLE_S  # the 2 s message deadline, not the idle one


# ---- one command layer, two transports -------------------------------------------------------

# That every command answers the same over HTTP and TCP, with the retcode each case expects, is
# tests/e2e/test_mt5_parity.py's business: a case per command the dialect serves, on a server
# of its own. (Its cases include the eleven this file once compared: user/get of an account,
# of login 1 and without a login, user/get_batch, user/account/get, user/logins, deal/get_page,
# deal/get_total, group/get, group/total and a trade/balance of an unknown type.)


def test_a_deposit_with_an_idempotency_key_applies_once_over_either_transport(
    server: Server,
) -> None:
    with server.session() as tcp:
        login = _open_account(tcp)
        args = {"LOGIN": login, "TYPE": 2, "BALANCE": "7", "IDEMPOTENCY_KEY": f"tcp-{login}"}
        first = tcp.send("TRADE_BALANCE", args)
        again = tcp.send("TRADE_BALANCE", args)
        assert first.params["TICKET"] == again.params["TICKET"]
    with server.http() as http:
        replay = http.send("trade/balance", {"login": login, "type": 2, "balance": "7"})
        assert replay["answer"]["Ticket"] != first.params["TICKET"]  # no key: a new deposit
        assert http.call("user/get", {"login": login})["Balance"] == "14.00"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "{tcp}"], "--mt5-tcp-port {tcp} is already the HTTP or TLS port"),
        (["--dialects", "native"], "the mt5 dialect is not enabled"),
    ],
)
def test_serve_refuses_an_unusable_tcp_port_setting_in_one_line_with_exit_2(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    tcp = str(free_port())
    args = [f.format(tcp=tcp) for f in flags]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "brokerplane.cli.main",
            "serve",
            "--mt5-tcp-port",
            tcp,
            "--data-dir",
            str(tmp_path / "var"),
            *args,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert message.format(tcp=tcp) in done.stderr
    assert not (tmp_path / "var").exists()

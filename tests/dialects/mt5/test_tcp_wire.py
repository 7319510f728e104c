"""The MT5 TCP protocol's wire pieces against the spec's golden values
(shared/specs/mt5-webapi-tcp.md §2.4, §3.2, §5.3): headers, command lines, the AES channel."""

from __future__ import annotations

import pytest

from brokerplane.api.mt5.auth import password_hash
from brokerplane.api.mt5.tcpwire import (
    ProtocolViolation,
    channel,
    crypt_ivs,
    header,
    parse_command,
    parse_header,
    raw_names,
    render,
)

CRYPT_RAND = bytes(range(256))


def test_the_crypt_ivs_and_key_are_the_spec_vectors() -> None:
    ivs = crypt_ivs(password_hash("Password1"), CRYPT_RAND)
    assert ivs[0].hex() == "b0ed3aa00c46c12260202166f8484536"
    assert ivs[1].hex() == "8f57767e6a2ca7a54c85776325f7677e"
    assert ivs[2].hex() == "1b6493c551ce24e2746982f0a15dc916"
    assert ivs[3].hex() == "57c68578ca6d4196107f83e6a8f4b48f"
    assert ivs[14].hex() == "ef863280e56de9f5898de0496d3db4bb"
    assert ivs[15].hex() == "70c65d37748166f082270af669327005"


def test_the_server_decrypts_and_encrypts_the_spec_packets_block_aligned() -> None:
    inbound, outbound = channel(password_hash("Password1"), CRYPT_RAND)
    first = bytes.fromhex(
        "1ff55cfe1d0c7354a300637b6b86feb6254dbd4cab0aca4678b73766f49386994ad77abf7f51264cafa0ce27"
    )
    assert inbound.apply(first) == "USER_GET|LOGIN=1023|\r\n".encode("utf-16-le")
    assert inbound.apply(bytes.fromhex("da3be204236d")) == "|\r\n".encode("utf-16-le")
    answer = "USER_GET|RETCODE=13 Not found|\r\n".encode("utf-16-le")
    assert outbound.apply(answer).hex() == (
        "293bda3629e3aa0a3fbca5cf13ece529d34866f2725049820187c7de04ec643348f208404ecb9ec3ff14"
        "9b0e5afdef603b39b2bdbe61b0620475ae08414fe41f"
    )


def test_an_empty_body_does_not_advance_the_keystream() -> None:
    inbound, _ = channel(password_hash("Password1"), CRYPT_RAND)
    assert inbound.apply(b"") == b""
    first = bytes.fromhex("1ff55cfe1d0c7354a300637b6b86feb6")
    assert inbound.apply(first)[:8] == "USER".encode("utf-16-le")


def test_headers_are_lower_case_hex_and_parse_in_either_case() -> None:
    assert header(0x2C, 3) == b"002c00030"
    assert header(0xFFFE, 3, 1) == b"fffe00031"
    assert parse_header(b"002C00030") == (0x2C, 3, 0)
    assert parse_header(b"117200030") == (0x1172, 3, 0)


@pytest.mark.parametrize(
    "raw", [b"GET / HTT", b"0x2c00030", b" 02c00030", b"+02c00030", b"002c0003\x00"]
)
def test_a_header_that_is_not_nine_hex_digits_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        parse_header(raw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("USER_GET|LOGIN=1023|\r\n", ("USER_GET", [("LOGIN", "1023")], "")),
        ("TIME_SERVER\r\n", ("TIME_SERVER", [], "")),
        ("TEST_ACCESS|\r\n", ("TEST_ACCESS", [], "")),
        (
            "AUTH_ANSWER|SRV_RAND_ANSWER=ab|CLI_RAND=cd\r\n",
            ("AUTH_ANSWER", [("SRV_RAND_ANSWER", "ab"), ("CLI_RAND", "cd")], ""),
        ),
        ("USER_LOGINS|GROUP=demo\\\\forex|\r\n", ("USER_LOGINS", [("GROUP", "demo\\forex")], "")),
        ("USER_LOGINS|GROUP=demo\\forex|\r\n", ("USER_LOGINS", [("GROUP", "demo\\forex")], "")),
        ("X|COMMENT=a\\|b\\=c\\\nd=e|\r\n", ("X", [("COMMENT", "a|b=c\nd=e")], "")),
        ('USER_ADD|RIGHTS=|\r\n{"Name":"x"}', ("USER_ADD", [("RIGHTS", "")], '{"Name":"x"}')),
        ("|\r\n", ("", [], "")),
    ],
)
def test_command_lines_parse_leniently_with_the_spec_escapes(
    text: str, expected: tuple[str, list[tuple[str, str]], str]
) -> None:
    assert parse_command(text) == expected


def test_answers_put_totals_tickets_and_extras_in_the_line_and_objects_in_the_body() -> None:
    assert render("USER_TOTAL", {"retcode": "0 Done", "answer": {"Total": "3"}}) == (
        "USER_TOTAL|RETCODE=0 Done|TOTAL=3|\r\n"
    )
    assert render("USER_ADD", {"retcode": "0 Done", "login": "7", "answer": {"Login": "7"}}) == (
        'USER_ADD|RETCODE=0 Done|LOGIN=7|\r\n{"Login":"7"}\r\n'
    )
    assert render("USER_DELETE", {"retcode": "13 Not found"}) == (
        "USER_DELETE|RETCODE=13 Not found|\r\n"
    )
    assert render("X", {"retcode": "10006 Request rejected", "reason": "a|b\r\nc"}) == (
        "X|RETCODE=10006 Request rejected|REASON=a b  c|\r\n"
    )


def test_a_command_name_is_echoed_with_letters_digits_and_underscores_only() -> None:
    forged = parse_command("FOO\\|RETCODE\\=0 Done\\|TICKET\\=999|\r\n")[0]
    assert forged == "FOO|RETCODE=0 Done|TICKET=999"
    assert render(forged, {"retcode": "12002 Command doesn't supported"}) == (
        "FOORETCODE0DoneTICKET999|RETCODE=12002 Command doesn't supported|\r\n"
    )


def test_every_http_command_has_its_raw_name() -> None:
    from brokerplane.api.mt5 import (  # noqa: F401
        dealer,
        deals,
        groups,
        orders,
        positions,
        symbols,
        users,
    )

    names = raw_names()
    assert names["USER_GET"] == "user/get"
    assert names["USER_ACCOUNT_GET"] == "user/account/get"
    assert names["USER_GET_BATCH"] == "user/get_batch"
    assert names["DEAL_GET_PAGE"] == "deal/get_page"
    assert names["USER_PASS_CHECK"] == "user/pass_check"
    assert names["USER_DEPOSIT_CHANGE"] == "trade/balance"
    assert names["QUIT"] == "quit"

"""Managers' password verifiers over the fakes: MT5's official vector and challenges, UTF-16LE,
cTrader's MD5, salts, and the plain password kept nowhere."""

from __future__ import annotations

import hashlib

from brokerplane.application.app import Application
from brokerplane.core import passwords
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import Actor
from tests.unit.fakes import FakeUowFactory
from tests.unit.managers_support import _audit_text

# --- password verifiers ----------------------------------------------------------------------

# mt5-webapi.md 2.2, the official vectors of the webapi_rest_authentication page
MT5_PASSWORD = "Password1"
MT5_B1 = bytes([236, 46, 146, 255, 112, 191, 70, 145, 174, 12, 104, 224, 47, 220, 108, 34])
MT5_HASH = "904ba8ecb16273d2f0ae9c3b8a023752"
SRV_RAND, SRV_RAND_ANSWER = "73007dc7184747ce0f7c98516ef1c851", "77fe51827f7fa69dd80fbec9aa33f1bb"
CLI_RAND, CLI_RAND_ANSWER = "4db98fec17aab4dc5a240bdc659e8395", "1732021b1b332f51660b2b315eed3a35"


def _answer(stored_hash: str, rand: str) -> str:
    """What the server computes from the stored hash alone: hex(MD5(b2 || rand))."""
    return hashlib.md5(bytes.fromhex(stored_hash) + bytes.fromhex(rand)).hexdigest()


def test_the_mt5_verifier_matches_the_official_vector_and_answers_its_challenges(
    services: Application, admin: Actor
) -> None:
    assert hashlib.md5(MT5_PASSWORD.encode("utf-16-le")).digest() == MT5_B1

    created = services.create_manager(CreateManager(1005, password=MT5_PASSWORD), admin)

    assert created.verifiers["mt5"] == MT5_HASH
    assert _answer(created.verifiers["mt5"], SRV_RAND) == SRV_RAND_ANSWER
    assert _answer(created.verifiers["mt5"], CLI_RAND) == CLI_RAND_ANSWER


def test_the_mt5_verifier_hashes_utf16_little_endian_without_a_bom(
    services: Application, admin: Actor
) -> None:
    password = "Pässwörd1€"
    b1 = hashlib.md5(password.encode("utf-16-le")).digest()

    created = services.create_manager(CreateManager(1005, password=password), admin)

    assert created.verifiers["mt5"] == hashlib.md5(b1 + b"WebAPI").hexdigest()
    with_bom = hashlib.md5(hashlib.md5(password.encode("utf-16")).digest() + b"WebAPI")
    assert created.verifiers["mt5"] != with_bom.hexdigest()


def test_the_password_verifier_checks_the_password_and_the_ctrader_md5_of_it(
    services: Application, admin: Actor
) -> None:
    created = services.create_manager(CreateManager(1005, password=MT5_PASSWORD), admin)
    verifier = created.verifiers["password"]
    md5 = hashlib.md5(MT5_PASSWORD.encode()).hexdigest()

    assert passwords.verify(verifier, MT5_PASSWORD)
    assert passwords.verify_md5(verifier, md5)
    assert passwords.verify_md5(verifier, md5.upper())
    assert not passwords.verify(verifier, "password1")
    assert not passwords.verify_md5(verifier, hashlib.md5(b"Password2").hexdigest())


def test_the_plain_password_is_kept_nowhere(
    services: Application, admin: Actor, uows: FakeUowFactory
) -> None:
    created = services.create_manager(CreateManager(1005, password=MT5_PASSWORD), admin)
    md5 = hashlib.md5(MT5_PASSWORD.encode()).hexdigest()

    stored = uows.state.managers[1005]
    assert MT5_PASSWORD not in repr(stored) and md5 not in repr(stored)
    assert created.snapshot()["password"] == "set"
    audit = _audit_text(uows)
    for secret in (MT5_PASSWORD, md5, *stored.verifiers.values()):
        assert secret not in audit


def test_verifiers_are_salted_but_the_mt5_hash_is_what_the_protocol_fixes(
    services: Application, admin: Actor
) -> None:
    one = services.create_manager(CreateManager(1005, password=MT5_PASSWORD), admin)
    two = services.create_manager(CreateManager(1006, password=MT5_PASSWORD), admin)

    assert one.verifiers["password"] != two.verifiers["password"]
    assert one.verifiers["mt5"] == two.verifiers["mt5"] == MT5_HASH


def test_a_manager_created_without_a_password_has_no_verifier(
    services: Application, admin: Actor
) -> None:
    created = services.create_manager(CreateManager(1005), admin)

    assert created.verifiers == {} and created.snapshot()["password"] is None

"""The MT5 handshake arithmetic against the spec's official vectors, and the retcode table."""

from __future__ import annotations

from brokerplane.api.mt5.auth import password_hash, rand_answer
from brokerplane.api.mt5.errors import ERROR_TABLE, retcode
from brokerplane.core.errors import all_error_classes
from brokerplane.core.passwords import mt5_webapi_hash

# spec mt5-webapi.md §2.2, official test vectors
PASSWORD = "Password1"
B2 = "904ba8ecb16273d2f0ae9c3b8a023752"
SRV_RAND = "73007dc7184747ce0f7c98516ef1c851"
SRV_RAND_ANSWER = "77fe51827f7fa69dd80fbec9aa33f1bb"
CLI_RAND = "4db98fec17aab4dc5a240bdc659e8395"
CLI_RAND_ANSWER = "1732021b1b332f51660b2b315eed3a35"


def test_the_password_hash_matches_the_official_vector() -> None:
    assert password_hash(PASSWORD).hex() == B2
    assert mt5_webapi_hash(PASSWORD) == B2  # what a manager's verifier stores


def test_the_answers_match_the_official_vectors_in_lower_case() -> None:
    assert rand_answer(bytes.fromhex(B2), bytes.fromhex(SRV_RAND)) == SRV_RAND_ANSWER
    assert rand_answer(bytes.fromhex(B2), bytes.fromhex(CLI_RAND)) == CLI_RAND_ANSWER


def test_every_core_error_class_has_an_mt5_return_code() -> None:
    assert [c.__name__ for c in all_error_classes() if c not in ERROR_TABLE] == []


def test_retcode_strings_are_the_exact_texts_clients_compare() -> None:
    assert retcode(0) == "0 Done"
    assert retcode(13) == "13 Not found"
    assert retcode(3004) == "3004 Account already exists"
    assert retcode(3006) == "3006 Invalid account password"

"""A command's result stored as data with its request id reads back as the same result, with
every secret left out."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from brokerplane.application import answers
from brokerplane.core.access.commands import IssuedKey
from brokerplane.core.access.model import ApiKey
from brokerplane.core.account.model import Account
from brokerplane.core.ledger.commands import Posting
from brokerplane.core.ledger.model import LedgerEntry
from brokerplane.core.money import Currency

AT = datetime(2026, 12, 7, 14, 0, 1, 250000, tzinfo=UTC)


def test_a_posting_reads_back_equal() -> None:
    entry = LedgerEntry(
        id=7,
        login=910001,
        kind="deposit",
        amount=1000,
        balance_after=1000,
        credit_after=0,
        bonus_after=0,
        currency="USD",
        currency_digits=2,
        at=AT,
        comment="ü ß \u2028",
    )
    posting = Posting("applied", 910001, "deposit", 1000, Currency("USD", 2), 1000, 0, 0, entry)

    assert answers.load(answers.dump(posting)) == posting


def test_values_keep_their_types() -> None:
    value = {"d": Decimal("10.50"), "t": AT, "tu": (1, "a"), "fs": frozenset({"x"}), 3: None}

    back = answers.load(answers.dump(value))

    assert back == value and isinstance(back["tu"], tuple) and str(back["d"]) == "10.50"


def test_secrets_and_password_hashes_are_never_stored() -> None:
    key = ApiKey(
        id="k1",
        manager_login=1000,
        prefix="bp_live_ab",
        secret_hash="h" * 64,
        scopes=frozenset({"admin"}),
        created_at=AT,
    )
    issued = IssuedKey(key, "bp_live_the-secret")
    account = Account(
        login=1,
        group_id=1,
        group="g",
        currency="USD",
        currency_digits=2,
        leverage=100,
        main_password="$argon2id$hash",
    )

    text = answers.dump((issued, account))

    assert "the-secret" not in text and "h" * 64 not in text and "argon2" not in text
    back_issued, back_account = answers.load(text)
    assert back_issued.secret is None and back_issued.key.secret_hash is None
    assert back_issued.key.scopes == key.scopes and back_account.main_password is None


def test_only_brokerplane_classes_are_read_back() -> None:
    with pytest.raises(ValueError, match="not a brokerplane class"):
        answers.load('{"$c":"os:_wrap_close","f":{}}')

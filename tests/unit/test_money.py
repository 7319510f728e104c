"""Money: exact conversions between Decimal amounts and integer minor units, and wire parsing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokerplane.core.errors import FieldError, ValidationError
from brokerplane.core.money import (
    MAX_MINOR,
    Currency,
    Money,
    currency,
    format_amount,
    format_minor,
    format_units,
    from_minor,
    parse_decimal,
    parse_integer,
    to_minor,
)

USD = Currency("USD", 2)
JPY = Currency("JPY", 0)
BTC = Currency("BTC", 8)


@pytest.mark.parametrize(
    ("amount", "cur", "units"),
    [
        ("12.34", USD, 1234),
        ("12.340000", USD, 1234),
        ("-0.01", USD, -1),
        ("0", USD, 0),
        ("100", JPY, 100),
        ("0.00000001", BTC, 1),
        ("21000000", BTC, 2_100_000_000_000_000),
        ("92233720368547758.07", USD, 2**63 - 1),
    ],
)
def test_to_minor_is_exact(amount: str, cur: Currency, units: int) -> None:
    assert to_minor(Decimal(amount), cur) == units


@pytest.mark.parametrize(
    ("amount", "cur"),
    [("12.345", USD), ("0.001", USD), ("100.5", JPY), ("0.000000001", BTC), ("1E-3", USD)],
)
def test_to_minor_refuses_digits_the_currency_does_not_have(amount: str, cur: Currency) -> None:
    with pytest.raises(ValidationError) as caught:
        to_minor(Decimal(amount), cur)

    assert caught.value.fields == [
        FieldError("amount", f"has more than {cur.digits} decimal digits for {cur.code}")
    ]


def test_from_minor_gives_the_amount_at_the_currencys_digits() -> None:
    assert str(from_minor(1234, USD)) == "12.34"
    assert str(from_minor(0, USD)) == "0.00"
    assert str(from_minor(-5, USD)) == "-0.05"
    assert str(from_minor(100, JPY)) == "100"
    assert from_minor(5, BTC) == Decimal("0.00000005")
    assert from_minor(5, BTC).as_tuple().exponent == -8


def test_tiny_amounts_of_eight_digit_currencies_format_without_an_exponent() -> None:
    assert format_minor(7, BTC) == "0.00000007"
    assert format_amount(Decimal("7E-8"), BTC) == "0.00000007"
    assert str(Money.from_minor(1, BTC)) == "0.00000001"
    assert format_minor(0, BTC) == "0.00000000"


def test_minor_units_survive_a_round_trip() -> None:
    for units in (0, 1, -1, 99, 12345678901234, -(2**62)):
        assert to_minor(from_minor(units, USD), USD) == units


def test_money_formats_with_the_currencys_digits() -> None:
    assert str(Money.from_minor(150, USD)) == "1.50"
    assert Money(Decimal("1.5"), USD).to_minor() == 150
    assert format_minor(-250, USD) == "-2.50"
    assert format_amount(Decimal("2.345"), USD) == "2.34"  # half-even
    assert format_amount(Decimal("2.355"), USD) == "2.36"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.30", "12.30"),
        (" 7 ", "7"),
        ("-0.5", "-0.5"),
        ("1e2", "1E+2"),
        (5, "5"),
        (0.1, "0.1"),
        (1e-7, "1E-7"),
        (2.675, "2.675"),
        (Decimal("3.14"), "3.14"),
    ],
)
def test_parse_decimal_reads_strings_ints_floats_exactly(value: object, expected: str) -> None:
    result = parse_decimal(value)

    assert isinstance(result, Decimal)
    assert str(result) == expected


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        None,
        "abc",
        "",
        "NaN",
        "Infinity",
        "-inf",
        float("inf"),
        float("nan"),
        [1],
        {"a": 1},
        b"1",
    ],
)
def test_parse_decimal_refuses_what_is_not_a_finite_number(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_decimal(value, "price")

    assert [f.field for f in caught.value.fields] == ["price"]


def test_currency_codes_are_normalised_and_know_their_digits() -> None:
    assert currency(" usd ") == USD
    assert currency("JPY") == JPY
    assert currency("btc") == BTC
    assert currency("XYZ") == Currency("XYZ", 2)
    assert currency("USD", 3) == Currency("USD", 3)


@pytest.mark.parametrize(
    ("code", "digits", "field"),
    [
        ("", None, "currency"),
        ("US-D", None, "currency"),
        ("TOOLONGCODE", None, "currency"),
        ("USD", 9, "currency_digits"),
        ("USD", -1, "currency_digits"),
    ],
)
def test_currency_refuses_bad_codes_and_digits(code: str, digits: int | None, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        currency(code, digits)

    assert [f.field for f in caught.value.fields] == [field]


@pytest.mark.parametrize(
    ("text", "expected"), [("00", 0), ("100.0", 100), ("1e3", 1000), (" 7 ", 7), (12, 12)]
)
def test_parse_integer_takes_what_dialect_clients_send(text: object, expected: int) -> None:
    assert parse_integer(text, "login") == expected


@pytest.mark.parametrize("text", ["1_000", "١٠٠", "１００", "1.5", "1e999", "", "x", True, None])
def test_parse_integer_refuses_anything_else_naming_the_field(text: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_integer(text, "login")
    assert caught.value.fields[0].field == "login"


_UNITS = sorted(
    {0, 1, 9, 10, 11, 99, 100, 101, 12_345, 10**8, 10**8 + 1, 123_456_789_012_345, MAX_MINOR}
    | {10**k - 1 for k in range(1, 19)}
)


@pytest.mark.parametrize("digits", range(9))
def test_format_units_writes_what_format_minor_writes(digits: int) -> None:
    cur = Currency("XYZ", digits)
    for units in _UNITS + [-u for u in _UNITS]:
        assert format_units(units, digits) == format_minor(units, cur), units

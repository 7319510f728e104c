"""Money: currencies with their digits, Decimal amounts, and the one conversion to minor units."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, InvalidOperation

from brokerplane.core.errors import InvalidAmount, ValidationError


@dataclass(frozen=True)
class Currency:
    """An ISO-like currency code and the number of decimal digits its amounts carry."""

    code: str
    digits: int

    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.digits)


# Digits of the currencies brokerplane knows without configuration; others default to 2.
KNOWN_DIGITS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "AUD": 2,
    "CAD": 2,
    "NZD": 2,
    "SGD": 2,
    "HKD": 2,
    "CNH": 2,
    "PLN": 2,
    "CZK": 2,
    "ZAR": 2,
    "TRY": 2,
    "MXN": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "RUB": 2,
    "INR": 2,
    "AED": 2,
    "JPY": 0,
    "KRW": 0,
    "HUF": 2,
    "BTC": 8,
    "ETH": 8,
    "USDT": 2,
    "USC": 2,
    "XAU": 2,
}


def currency(code: str, digits: int | None = None) -> Currency:
    code = code.strip().upper()
    if not code or len(code) > 8 or not code.isalnum():
        raise ValidationError.field("currency", f"{code!r} is not a currency code")
    if digits is None:
        digits = KNOWN_DIGITS.get(code, 2)
    if not 0 <= digits <= 8:
        raise ValidationError.field("currency_digits", "must be between 0 and 8")
    return Currency(code, digits)


@dataclass(frozen=True)
class Money:
    """An exact amount in one currency; never a float."""

    amount: Decimal
    currency: Currency

    @classmethod
    def from_minor(cls, units: int, cur: Currency) -> Money:
        return cls(Decimal(units).scaleb(-cur.digits).quantize(cur.quantum()), cur)

    def to_minor(self) -> int:
        return to_minor(self.amount, self.currency)

    def __str__(self) -> str:
        return format_amount(self.amount, self.currency)


# The largest magnitude stored in minor units: a signed 64-bit column.
MAX_MINOR = 2**63 - 1
# Wide enough to hold any amount up to MAX_MINOR exactly, whatever the caller's context says.
_EXACT = Context(prec=60, Emin=-999_999, Emax=999_999, traps=[InvalidOperation])


def to_minor(amount: Decimal, cur: Currency) -> int:
    """Exact conversion to integer minor units; refuses amounts finer than the currency's digits
    and amounts too large to store."""
    if not amount.is_finite():
        raise ValidationError.field("amount", "must be a finite decimal number")
    if amount.is_zero():
        return 0
    if amount.adjusted() + cur.digits >= 19:
        raise ValidationError.field("amount", "is too large")
    exact = amount.quantize(cur.quantum(), context=_EXACT)
    if exact != amount:
        raise ValidationError.field(
            "amount", f"has more than {cur.digits} decimal digits for {cur.code}"
        )
    units = int(exact.scaleb(cur.digits, context=_EXACT))
    if abs(units) > MAX_MINOR:
        raise ValidationError.field("amount", "is too large")
    return units


def from_minor(units: int, cur: Currency) -> Decimal:
    return Decimal(units).scaleb(-cur.digits).quantize(cur.quantum())


def format_amount(amount: Decimal, cur: Currency) -> str:
    # Fixed-point always: str() would give "7E-8" for small amounts of 8-digit currencies.
    return f"{amount.quantize(cur.quantum(), rounding=ROUND_HALF_EVEN):f}"


def format_minor(units: int, cur: Currency) -> str:
    return f"{from_minor(units, cur):f}"


def format_units(units: int, digits: int) -> str:
    """The text of format_minor for a currency of `digits`, from the integers alone: exports
    format millions of amounts, and this builds no Currency and no Decimal."""
    if not digits:
        return str(units)
    if units < 0:
        text = str(-units).rjust(digits + 1, "0")
        return f"-{text[:-digits]}.{text[-digits:]}"
    text = str(units).rjust(digits + 1, "0")
    return f"{text[:-digits]}.{text[-digits:]}"


@dataclass(frozen=True)
class MinorUnits:
    """An amount in the minor units of the account's currency, as cTrader sends `amount`: the
    core converts it with the account's digits, in the command's own transaction."""

    units: int

    def at(self, digits: int) -> Decimal:
        return Decimal(self.units).scaleb(-digits)


# A decimal number (a price, lots, a threshold) as a command carries it: a Decimal, or (from a
# caller that hands the core what it was sent: a form, the command line) a decimal number's
# text or a JSON number, which the core reads with parse_decimal and refuses by name.
Number = Decimal | str | int | float

# An amount as a command carries it: a Number, or minor units of the account's currency.
Amount = Number | MinorUnits


def parse_amount(value: object, field: str = "amount") -> Decimal:
    """An amount as a dialect received it (a string, int or float), as the core reads it:
    InvalidAmount naming `field` when it is not a finite decimal number."""
    try:
        return parse_decimal(value, field)
    except ValidationError as err:
        raise InvalidAmount(err.detail, fields=err.fields) from None


OUT_OF_RANGE = "is out of range (a signed 64-bit integer is expected)"


def parse_integer(value: object, field: str) -> int:
    """An integer as dialects receive it: a JSON integer, or a decimal written with ASCII digits
    that has no fraction (`"00"`, `"100.0"`, `"1e3"`); never bool, never `"1_000"`. It is a
    signed 64-bit number, as the database keeps integers: a larger one is refused here, before
    it can reach a query."""
    if isinstance(value, int) and not isinstance(value, bool):
        whole = value
    else:
        number = parse_decimal(value, field)
        if number != 0 and number.adjusted() > 30:
            raise ValidationError.field(field, "is too large")
        if number != number.to_integral_value():
            raise ValidationError.field(field, "must be an integer")
        whole = int(number)
    if not -(2**63) <= whole <= 2**63 - 1:
        raise ValidationError.field(field, OUT_OF_RANGE)
    return whole


def out_of_range(err: ValidationError) -> bool:
    """Whether parse_integer refused a well-formed integer for its size (dialects say so)."""
    return any(f.message == OUT_OF_RANGE for f in err.fields)


_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z", re.ASCII)


def parse_decimal(value: object, field: str = "amount") -> Decimal:
    """A Decimal from a string, int or float as sent on the wire (floats via their repr)."""
    if isinstance(value, bool) or value is None:
        raise ValidationError.field(field, "must be a decimal number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        # ASCII digits only: Decimal() also takes "1_000" and other scripts' digits.
        if not _DECIMAL_TEXT.match(text):
            raise ValidationError.field(field, f"{value[:40]!r} is not a decimal number")
        try:
            result = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
            raise ValidationError.field(field, f"{value[:40]!r} is not a decimal number") from None
    else:
        raise ValidationError.field(field, "must be a decimal number")
    if not result.is_finite():
        raise ValidationError.field(field, "must be a finite decimal number")
    return result


_WIDE = Context(prec=60)  # room for the largest figures the bounds on prices and volumes allow


def to_minor_half_up(amount: Decimal, digits: int) -> int:
    return int(amount.scaleb(digits, _WIDE).quantize(Decimal(1), ROUND_HALF_UP, _WIDE))

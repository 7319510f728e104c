"""Password policy of seed 002 and the salted verifiers brokerplane keeps instead of passwords.

A verifier is derived from the MD5 hex digest of the password, so one stored value answers
every dialect: MT5 and TraderEvolution send the password (we hash it), cTrader sends the MD5.
"""

from __future__ import annotations

import hashlib
import secrets
import string

from brokerplane.core.compare import same
from brokerplane.core.errors import PasswordPolicyViolation

MIN_LENGTH = 8
MAX_LENGTH = 16
_ITERATIONS = 20_000
_SPECIALS = set(string.punctuation) | {" "}


def check_policy(password: str, field: str, group_min_length: int = MIN_LENGTH) -> None:
    """Seed 002: 8-16 characters (minimum raised by the group), lower, upper, digit, special."""
    low = max(MIN_LENGTH, group_min_length)
    problems: list[str] = []
    if not isinstance(password, str):
        raise PasswordPolicyViolation.field(field, "must be a string")
    if not low <= len(password) <= MAX_LENGTH:
        problems.append(f"must be {low} to {MAX_LENGTH} characters long")
    if not any(c.islower() for c in password):
        problems.append("needs a lowercase letter")
    if not any(c.isupper() for c in password):
        problems.append("needs an uppercase letter")
    if not any(c.isdigit() for c in password):
        problems.append("needs a digit")
    if not any(c in _SPECIALS or not c.isalnum() for c in password):
        problems.append("needs a special character such as # @ !")
    if problems:
        raise PasswordPolicyViolation.field(field, "; ".join(problems))


def check_change_policy(password: str, field: str, group_min_length: int = MIN_LENGTH) -> None:
    """A new password for an existing account (MT5 USER_PASS_CHANGE): the group's minimum
    length (never below 8) up to 16 characters, with at least two of lower case, upper case and
    digits."""
    low = max(MIN_LENGTH, group_min_length)
    problems: list[str] = []
    if not isinstance(password, str):
        raise PasswordPolicyViolation.field(field, "must be a string")
    if not low <= len(password) <= MAX_LENGTH:
        problems.append(f"must be {low} to {MAX_LENGTH} characters long")
    classes = (
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
    )
    if sum(classes) < 2:
        problems.append("needs two of: a lowercase letter, an uppercase letter, a digit")
    if problems:
        raise PasswordPolicyViolation.field(field, "; ".join(problems))


MD5_FORM_MAX = 64


def check_md5_form(value: str, field: str) -> None:
    """A password hash sent in place of a password (cTrader's hashedPassword): printable
    ASCII without spaces, at most 64 characters. Real clients send MD5 hex; seed 003's own
    examples send 34 characters that are not hex, so the form is all that is checked."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MD5_FORM_MAX
        or not all("!" <= c <= "~" for c in value)
    ):
        raise PasswordPolicyViolation.field(
            field, f"must be the password's MD5: 1 to {MD5_FORM_MAX} printable characters"
        )


def md5_hex(password: str) -> str:
    return hashlib.md5(password.encode("utf-8")).hexdigest()


def make_verifier(password: str) -> str:
    return verifier_from_md5(md5_hex(password))


def verifier_from_md5(md5hex: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", md5hex.lower().encode(), salt, _ITERATIONS)
    return f"pbkdf2_sha256${_ITERATIONS}${salt.hex()}${digest.hex()}"


def verify_md5(verifier: str | None, md5hex: str) -> bool:
    if not verifier:
        return False
    try:
        scheme, iterations, salt, digest = verifier.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    candidate = hashlib.pbkdf2_hmac(
        "sha256", md5hex.lower().encode(), bytes.fromhex(salt), int(iterations)
    )
    return same(candidate.hex(), digest)


def verify(verifier: str | None, password: str) -> bool:
    return verify_md5(verifier, md5_hex(password))


def mt5_webapi_hash(password: str) -> str:
    """What the MT5 Web API handshake needs of a manager's password, never the password itself:
    hex(MD5(MD5(UTF-16LE(password)) || "WebAPI")). The server answers `srv_rand` challenges
    with it (spec: mt5-webapi.md 2.2)."""
    inner = hashlib.md5(password.encode("utf-16-le")).digest()
    return hashlib.md5(inner + b"WebAPI").hexdigest()


def mt5_challenge_answer(webapi_hash: bytes, challenge: bytes) -> str:
    """The MT5 Web API handshake's answer to a 16-byte challenge, both ways (srv_rand_answer,
    cli_rand_answer): hex(MD5(webapi_hash || challenge)), lower case (spec 2.2)."""
    return hashlib.md5(webapi_hash + challenge).hexdigest()

"""Time-based one-time passwords (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps), the sealing of a
TOTP secret at rest, and recovery codes; pure functions, no storage.

A secret is sealed with AES-256-GCM under a key derived (HKDF-SHA-256, its own label) from an
audit key of the keyring that lives outside the database (auditkeys.py): a database dump alone
reveals no secret, a secret moved to another manager's row does not open (the manager's login
is the associated data), and a rotated keyring still opens secrets sealed under its older keys
(the sealed text names its key by the audit key's public id).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from brokerplane.core.audit.model import AuditKey, AuditKeys

DIGITS = 6
PERIOD = 30
SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends for HMAC-SHA-1
DRIFT = 1  # steps accepted either side of now
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_RECOVERY_LENGTH = 10  # ~49 bits each
_SEAL_FORMAT = "v1"
_HKDF_INFO = b"brokerplane totp secret v1"


class SealError(Exception):
    """A sealed secret cannot be opened: its key is not in the keyring, or it was altered."""


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def b32(secret: bytes) -> str:
    """The secret as authenticator apps take it: base32, no padding."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def step_at(at: datetime | float) -> int:
    seconds = at.timestamp() if isinstance(at, datetime) else at
    return int(seconds // PERIOD)


def code_at_step(secret: bytes, step: int, digits: int = DIGITS) -> str:
    """RFC 4226's HOTP value for counter `step` (RFC 6238: the step is the counter)."""
    digest = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def code_at(secret: bytes, at: datetime | float, digits: int = DIGITS) -> str:
    return code_at_step(secret, step_at(at), digits)


def normal_code(text: object) -> str | None:
    """A code as typed (spaces allowed) as its digits; None when it is not 6 digits."""
    if not isinstance(text, str) or len(text) > 32:
        return None
    digits = "".join(text.split())
    if len(digits) != DIGITS or not (digits.isascii() and digits.isdigit()):
        return None
    return digits


def matching_step(secret: bytes, code: str, at: datetime, drift: int = DRIFT) -> int | None:
    """The step (now, or `drift` steps either side) whose code is `code`; None: no match.
    Every candidate is compared, in constant time, whichever matches."""
    now = step_at(at)
    found: int | None = None
    for step in range(now - drift, now + drift + 1):
        if hmac.compare_digest(code_at_step(secret, step).encode(), code.encode()):
            found = step if found is None else found
    return found


def otpauth_uri(secret: bytes, account: str, issuer: str) -> str:
    """The Key URI authenticator apps read from a QR code (otpauth://totp/...)."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode(
        {
            "secret": b32(secret),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": PERIOD,
        }
    )
    return f"otpauth://totp/{label}?{query}"


# ---- sealing ---------------------------------------------------------------------------------


def _derived(key: AuditKey) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(key.secret)


def seal(secret: bytes, login: int, keys: AuditKeys) -> str:
    """`v1:<audit key id>:<base64 nonce + ciphertext>`, bound to the manager's login."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_derived(keys.current)).encrypt(nonce, secret, _aad(login))
    body = base64.b64encode(nonce + sealed).decode("ascii")
    return f"{_SEAL_FORMAT}:{keys.current.id}:{body}"


def open_sealed(text: str, login: int, keys: AuditKeys) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    parts = text.split(":")
    if len(parts) != 3 or parts[0] != _SEAL_FORMAT:
        raise SealError("the stored TOTP secret is not in a known format")
    key = keys.find(parts[1])
    if key is None:
        raise SealError(f"the TOTP secret is sealed with audit key {parts[1]}, not in the keyring")
    try:
        raw = base64.b64decode(parts[2], validate=True)
        return AESGCM(_derived(key)).decrypt(raw[:12], raw[12:], _aad(login))
    except (InvalidTag, ValueError):
        raise SealError("the stored TOTP secret does not open: it was altered") from None


def _aad(login: int) -> bytes:
    return f"brokerplane totp manager:{login}".encode()


# ---- recovery codes --------------------------------------------------------------------------


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Codes shown once, as `xxxxx-xxxxx`."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normal_recovery_code(text: object) -> str | None:
    """A recovery code as typed (any case, spaces or dashes anywhere) as its letters; None
    when it cannot be one."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    raw = "".join(c for c in text.lower() if c not in " -\t")
    if len(raw) != _RECOVERY_LENGTH or any(c not in _RECOVERY_ALPHABET for c in raw):
        return None
    return raw


_SALT_BYTES = 12


def _recovery_digest(login: int, normal: str, salt: bytes) -> bytes:
    return hashlib.sha256(b"brokerplane recovery %d\n" % login + salt + normal.encode()).digest()


def recovery_hash(login: int, normal: str) -> str:
    """How a recovery code is stored: `<salt>$<digest>` (base64url), SHA-256 over a random salt
    of its own, the manager's login and the code (the codes are random, ~49 bits each, so a
    fast hash is enough; the salt keeps equal codes from having equal hashes, and no table of
    hashes serves two codes). 60 characters."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _recovery_digest(login, normal, salt)
    return f"{_b64(salt)}${_b64(digest)}"


def recovery_matches(login: int, normal: str, stored: Sequence[str]) -> str | None:
    """Which stored hash `normal` is (None: none); every hash is compared, in constant time,
    whatever matches."""
    found: str | None = None
    for text in stored:
        salt_text, _, digest_text = text.partition("$")
        try:
            salt = base64.urlsafe_b64decode(salt_text + "=" * (-len(salt_text) % 4))
        except ValueError:
            continue
        candidate = _b64(_recovery_digest(login, normal, salt))
        if hmac.compare_digest(candidate.encode(), digest_text.encode()) and found is None:
            found = text
    return found


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class Enrolment:
    """What the enrolling manager is shown: the secret as text and as an otpauth:// URI."""

    secret: str
    uri: str

"""Webhook secrets at rest: sealed with AES-256-GCM under a key derived (HKDF-SHA-256, a label
of its own) from the current audit key, the keyring that lives outside the database
(auditkeys.py), as TOTP secrets are (core/access/totp.py). A database dump or backup alone
then reveals no secret a forger could sign deliveries with.

The sealed text is `sealed:v1:<audit key id>:<base64 nonce + ciphertext>`: it names its key,
so a keyring rotated with `brokerplane audit rotate-key` (which keeps the old keys) still opens
it. A secret stored before sealing existed (or with no keyring configured) is plain text; a
secret a subscription is given may not begin with `sealed:`, so the two never mix up.
"""

from __future__ import annotations

import base64
import secrets

from brokerplane.core.audit.model import AuditKey, AuditKeys

PREFIX = "sealed:"
_FORMAT = "sealed:v1"
_HKDF_INFO = b"brokerplane webhook secret v1"
_AAD = b"brokerplane webhook secret"


class SealError(Exception):
    """A sealed secret that this keyring cannot open (another database's, or altered)."""


def _derived(key: AuditKey) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(key.secret)


def seal(secret: str, keys: AuditKeys | None) -> str:
    """The secret as stored: sealed under the keyring's current key (as is without a keyring)."""
    if keys is None:
        return secret
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_derived(keys.current)).encrypt(nonce, secret.encode(), _AAD)
    return f"{_FORMAT}:{keys.current.id}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def open_secret(stored: str, keys: AuditKeys | None) -> str:
    """The secret to sign with, from what is stored (plain text stored before sealing is
    returned as it is); SealError when it is sealed and this keyring cannot open it."""
    if not is_sealed(stored):
        return stored
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    parts = stored.split(":")
    if len(parts) != 4 or f"{parts[0]}:{parts[1]}" != _FORMAT:
        raise SealError("the stored webhook secret is not in a known format")
    key = keys.find(parts[2]) if keys is not None else None
    if key is None:
        raise SealError(
            f"the webhook secret is sealed with audit key {parts[2]}, not in the keyring: "
            "restore the keyring, or set a new secret on the subscription"
        )
    try:
        raw = base64.b64decode(parts[3], validate=True)
        return AESGCM(_derived(key)).decrypt(raw[:12], raw[12:], _AAD).decode()
    except (InvalidTag, ValueError):
        raise SealError("the stored webhook secret does not open: it was altered") from None

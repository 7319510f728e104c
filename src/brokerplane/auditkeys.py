"""The audit keyring outside the database: loading, first-start generation, rotation, and the
signed checkpoints of the chain's head.

The keyring is a file (`BROKERPLANE_AUDIT_KEY_FILE`, default `<data dir>/audit.key`, mode 0600)
or the `BROKERPLANE_AUDIT_KEY` variable. The file's lines:

    key <hex or base64>      the first one seals new records; every one verifies its own
    legacy-until <id>        records up to this id were sealed before the chain had a key

A checkpoint is a small JSON statement of the chain's head (record id, hash, counts, ledger
totals) signed with an Ed25519 key derived from the audit key, so anyone holding the file can
check its signature without the secret, and `audit verify --checkpoint` can prove the chain
still holds that head unchanged.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brokerplane.core.audit.model import AuditKey, AuditKeys

if TYPE_CHECKING:  # cryptography is imported by the checkpoint functions, when they run
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_BYTES = 32
CHECKPOINT_FORMAT = "brokerplane.audit.checkpoint/1"
_HEADER = (
    "# brokerplane audit keyring: the first key seals new audit records, every key verifies.\n"
    "# Keep it secret (mode 0600) and back it up apart from the database: without it the audit\n"
    "# chain cannot be verified or extended. `brokerplane audit rotate-key` adds a new key.\n"
)


class AuditKeyError(Exception):
    """The audit key is missing, unreadable or does not belong to the database's chain."""


def parse_secret(text: str, where: str) -> bytes:
    """A key written as hex (64 digits) or base64; at least 16 bytes."""
    text = text.strip()
    raw: bytes | None = None
    if len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text):
        raw = bytes.fromhex(text)
    else:
        with contextlib.suppress(binascii.Error, ValueError):
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    if raw is None or len(raw) < 16:
        raise AuditKeyError(f"{where}: an audit key is hex or base64 of at least 16 bytes")
    return raw


@dataclass(frozen=True)
class Keyring:
    """The loaded keys and where they came from."""

    keys: AuditKeys
    source: str
    path: Path | None = None  # the file, when they came from one
    created: bool = False  # made just now, by this process

    def announcement(self) -> str:
        """One line for the operator when the key was just made."""
        return (
            f"made the audit key {self.keys.current.id} in {self.source} (mode 0600): back it "
            "up apart from the database; without it the audit chain cannot be verified"
        )


def read_file(path: Path) -> Keyring:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuditKeyError(f"audit key file {path}: {exc.strerror or exc}") from None
    keys: list[AuditKey] = []
    legacy: int | None = None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        where = f"audit key file {path}, line {number}"
        if word == "legacy-until" and rest.strip().isdigit():
            legacy = int(rest.strip())
        elif word == "key" and rest.strip():
            keys.append(AuditKey(parse_secret(rest, where)))
        elif not rest:
            keys.append(AuditKey(parse_secret(word, where)))  # a bare key, e.g. openssl rand
        else:
            raise AuditKeyError(f"{where}: expected `key <hex>` or `legacy-until <id>`")
    if not keys:
        raise AuditKeyError(f"audit key file {path} holds no key")
    return Keyring(AuditKeys(keys[0], tuple(keys[1:]), legacy), str(path), path)


def from_env(value: str, legacy_until: int | None = None) -> Keyring:
    """BROKERPLANE_AUDIT_KEY: one key, or a comma list whose first key seals.

    `legacy_until` (BROKERPLANE_AUDIT_LEGACY_UNTIL): the newest record sealed before the chain
    had a key. Unset, no unkeyed record is accepted at all: otherwise a chain rewritten whole
    with plain SHA-256 would pass as "legacy"."""
    parts = [p for p in (s.strip() for s in value.split(",")) if p]
    if not parts:
        raise AuditKeyError("BROKERPLANE_AUDIT_KEY is set but empty")
    keys = [AuditKey(parse_secret(p, "BROKERPLANE_AUDIT_KEY")) for p in parts]
    legacy = legacy_until if legacy_until is not None else 0
    return Keyring(AuditKeys(keys[0], tuple(keys[1:]), legacy), "BROKERPLANE_AUDIT_KEY")


def load(env_value: str | None, path: Path, legacy_until: int | None = None) -> Keyring | None:
    """The keyring from the variable, else from the file; None when neither exists."""
    if env_value is not None and env_value.strip():
        return from_env(env_value, legacy_until)
    if path.exists():
        return read_file(path)
    return None


def _render(keys: AuditKeys) -> str:
    lines = [_HEADER]
    lines += [f"key {k.secret.hex()}\n" for k in (keys.current, *keys.keys)]
    if keys.legacy_until is not None:
        lines.append(f"legacy-until {keys.legacy_until}\n")
    return "".join(lines)


def _private_dir(directory: Path, *, tighten: bool) -> None:
    """Create the directory owner-only; with `tighten`, also take group and others' access away
    from an existing one, if it is ours and not a shared (sticky) directory such as /tmp."""
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700)
        return
    info = directory.stat()
    mode = stat.S_IMODE(info.st_mode)
    shared = mode & stat.S_ISVTX or info.st_uid != os.geteuid()
    if tighten and mode & 0o077 and not shared:
        os.chmod(directory, mode & 0o700)


def _write_new(path: Path, text: str) -> None:
    """Write the file with mode 0600; fails if it exists (another process made it first)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def generate(path: Path, legacy_until: int, *, tighten_dir: bool = False) -> Keyring:
    """A new keyring file with one fresh key; records up to `legacy_until` stay unkeyed.
    `tighten_dir`: the file's directory is brokerplane's own (the data dir): make it 0700.

    Written whole under a private name, then linked into place, which fails when a process
    starting alongside made the file first: that one is then used, never half a file."""
    _private_dir(path.parent, tighten=tighten_dir)
    keys = AuditKeys(AuditKey(secrets.token_bytes(KEY_BYTES)), (), legacy_until)
    spare = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    _write_new(spare, _render(keys))
    try:
        os.link(spare, path)
    except FileExistsError:
        return read_file(path)
    finally:
        spare.unlink()
    return Keyring(keys, str(path), path, created=True)


def rotate(ring: Keyring) -> Keyring:
    """A new sealing key first in the file; the old keys stay, to verify their records."""
    if ring.path is None:
        raise AuditKeyError(
            "the audit key comes from BROKERPLANE_AUDIT_KEY: put a new key first in it "
            "(comma list: new,old) and restart; `brokerplane audit rotate-key` rotates key files"
        )
    old = ring.keys
    keys = AuditKeys(
        AuditKey(secrets.token_bytes(KEY_BYTES)), (old.current, *old.keys), old.legacy_until
    )
    spare = ring.path.with_name(ring.path.name + ".new")
    with contextlib.suppress(FileNotFoundError):
        spare.unlink()
    _write_new(spare, _render(keys))
    os.replace(spare, ring.path)
    return Keyring(keys, ring.source, ring.path)


# --------------------------------------------------------------------------- checkpoints


def signing_key(key: AuditKey) -> Ed25519PrivateKey:
    """The Ed25519 key of checkpoints, derived from the audit key (one secret to keep)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = hmac.new(key.secret, b"brokerplane audit checkpoint", hashlib.sha256).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_text(key: AuditKey) -> str:
    raw = signing_key(key).public_key().public_bytes_raw()
    return base64.b64encode(raw).decode()


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign_checkpoint(
    key: AuditKey,
    head: tuple[int, str],
    records: int,
    legacy: int,
    ledger: dict[str, dict[str, int]],
    made_at: datetime,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "record": head[0],
        "hash": head[1],
        "records": records,
        "legacy_records": legacy,
        "ledger": ledger,
        "made_at": made_at.isoformat().replace("+00:00", "Z"),
        "key_id": key.id,
        "public_key": public_key_text(key),
    }
    signature = signing_key(key).sign(_canonical(body))
    return {**body, "signature": base64.b64encode(signature).decode()}


@dataclass(frozen=True)
class Checkpoint:
    record: int
    hash: str
    records: int
    made_at: str
    key_id: str
    public_key: str
    ledger: dict[str, dict[str, int]]


def read_checkpoint(text: str, keys: AuditKeys | None) -> Checkpoint:
    """Parse a checkpoint and check its signature (and, when this keyring holds the key that
    signed it, that it is this plane's key); AuditKeyError says what is wrong."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not a {CHECKPOINT_FORMAT} statement")
        body = {k: v for k, v in data.items() if k != "signature"}
        signature = base64.b64decode(str(data["signature"]), validate=True)
        public = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(str(data["public_key"]), validate=True)
        )
        point = Checkpoint(
            int(data["record"]),
            str(data["hash"]),
            int(data["records"]),
            str(data["made_at"]),
            str(data["key_id"]),
            str(data["public_key"]),
            dict(data.get("ledger") or {}),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise AuditKeyError(f"the checkpoint cannot be read: {exc}") from None
    try:
        public.verify(signature, _canonical(body))
    except InvalidSignature:
        raise AuditKeyError(
            "the checkpoint's signature does not verify: the statement was altered"
        ) from None
    if keys is not None:
        own = keys.find(point.key_id)
        if own is None:
            raise AuditKeyError(
                f"the checkpoint was signed with audit key {point.key_id}, which is not in this "
                "database's keyring"
            )
        if public_key_text(own) != point.public_key:
            raise AuditKeyError(
                f"the checkpoint names audit key {point.key_id} but was not signed with it"
            )
    return point

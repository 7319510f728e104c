"""Idempotency: a request id is applied at most once; repeats replay the stored answer.

A write carrying a client request id *claims* the id (in a short transaction of its own, so a
concurrent repeat sees it in flight; or first thing in the command's own transaction, so a
repeat waits for the first to commit and replays it), then runs its command; the command's
transaction also stores the answer and marks the claim done, so "applied" and "remembered"
commit together. A failed command releases its claim and nothing is remembered. A claim whose
lease ran out (its process died) may be taken over; the late original then fails to complete
and rolls back, so even then the command applies once.

The answer stored is data: the command's result (application.answers), rendered by the dialect
after the commit, whether fresh or replayed. Records stored before answers were data hold the
dialect's rendered response instead (`StoredResponse.status` set); they are replayed as sent.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from brokerplane.core.account.model import PERSONAL_FIELDS, blank_personal
from brokerplane.core.errors import AlreadyApplied, RequestInFlight, ValidationError

MAX_KEY = 127


@dataclass
class IdempotencyRecord:
    scope: str
    key: str
    fingerprint: str
    token: str
    created_at: datetime
    lease_until: datetime
    expires_at: datetime
    state: str = "pending"
    status: int | None = None
    body: str | None = None
    operation_id: str | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class Claim:
    """This request holds the key; `token` proves it when completing or releasing."""

    scope: str
    key: str
    fingerprint: str
    token: str


@dataclass(frozen=True)
class StoredResponse:
    """A done record's answer. `status` None: `body` is the command's result as data
    (application.answers). Otherwise a record from before answers were data: the dialect's
    rendered response (`status`, `body`) and the operation it named."""

    status: int | None
    body: str
    operation_id: str | None = None

    @property
    def is_data(self) -> bool:
        return self.status is None


@dataclass(frozen=True)
class ClaimRequest:
    """A request id to claim inside the command's own transaction."""

    scope: str
    key: str
    fingerprint: str
    field: str = "x-request-id"


class Replayed(Exception):  # not an error: the answer of an earlier use
    """The request id was used before for the same request: `stored` is its answer."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("replayed")
        self.stored = stored


class Viewer(Protocol):
    """Whoever a stored answer is replayed to (an Actor)."""

    def has(self, scope: str) -> bool: ...


def as_seen_by(stored: StoredResponse, viewer: Viewer) -> StoredResponse:
    """A stored JSON answer as `viewer` may see it when replayed: without `personal_data` (the
    same manager through another key, say) the personal fields read as empty, as a read would
    show them. An answer with none of them set, or not a JSON object, is replayed as stored."""
    if viewer.has("personal_data"):
        return stored
    try:
        body = json.loads(stored.body)
    except ValueError:
        return stored
    if not isinstance(body, dict) or not any(body.get(f) for f in PERSONAL_FIELDS):
        return stored
    redacted = json.dumps(
        blank_personal(body), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )
    return replace(stored, body=redacted)


class IdempotencyStore(Protocol):
    def get(
        self, scope: str, key: str, *, for_update: bool = False
    ) -> IdempotencyRecord | None: ...

    def insert(self, record: IdempotencyRecord, *, lazy_commit: bool = True) -> bool:
        """Add a new record; False (and nothing written) when the key is already there.
        `lazy_commit`: the claim has a transaction of its own, whose commit need not wait
        for the disk (the command's durable commit comes later); never inside a command."""
        ...

    def replace(self, record: IdempotencyRecord, *, lazy_commit: bool = True) -> None: ...

    def complete(self, claim: Claim, response: StoredResponse, at: datetime) -> bool:
        """Mark the claim done with its response; False when the claim is no longer held."""
        ...

    def release(self, claim: Claim) -> None: ...

    def purge(self, now: datetime) -> int: ...


def check_key(key: str, field: str = "x-request-id") -> str:
    """A usable key; `field` names where the caller sent it (a header, an external id...)."""
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ValidationError.field(field, f"must be 1 to {MAX_KEY} printable characters")
    return key


def already_applied(
    key: str, operation_id: str | None, status: int | None, earlier: StoredResponse | None = None
) -> AlreadyApplied:
    """The refusal of a key used before for a different request, naming the earlier operation
    and its status as the dialect that answered it showed them (for an answer stored as data,
    the dialect labels it after the fact from `earlier`, see api.kit.idempotency)."""
    err = AlreadyApplied(
        f"request id {key} was already used for a different request"
        + (f" (operation {operation_id})" if operation_id else "")
        + "; nothing was applied",
        key=key,
        operation_id=operation_id,
        original_status=status,
    )
    err.earlier = earlier
    return err


def claim(
    store: IdempotencyStore,
    scope: str,
    key: str,
    fingerprint: str,
    now: datetime,
    *,
    retention: timedelta,
    lease: timedelta,
    field: str = "x-request-id",
    lazy_commit: bool = True,
) -> Claim | StoredResponse:
    """Claim `key` for a new request, or answer how an earlier use of it stands.
    `lazy_commit=False` when claiming inside the command's own transaction."""
    check_key(key, field)
    for _ in range(2):
        fresh = IdempotencyRecord(
            scope=scope,
            key=key,
            fingerprint=fingerprint,
            token=secrets.token_hex(16),
            created_at=now,
            lease_until=now + lease,
            expires_at=now + retention,
        )
        held = Claim(scope, key, fingerprint, fresh.token)
        if store.insert(fresh, lazy_commit=lazy_commit):  # a new key: one write, no read
            return held
        existing = store.get(scope, key, for_update=True)
        if existing is None:
            continue  # released since the insert found it: try again
        if existing.expires_at <= now:
            store.replace(fresh, lazy_commit=lazy_commit)
            return held
        if existing.state == "done":
            assert existing.body is not None
            stored = StoredResponse(existing.status, existing.body, existing.operation_id)
            if existing.fingerprint != fingerprint:
                raise already_applied(key, existing.operation_id, existing.status, stored)
            return stored
        if existing.lease_until > now:
            wait = max(1, int((existing.lease_until - now).total_seconds() + 0.999))
            raise RequestInFlight(key, retry_after=min(wait, 5))
        store.replace(fresh, lazy_commit=lazy_commit)  # the holder's lease ran out
        return held
    raise RequestInFlight(key)

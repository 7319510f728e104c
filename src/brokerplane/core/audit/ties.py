"""Tying the rows that grant power or hold history to their audit records: every manager, API
key and approval must be what its newest audit record says it is.

A database writer can insert an admin API key with a secret of their choosing, widen a
manager's rights, or rewrite who requested or decided an approval; none of that passes through
the commands that write audit records, so the newest record of the row says otherwise (or there
is none). Fields an older record does not carry (written before they were recorded) are not
compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from brokerplane.core.access.model import ApiKey, Manager, secret_digest, verifiers_digest
from brokerplane.core.approval.model import Approval

# (entity type, entity id) -> (record id, action, after)
Latest = dict[tuple[str, str], tuple[int, str, dict[str, Any] | None]]

TIED_TYPES = ("manager", "api_key", "approval")


def latest_snapshots(
    rows: Iterable[tuple[int, str, str, str, dict[str, Any] | None, int | None]],
) -> Latest:
    """The newest record of each entity, from records streamed in id order."""
    latest: Latest = {}
    for rid, action, entity_type, entity_id, after, _manager in rows:
        latest[(entity_type, entity_id)] = (rid, action, after)
    return latest


def _when(value: object) -> object:
    """A time as stored or as recorded (ISO text), made comparable."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def _compare(what: str, rid: int, after: dict[str, Any], has: dict[str, object]) -> Iterator[str]:
    for name, value in has.items():
        if name not in after:
            continue  # an older record, written before the field was recorded
        said = after[name]
        if name.endswith("_at"):
            value, said = _when(value), _when(said)
        if said != value:
            yield f"{what}: {name} is {value!r}, its audit record {rid} says {said!r}"


def _newest(latest: Latest, entity_type: str, entity_id: str, what: str) -> Any:
    found = latest.get((entity_type, entity_id))
    if found is None:
        return f"{what} has no audit record (written behind the audit trail's back?)"
    rid, action, after = found
    if after is None:
        return f"{what} exists, but its audit record {rid} ({action}) says it is gone"
    return rid, after


def check_managers(managers: Iterable[Manager], latest: Latest) -> Iterator[str]:
    for m in managers:
        what = f"manager {m.login}"
        found = _newest(latest, "manager", str(m.login), what)
        if isinstance(found, str):
            yield found
            continue
        rid, after = found
        yield from _compare(
            what,
            rid,
            after,
            {
                "enabled": m.enabled,
                "rights": sorted(m.rights),
                "group_mask": m.group_mask,
                "white_labels": m.white_labels,
                "verifiers_digest": verifiers_digest(m.verifiers),
            },
        )
        said = after.get("password", False)
        if said is not False and (said is None) == bool(m.verifiers):
            has = "set" if m.verifiers else "none"
            yield f"{what}: password is {has}, its audit record {rid} says {said!r}"


def check_api_keys(keys: Iterable[ApiKey], latest: Latest) -> Iterator[str]:
    for k in keys:
        what = f"API key {k.id} (manager {k.manager_login})"
        found = _newest(latest, "api_key", k.id, what)
        if isinstance(found, str):
            yield found
            continue
        rid, after = found
        yield from _compare(
            what,
            rid,
            after,
            {
                "manager_login": k.manager_login,
                "prefix": k.prefix,
                "scopes": sorted(k.scopes),
                "expires_at": k.expires_at,
                "revoked_at": k.revoked_at,
                "parent_key_id": k.parent_key_id,
                "replaced_by": k.replaced_by,
                "secret_digest": secret_digest(k.secret_hash),
            },
        )


def check_approvals(approvals: Iterable[Approval], latest: Latest) -> Iterator[str]:
    for a in approvals:
        what = f"approval {a.id} (account {a.login})"
        found = _newest(latest, "approval", str(a.id), what)
        if isinstance(found, str):
            yield found
            continue
        rid, after = found
        yield from _compare(
            what,
            rid,
            after,
            {
                "login": a.login,
                "kind": a.kind,
                "amount": a.amount,
                "currency": a.currency,
                "currency_digits": a.currency_digits,
                "state": a.state,
                "requested_by": a.requested_by,
                "decided_by": a.decided_by,
                "decision_comment": a.decision_comment,
                "entry_id": a.entry_id,
                "comment": a.comment,
                "reference": a.reference,
            },
        )

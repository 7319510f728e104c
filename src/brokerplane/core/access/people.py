"""Whose will a request carries (for four eyes): its manager and the managers behind its key."""

from __future__ import annotations

from brokerplane.core.actor import Actor
from brokerplane.core.ports import UnitOfWork

# How far people_behind follows a key's ancestry (lineage is far shallower in practice).
MAX_LINEAGE = 64


def people_behind(uow: UnitOfWork, actor: Actor) -> frozenset[int]:
    """Every manager whose will a request carries: the actor's manager and, for a request made
    with a key, the manager who minted that key (created or rotated it) and, through the keys
    that minted it, their managers and minters. Four eyes need the requester to be none of
    them: a key minted by one manager for another is still the first manager's hand."""
    people = {actor.manager_login} if actor.manager_login is not None else set()
    key_id: str | None = actor.key_id
    seen: set[str] = set()
    while key_id is not None and key_id not in seen and len(seen) < MAX_LINEAGE:
        seen.add(key_id)
        key = uow.api_keys.get(key_id)
        if key is None:
            break
        people.add(key.manager_login)
        if key.created_by is not None:
            people.add(key.created_by)
        key_id = key.parent_key_id
    return frozenset(people)


def people_text(people: frozenset[int]) -> str:
    """`people` as stored beside a request: the sorted logins, comma-separated."""
    return ",".join(str(login) for login in sorted(people))


def people_of(text: str | None, fallback: int | None) -> frozenset[int]:
    """The people stored by people_text; rows from before they were stored: just `fallback`."""
    if text:
        return frozenset(int(login) for login in text.split(","))
    return frozenset() if fallback is None else frozenset({fallback})

"""What managing managers and keys takes: admin and unlimited reach, known scopes, sound masks."""

from __future__ import annotations

from brokerplane.core import masks
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.errors import PermissionDenied, ValidationError


def check_scopes(field: str, scopes: frozenset[str]) -> None:
    unknown = sorted(scopes - set(SCOPES))
    if unknown:
        raise ValidationError.field(field, "unknown: " + ", ".join(unknown))


MASK_MAX = masks.MAX_LENGTH


def check_mask(field: str, mask: object) -> str:
    """A well-formed MT5-style mask: comma-separated names with `*` wildcards and `!` negation,
    within the limits of core.masks (InvalidMask beyond them)."""
    if not isinstance(mask, str) or not mask.strip():
        raise ValidationError.field(field, "must be a mask such as * or demo\\*,!demo\\vip")
    if len(mask) > MASK_MAX or not mask.isprintable():
        raise ValidationError.field(field, f"must be printable and at most {MASK_MAX} characters")
    masks.parse(mask, field)
    for raw in mask.split(","):
        part = raw.strip()
        if part.startswith("!"):
            part = part[1:].strip()
        if not part or "!" in part:
            raise ValidationError.field(field, f"has an empty or malformed part in {mask!r}")
    return mask.strip()


def require_manager_admin(actor: Actor) -> None:
    """Managing managers needs admin and unlimited reach: a manager of limited reach could
    otherwise widen its own reach or mint an unlimited manager."""
    actor.require("admin")
    if not actor.unlimited_reach:
        raise PermissionDenied("managing managers needs unlimited reach (groups and brokers *)")

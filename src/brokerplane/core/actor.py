"""Actor: who performs a command, through which credential, dialect and request."""

from __future__ import annotations

from dataclasses import dataclass, field

from brokerplane.core import masks
from brokerplane.core.errors import MissingScope, ReachTooNarrow
from brokerplane.core.kinds import Dialect

# Scopes a native API key may hold; the access issue gives managers the same names as rights.
SCOPES: tuple[str, ...] = (
    "users:read",
    "users:write",
    "users:delete",
    "balances:write",
    "balances:approve",
    "reports:read",
    "trades:write",
    "quotes:write",
    "personal_data",
    "metrics:read",
    "admin",
)


@dataclass(frozen=True)
class Actor:
    """The authenticated principal of one request; every audit record names it."""

    manager_login: int | None
    scopes: frozenset[str] = field(default_factory=frozenset)
    key_id: str | None = None
    operator_id: str | None = None
    request_id: str | None = None
    dialect: Dialect = Dialect.SYSTEM
    ip: str | None = None
    # Reach: the groups (MT5-style mask) and white labels (broker names, a mask too) the
    # manager may see and touch; "*" is everything.
    group_mask: str = "*"
    white_labels: str = "*"

    def has(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    def require(self, scope: str) -> None:
        if not self.has(scope):
            raise MissingScope(scope)

    @property
    def unlimited_reach(self) -> bool:
        return self.group_mask.strip() == "*" and self.white_labels.strip() == "*"

    def require_unlimited(self, what: str) -> None:
        """`what` affects accounts of every group and white label: only unlimited reach may."""
        if not self.unlimited_reach:
            raise ReachTooNarrow(what)

    def reaches_group(self, group: str) -> bool:
        return masks.parse(self.group_mask, "groups").admits(group)

    def reaches(self, group: str, broker: str) -> bool:
        """Whether an account in `group` under white label `broker` is within reach."""
        if not self.reaches_group(group):
            return False
        return self.white_labels.strip() == "*" or masks.parse(self.white_labels, "brokers").admits(
            broker
        )

    def require_any(self, *scopes: str) -> None:
        """Any one of `scopes` will do (e.g. history for finance or for reporting keys)."""
        if not any(self.has(s) for s in scopes):
            raise MissingScope(" or ".join(scopes))


def system_actor(operator_id: str = "brokerplane-cli", dialect: Dialect = Dialect.CLI) -> Actor:
    """The actor of commands run by an operator from the command line (or by the server)."""
    return Actor(
        manager_login=None, scopes=frozenset({"admin"}), operator_id=operator_id, dialect=dialect
    )

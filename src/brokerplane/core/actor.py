"""Actor: who performs a command, through which credential, dialect and request; and the one
declaration of the scopes each command (and read) needs (`needs`, read back by `scopes_of`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

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

T = TypeVar("T", bound=type)

# Each command class (and read) to the scopes it needs: filled by `needs` as the classes are
# defined, so the class is the one place a command's scopes are named.
_NEEDS: dict[type, tuple[str, ...]] = {}


def needs(*scopes: str) -> Callable[[T], T]:
    """Declare on a command (or read) class the scopes that let an actor run it: any one of
    them, and `admin` opens everything. No scope at all: any caller may ask (a sign-in, a key
    acting on its own manager), and the command's rule checks who the caller is itself.

    The application layer checks the declaration before it runs a command or replays its
    answer; the dialects read it (scopes_of) and never name a command's scope themselves."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"not scopes: {', '.join(unknown)}")

    def declare(cls: T) -> T:
        _NEEDS[cls] = scopes
        return cls

    return declare


def scopes_of(command: object) -> tuple[str, ...]:
    """The scopes declared for `command` (an instance or its class), any one of which admits;
    LookupError when its class declares none (a command without a declaration is a bug)."""
    cls = command if isinstance(command, type) else type(command)
    found = _NEEDS.get(cls)
    if found is None:
        raise LookupError(f"{cls.__name__} declares no scope (core.actor.needs)")
    return found


def parts_of(command: object) -> tuple[type, ...]:
    """The command classes an instance of `command` also runs (its `parts()`, when its class
    has one: an opening with a starting balance also posts a deposit), whose scopes it needs
    too. A class alone names none: what it runs depends on the instance."""
    if isinstance(command, type):
        return ()
    parts = getattr(command, "parts", None)
    return tuple(parts()) if callable(parts) else ()


def declares_scopes(command: object) -> bool:
    """Whether `command`'s class (or `command`, a class) carries a scope declaration."""
    return (command if isinstance(command, type) else type(command)) in _NEEDS


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

    def may(self, command: object) -> bool:
        """Whether the scopes `command`'s class declares (needs) let this actor run it, and
        those of the commands it also runs (`parts_of`)."""
        scopes = scopes_of(command)
        if scopes and not any(self.has(s) for s in scopes):
            return False
        return all(self.may(part) for part in parts_of(command))

    def require_for(self, command: object) -> None:
        """The scopes `command`'s class declares (needs), then those of the commands it also
        runs (`parts_of`): MissingScope unless one of each is held."""
        scopes = scopes_of(command)
        if len(scopes) == 1:
            self.require(scopes[0])
        elif scopes:
            self.require_any(*scopes)
        for part in parts_of(command):
            self.require_for(part)


def system_actor(operator_id: str = "brokerplane-cli", dialect: Dialect = Dialect.CLI) -> Actor:
    """The actor of commands run by an operator from the command line (or by the server)."""
    return Actor(
        manager_login=None, scopes=frozenset({"admin"}), operator_id=operator_id, dialect=dialect
    )

"""MT5-style name masks (`demo\\*,!demo\\vip`): how a mask is parsed, bounded and matched.

This module is the one owner of a mask's meaning: `parse` turns the text into patterns (ASCII
letters folded to lower case, split at their stars), the core matches names against them here,
and storage renders the same patterns as SQL LIKEs. Matching ignores the case of ASCII letters
only, so storage can apply the same masks in SQL on every engine and locale (SQLite's lower()
folds ASCII only).

Matching never backtracks: a pattern's first piece must start the name, its last piece must end
it, and the pieces between are found left to right, each at its first place after the previous
one (for `*`-only wildcards that leftmost choice is always right). A name is checked in time
linear in the sizes of the name and the mask, however many stars the mask holds; the limits
below only bound the work one request can ask for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from brokerplane.core.errors import FieldError, InvalidMask

# The most a mask may hold: characters in all, comma-separated parts, and stars in one part.
MAX_LENGTH = 1024
MAX_PARTS = 128
MAX_STARS = 16

_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TO_LOWER = str.maketrans(_ASCII_UPPER, _ASCII_UPPER.lower())


def fold(name: str) -> str:
    """`name` with its ASCII letters lowered and nothing else changed."""
    return name.translate(_TO_LOWER)


@dataclass(frozen=True)
class Pattern:
    """One part of a mask, folded: the literal pieces between its stars (runs of stars are one
    star). `pieces` has one item when the part has no star; with stars, the first piece must
    start a name and the last end it (either may be empty)."""

    pieces: tuple[str, ...]

    @property
    def starred(self) -> bool:
        return len(self.pieces) > 1

    def admits(self, folded: str) -> bool:
        """Whether a name already folded (see `fold`) matches this pattern."""
        pieces = self.pieces
        if len(pieces) == 1:
            return folded == pieces[0]
        head, tail = pieces[0], pieces[-1]
        if len(folded) < len(head) + len(tail):
            return False
        if not folded.startswith(head) or not folded.endswith(tail):
            return False
        pos, end = len(head), len(folded) - len(tail)
        for piece in pieces[1:-1]:
            found = folded.find(piece, pos, end)
            if found < 0:
                return False
            pos = found + len(piece)
        return True


@dataclass(frozen=True)
class Mask:
    """A parsed mask: a name is admitted when no exclusion (`!` part) matches it and some
    positive part does; a mask of exclusions only admits everything else, as MT5 does."""

    include: tuple[Pattern, ...]
    exclude: tuple[Pattern, ...]

    def admits(self, name: str) -> bool:
        folded = fold(name)
        if any(p.admits(folded) for p in self.exclude):
            return False
        return not self.include or any(p.admits(folded) for p in self.include)

    def admits_any(self, *names: str) -> bool:
        """For things known by several names (a symbol's name and path): excluded when any `!`
        part matches any of them, else admitted when some positive part matches one of them."""
        folded = [fold(n) for n in names]
        if any(p.admits(n) for p in self.exclude for n in folded):
            return False
        return not self.include or any(p.admits(n) for p in self.include for n in folded)

    def select(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if self.admits(n)]


def _too_complex(field: str, message: str) -> InvalidMask:
    return InvalidMask(f"{field}: {message}", fields=[FieldError(field, message)])


@lru_cache(maxsize=1024)
def parse(mask: str, field: str = "mask") -> Mask:
    """The mask as patterns; InvalidMask (naming `field`, the caller's parameter) when it holds
    more than MAX_LENGTH characters, MAX_PARTS parts or MAX_STARS stars in one part.

    Blank parts are ignored and blanks around a part or after its `!` are dropped."""
    if len(mask) > MAX_LENGTH:
        raise _too_complex(field, f"a mask may hold at most {MAX_LENGTH} characters")
    raw_parts = mask.split(",")
    if len(raw_parts) > MAX_PARTS:
        raise _too_complex(field, f"a mask may hold at most {MAX_PARTS} comma-separated parts")
    include: list[Pattern] = []
    exclude: list[Pattern] = []
    for raw in raw_parts:
        part = raw.strip()
        if not part:
            continue
        negate = part.startswith("!")
        if negate:
            part = part[1:].strip()
        if part.count("*") > MAX_STARS:
            raise _too_complex(field, f"a mask part may hold at most {MAX_STARS} '*'")
        pieces = fold(part).split("*")
        if len(pieces) > 2:
            pieces = [pieces[0], *(p for p in pieces[1:-1] if p), pieces[-1]]
        (exclude if negate else include).append(Pattern(tuple(pieces)))
    return Mask(tuple(include), tuple(exclude))


def matches(mask: str, name: str) -> bool:
    """True when `name` is admitted: some positive part matches and no `!` part does.

    A mask made only of exclusions admits everything else, as MT5 does for `!demo\\*`.
    """
    return parse(mask).admits(name)


def matches_any(mask: str, *names: str) -> bool:
    """For things known by several names (a symbol's name and path): see Mask.admits_any."""
    return parse(mask).admits_any(*names)


def select(mask: str, names: Iterable[str]) -> list[str]:
    return parse(mask).select(names)

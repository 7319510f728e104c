"""MT5-style name masks (`demo\\*,!demo\\vip`): which group or symbol names a mask admits.

Matching ignores the case of ASCII letters only, so storage can apply the same masks in SQL on
every engine and locale (SQLite's lower() folds ASCII only)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=1024)
def _compile(mask: str) -> tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]:
    include: list[re.Pattern[str]] = []
    exclude: list[re.Pattern[str]] = []
    for raw in mask.split(","):
        part = raw.strip()
        if not part:
            continue
        negate = part.startswith("!")
        if negate:
            part = part[1:].strip()
        pattern = re.compile(
            "^" + ".*".join(re.escape(piece) for piece in part.split("*")) + "$",
            re.IGNORECASE | re.ASCII,
        )
        (exclude if negate else include).append(pattern)
    return tuple(include), tuple(exclude)


def matches(mask: str, name: str) -> bool:
    """True when `name` is admitted: some positive part matches and no `!` part does.

    A mask made only of exclusions admits everything else, as MT5 does for `!demo\\*`.
    """
    include, exclude = _compile(mask)
    if any(p.match(name) for p in exclude):
        return False
    if not include:
        return True
    return any(p.match(name) for p in include)


def matches_any(mask: str, *names: str) -> bool:
    """For things known by several names (a symbol's name and path): excluded when any `!`
    part matches any of them, else admitted when some positive part matches one of them."""
    include, exclude = _compile(mask)
    if any(p.match(n) for p in exclude for n in names):
        return False
    if not include:
        return True
    return any(p.match(n) for p in include for n in names)


def select(mask: str, names: Iterable[str]) -> list[str]:
    return [n for n in names if matches(mask, n)]

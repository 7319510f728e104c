"""The exposure aggregate of the in-memory trading fake (tests/unit/fakes.py), as the SQL
statement (storage/sql/exposure.py) gives it: sums per symbol and group with the positions'
own digits and contract size, each line with its symbol's quote, and the distinct accounts
per group and in all."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal

from brokerplane.core.account.model import Account
from brokerplane.core.trading.model import (
    ExposureFilter,
    ExposureSum,
    ExposureSums,
    Position,
    Quote,
)

Key = tuple[str, int, int, Decimal]


def exposure_sums(
    positions: Mapping[int, Position],
    accounts: Mapping[int, Account],
    quotes: Mapping[str, Quote],
    query: ExposureFilter,
    in_reach: Callable[[int, tuple[int, ...] | None, str | None], bool],
) -> ExposureSums:
    sums: dict[Key, list[int]] = {}
    logins: dict[Key, set[int]] = {}
    per_group: dict[int, set[int]] = {}
    for _, pos in sorted(positions.items()):
        group_id = accounts[pos.login].group_id
        if query.group_ids is not None and group_id not in query.group_ids:
            continue
        if query.symbols is not None and pos.symbol not in query.symbols:
            continue
        if not in_reach(pos.login, None, query.broker_mask):
            continue
        key = (pos.symbol, group_id, pos.digits, pos.contract_size)
        row = sums.setdefault(key, [0, 0, 0, 0, 0])
        at = 0 if pos.side == "buy" else 2
        row[at] += pos.volume
        row[at + 1] += pos.open_value
        row[4] += 1
        logins.setdefault(key, set()).add(pos.login)
        per_group.setdefault(group_id, set()).add(pos.login)
    lines = []
    for (symbol, group_id, digits, size), (bv, bval, sv, sval, n) in sorted(sums.items()):
        held = len(logins[(symbol, group_id, digits, size)])
        line = ExposureSum(symbol, group_id, digits, size, bv, bval, sv, sval, n, held)
        lines.append(replace(line, quote=quotes.get(symbol)))
    everyone = set().union(*per_group.values()) if per_group else set()
    return ExposureSums(lines, {g: len(v) for g, v in per_group.items()}, len(everyone))

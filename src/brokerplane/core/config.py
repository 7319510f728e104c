"""CoreConfig: the few settings business rules depend on, handed in by bootstrap."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CoreConfig:
    login_range_from: int = 100_000
    login_range_to: int = 99_999_999
    server_currency: str = "USD"

"""Rate limits shared by every server process over one database: GCRA in one statement.

Each limited name keeps one row, the theoretical arrival time (TAT) of its next request. A
request is allowed when moving the TAT on by one emission interval leaves it within the burst
window of now; the move and the check are one upsert, so concurrent requests from any number
of processes each take exactly one place, and a refused one changes nothing. On PostgreSQL
the statement's transaction commits without waiting for the WAL flush (a crash forgets at most
the last few milliseconds of counting, never money), so a limited request costs one round trip.
"""

from __future__ import annotations

import hashlib
import math

from sqlalchemy import Engine, delete, select, text
from sqlalchemy import exc as sa_exc

from brokerplane.core.errors import StorageUnavailable
from brokerplane.storage import tables as t

_TAKE = {
    # set_config(..., true): this transaction's commit does not wait for the WAL flush; in the
    # statement itself, which saves a round trip.
    "postgresql": text(
        "INSERT INTO rate_limits AS r (key, tat_us) SELECT :key, :first "
        "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS quick "
        "ON CONFLICT (key) DO UPDATE SET tat_us = GREATEST(r.tat_us, :now) + :interval "
        "WHERE GREATEST(r.tat_us, :now) + :interval <= :limit "
        "RETURNING tat_us"
    ),
    "sqlite": text(
        "INSERT INTO rate_limits (key, tat_us) VALUES (:key, :first) "
        "ON CONFLICT (key) DO UPDATE SET tat_us = max(rate_limits.tat_us, :now) + :interval "
        "WHERE max(rate_limits.tat_us, :now) + :interval <= :limit "
        "RETURNING tat_us"
    ),
}


def digest(name: str) -> str:
    """The stored key of a limited name: fixed length, whatever the caller put in the name."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


class SqlRateLimits:
    """`take` one request of a name's allowance, shared through the database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def take(self, name: str, now: float, per_period: int, period_s: float) -> int:
        """Take one of `per_period` requests a `period_s` (in bursts of up to `per_period`)
        for `name` at unix time `now`: 0 when allowed, else the whole seconds to wait (>= 1)."""
        interval = max(1, round(period_s * 1_000_000 / per_period))
        now_us = int(now * 1_000_000)
        limit_us = now_us + interval * per_period
        params = {
            "key": digest(name),
            "now": now_us,
            "interval": interval,
            "first": now_us + interval,
            "limit": limit_us,
        }
        dialect = self._engine.dialect.name
        try:
            with self._engine.connect() as conn:
                taken = conn.execute(_TAKE[dialect], params).first()
                if taken is not None:
                    conn.commit()
                    return 0
                tat = conn.execute(
                    select(t.rate_limits.c.tat_us).where(t.rate_limits.c.key == params["key"])
                ).scalar()
                conn.commit()
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as err:
            raise StorageUnavailable("the database is unavailable") from err
        late_us = int(tat or now_us) + interval - limit_us
        return max(1, math.ceil(late_us / 1_000_000))

    def purge(self, now: float) -> int:
        """Forget names whose allowance is full again (their TAT has passed)."""
        try:
            with self._engine.begin() as conn:
                gone = conn.execute(
                    delete(t.rate_limits).where(t.rate_limits.c.tat_us < int(now * 1_000_000))
                )
                return int(gone.rowcount or 0)
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as err:
            raise StorageUnavailable("the database is unavailable") from err

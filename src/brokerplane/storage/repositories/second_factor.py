"""SqlSecondFactor: managers' TOTP second factors, recovery codes and waiting sign-ins; the
single-use steps (replay) are conditional updates, so concurrent uses of one code or one
recovery code succeed once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from brokerplane.core.access.model import Challenge, SecondFactor
from brokerplane.storage import tables as t

_F = t.manager_second_factors
_R = t.manager_recovery_codes
_C = t.second_factor_challenges


def _factor(row: Any) -> SecondFactor:
    m = row._mapping
    return SecondFactor(
        m["manager_login"],
        m["sealed_secret"],
        bool(m["enabled"]),
        m["last_step"],
        m["created_at"],
        m["enabled_at"],
    )


def _challenge(row: Any) -> Challenge:
    m = row._mapping
    return Challenge(
        m["token_hash"],
        m["manager_login"],
        m["verifier_fingerprint"],
        m["attempts"],
        m["expires_at"],
    )


class SqlSecondFactor:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def get(self, login: int) -> SecondFactor | None:
        row = self.c.execute(select(_F).where(_F.c.manager_login == login)).first()
        return _factor(row) if row is not None else None

    def put(self, factor: SecondFactor) -> None:
        self.c.execute(delete(_F).where(_F.c.manager_login == factor.manager_login))
        self.c.execute(
            insert(_F).values(
                manager_login=factor.manager_login,
                sealed_secret=factor.sealed_secret,
                enabled=factor.enabled,
                last_step=factor.last_step,
                created_at=factor.created_at,
                enabled_at=factor.enabled_at,
            )
        )

    def delete(self, login: int) -> bool:
        return self.c.execute(delete(_F).where(_F.c.manager_login == login)).rowcount > 0

    def use_step(self, login: int, step: int) -> bool:
        done = self.c.execute(
            update(_F)
            .where(
                _F.c.manager_login == login,
                _F.c.enabled.is_(True),
                or_(_F.c.last_step.is_(None), _F.c.last_step < step),
            )
            .values(last_step=step)
        )
        return done.rowcount == 1

    def set_recovery_codes(self, login: int, hashes: Sequence[str], at: datetime | None) -> None:
        self.c.execute(delete(_R).where(_R.c.manager_login == login))
        if hashes:
            self.c.execute(
                insert(_R),
                [
                    {"manager_login": login, "code_hash": h, "created_at": at, "used_at": None}
                    for h in hashes
                ],
            )

    def use_recovery_code(self, login: int, code_hash: str, at: datetime) -> bool:
        done = self.c.execute(
            update(_R)
            .where(_R.c.manager_login == login, _R.c.code_hash == code_hash, _R.c.used_at.is_(None))
            .values(used_at=at)
        )
        return done.rowcount == 1

    def unused_recovery_hashes(self, login: int) -> list[str]:
        found = self.c.execute(
            select(_R.c.code_hash)
            .where(_R.c.manager_login == login, _R.c.used_at.is_(None))
            .order_by(_R.c.code_hash)
        )
        return list(found.scalars())

    def recovery_codes_left(self, login: int) -> int:
        found = self.c.execute(
            select(func.count()).where(_R.c.manager_login == login, _R.c.used_at.is_(None))
        ).scalar_one()
        return int(found)

    def add_challenge(self, challenge: Challenge) -> None:
        self.c.execute(
            insert(_C).values(
                token_hash=challenge.token_hash,
                manager_login=challenge.manager_login,
                verifier_fingerprint=challenge.verifier_fingerprint,
                attempts=challenge.attempts,
                expires_at=challenge.expires_at,
            )
        )

    def get_challenge(self, token_hash: str) -> Challenge | None:
        row = self.c.execute(select(_C).where(_C.c.token_hash == token_hash)).first()
        return _challenge(row) if row is not None else None

    def count_attempt(self, token_hash: str) -> int:
        where = _C.c.token_hash == token_hash
        self.c.execute(update(_C).where(where).values(attempts=_C.c.attempts + 1))
        found = self.c.execute(select(_C.c.attempts).where(where)).scalar_one_or_none()
        return int(found or 0)

    def delete_challenge(self, token_hash: str) -> bool:
        return self.c.execute(delete(_C).where(_C.c.token_hash == token_hash)).rowcount == 1

    def delete_challenges_of(self, login: int) -> None:
        self.c.execute(delete(_C).where(_C.c.manager_login == login))

    def purge_challenges(self, now: datetime) -> int:
        return self.c.execute(delete(_C).where(and_(_C.c.expires_at <= now))).rowcount

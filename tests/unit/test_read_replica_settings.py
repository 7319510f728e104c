"""A read replica is a PostgreSQL standby of a PostgreSQL primary: with SQLite (one file, one
host) the setting is refused at start, saying why."""

from __future__ import annotations

import pydantic
import pytest

from brokerplane.settings import Settings


def test_a_read_replica_over_sqlite_is_refused_with_the_reason() -> None:
    with pytest.raises(pydantic.ValidationError, match="SQLite has no replicas"):
        Settings(read_database_url="postgresql://reader@standby:5432/brokerplane")


def test_a_read_replica_of_a_postgresql_primary_is_accepted_with_its_bound() -> None:
    settings = Settings(
        database_url="postgresql://bp@primary:5432/brokerplane",
        read_database_url="postgresql://bp@standby:5432/brokerplane",
        read_max_lag_s=2,
    )
    assert settings.read_max_lag_s == 2 and settings.read_retry_s == 5

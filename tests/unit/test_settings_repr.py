"""Settings as they show in logs and tracebacks."""

from __future__ import annotations

from brokerplane.settings import Settings


def test_the_repr_of_settings_hides_database_passwords() -> None:
    settings = Settings(
        database_url="postgresql://app:s3cr%40t-pw@db.internal:5432/bp",
        read_database_url="postgresql://reader:r34d-pw@standby/bp",
    )
    shown = repr(settings)
    assert "s3cr" not in shown and "r34d-pw" not in shown
    assert "postgresql://app:***@db.internal:5432/bp" in shown
    assert "postgresql://reader:***@standby/bp" in shown
    assert "database_url=''" in repr(Settings(database_url=""))

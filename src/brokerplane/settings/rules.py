"""The settings' validators: each is a pydantic validator of the model (settings.model) and is
run by the plain path (settings.plain) too, so both word and decide alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from brokerplane.settings.spec import (
    DIALECTS,
    LOG_FORMATS,
    LOG_LEVELS,
    MIN_RETENTION,
    MIN_RETENTION_DAYS,
    database_url,
)

BLANK_IS_UNSET = ("mt5_tls_port", "mt5_tcp_port", "tls_cert", "tls_key", "audit_key_file")


def _address_list(value: str) -> str:
    import ipaddress

    items = [item.strip() for item in value.split(",") if item.strip()]
    if "*" in items:
        return "*"
    for item in items:
        try:
            if "/" in item:
                ipaddress.ip_network(item)
            else:
                ipaddress.ip_address(item)
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24, *)"
            ) from None
    return ",".join(items)


def _log_format(value: str) -> str:
    value = value.strip().lower()
    if value not in LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
    return value


def _log_level(value: str) -> str:
    value = value.strip().lower()
    if value not in LOG_LEVELS:
        raise ValueError("must be one of debug, info, warning, error")
    return value


def _known_dialects(value: str) -> str:
    names = [d.strip() for d in value.split(",") if d.strip()]
    unknown = [d for d in names if d not in DIALECTS]
    if unknown:
        raise ValueError(f"unknown dialects {unknown}; known: {', '.join(DIALECTS)}")
    return ",".join(names)


FIELD_VALIDATORS: dict[str, Callable[[str], str]] = {
    "forwarded_allow_ips": _address_list,
    "log_format": _log_format,
    "log_level": _log_level,
    "dialects": _known_dialects,
}


def check_together(values: Mapping[str, Any]) -> None:
    """What no one field says alone."""
    url = database_url(values["database_url"], values["data_dir"])
    if values["read_database_url"] and not url.startswith("postgres"):
        raise ValueError(
            "read_database_url needs a PostgreSQL primary (BROKERPLANE_DATABASE_URL): "
            "SQLite has no replicas"
        )
    if values["login_range_from"] > values["login_range_to"]:
        raise ValueError("login_range_from must not exceed login_range_to")
    if values["idempotency_retention_days"] * 86400 < MIN_RETENTION.total_seconds():
        raise ValueError(
            f"idempotency_retention_days must be at least {MIN_RETENTION_DAYS:.4f} "
            f"({int(MIN_RETENTION.total_seconds() // 60)} minutes): a signed webhook's id "
            "must be remembered as long as its timestamp is accepted"
        )

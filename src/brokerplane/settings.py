"""Settings: every knob of brokerplane, read from BROKERPLANE_* variables and CLI flags."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from brokerplane.core.backoffice.model import REPLAY_WINDOW

DIALECTS = ("native", "mt5", "ctrader", "traderevolution")
LOG_FORMATS = ("text", "json")
# A signed webhook is accepted while its timestamp is within REPLAY_WINDOW of the server's time
# (either side): its id must be remembered at least twice that long, or it could run again.
MIN_RETENTION = 2 * REPLAY_WINDOW
MIN_RETENTION_DAYS = MIN_RETENTION.total_seconds() / 86400


ENV_PREFIX = "BROKERPLANE_"
# Upper bounds of durations and rates: every value beyond is a typo (and would overflow the
# timedelta or the database integer it becomes).
MAX_DAYS = 36_500
MAX_HOURS = MAX_DAYS * 24
MAX_RATE = 10_000_000


def environment(fields: Any) -> dict[str, str]:
    """The BROKERPLANE_<FIELD> variables set (names in any case), by field name."""
    prefix = ENV_PREFIX.lower()
    found: dict[str, str] = {}
    for key, value in os.environ.items():
        name = key.lower()
        if name.startswith(prefix) and name[len(prefix) :] in fields:
            found[name[len(prefix) :]] = value
    return found


class Settings(BaseModel):
    """Each field from its keyword argument, else its BROKERPLANE_<FIELD> variable, else its
    default (a plain pydantic model reading the environment itself: pydantic-settings, with
    the asyncio it loads, cost every CLI command a tenth of a second to start)."""

    model_config = ConfigDict(extra="ignore", validate_default=True, allow_inf_nan=False)

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**environment(type(self).model_fields), **values})

    data_dir: Path = Field(Path("./var"), description="where the embedded database lives")
    database_url: str = Field("", description="SQLAlchemy URL; empty = SQLite under data_dir")
    read_database_url: str = Field(
        "", description="a PostgreSQL streaming replica for lists, reports, exports and "
        "exposure; empty: every read goes to the primary",
    )  # fmt: skip
    read_max_lag_s: float = Field(
        5, gt=0, le=3600,
        description="the most seconds a replica-served read may lag; beyond, the primary answers",
    )  # fmt: skip
    read_retry_s: float = Field(
        5, gt=0, le=3600,
        description="seconds a replica that failed (unreachable, promoted) is left alone",
    )  # fmt: skip
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    mt5_tls_port: int | None = Field(
        None, ge=1, le=65535, description="a second listener serving the API over HTTPS"
    )
    mt5_tcp_port: int | None = Field(
        None, ge=1, le=65535,
        description="a listener for the MT5 Web API's native TCP protocol (TLS too with a cert)",
    )  # fmt: skip
    mt5_tcp_idle_timeout_s: float = Field(
        180, gt=0, le=180, description="seconds of silence after which an MT5 TCP connection drops"
    )
    mt5_tcp_ping_interval_s: float = Field(
        20, ge=0, le=3600, description="seconds between the MT5 TCP server's empty packets (0: off)"
    )
    mt5_tcp_max_per_address: int = Field(
        64, ge=1, description="open MT5 TCP connections from one address beyond which new ones "
        "are closed at once",
    )  # fmt: skip
    mt5_tcp_max_unauthenticated: int = Field(
        256, ge=1, description="MT5 TCP connections not yet signed in (all addresses) beyond "
        "which new ones are closed at once; signed-in managers keep their slots",
    )  # fmt: skip
    tls_cert: Path | None = Field(None, description="PEM certificate (chain) of the TLS listener")
    tls_key: Path | None = Field(None, description="PEM private key of the TLS listener")
    login_range_from: int = Field(100_000, ge=1)
    login_range_to: int = Field(99_999_999, ge=1)
    server_currency: str = "USD"
    dialects: str = Field(
        "native,mt5,ctrader,traderevolution", description="comma list of enabled dialects"
    )
    pool_size: int = Field(20, ge=1, le=500)
    workers: int = Field(
        1, ge=1, le=64,
        description="server processes `brokerplane serve` runs on one host, sharing its listeners",
    )  # fmt: skip
    log_level: str = Field("info", description="debug, info, warning or error")
    log_format: str = Field("text", description="text (name=value fields) or json (a line each)")
    access_log: bool = Field(True, description="one line per request at info")
    max_operation_amount: Decimal = Field(
        Decimal("100000000"), gt=0, description="largest amount one money operation may move"
    )
    approval_ttl_hours: float = Field(
        72, gt=0, le=MAX_HOURS, description="how long held operations wait"
    )
    idempotency_retention_days: float = Field(
        30, gt=0, le=MAX_DAYS, description="how long request ids are remembered"
    )
    idempotency_lease_s: float = Field(
        60,
        gt=0,
        le=86400,
        description="how long a request id stays in flight before a retry may take it over",
    )
    group_commit_max: int = Field(
        64,
        ge=1,
        le=1000,
        description="money commands that may share one transaction and commit (1: off)",
    )
    key_rotation_overlap_hours: float = Field(
        24, ge=0, le=MAX_HOURS, description="how long a rotated key's old secret keeps working"
    )
    rate_limit_per_minute: int = Field(
        600, ge=0, le=MAX_RATE, description="native requests per key per minute (0: no limit)"
    )
    events_retention_days: float = Field(
        30, gt=0, le=MAX_DAYS, description="how long events are kept for the feed and webhooks"
    )
    events_max_streams: int = Field(
        32, ge=0, le=10_000, description="open event streams (SSE) the server allows at once"
    )
    webhook_retry_hours: float = Field(
        24,
        gt=0,
        le=MAX_HOURS,
        description="how long a failing webhook is retried before it is parked",
    )
    webhook_backoff_s: float = Field(
        1, gt=0, le=600, description="the first retry delay of a failing webhook (then doubled)"
    )
    webhook_hosts: str = Field(
        "*", max_length=1024, description="mask of the hosts webhook URLs may name"
    )
    webhook_allow_private: bool = Field(
        False, description="let webhooks reach loopback, private and link-local addresses"
    )
    webhook_timeout_s: float = Field(
        10, gt=0, le=120, description="a webhook request's connect and read timeout"
    )
    webhook_workers: int = Field(
        2, ge=0, le=64, description="webhook delivery threads in each server process (0: none)"
    )
    events_stream_recheck_s: float = Field(
        30, gt=0, le=3600, description="how often an open event stream checks its key and reach"
    )
    risk_pass_interval_s: float = Field(
        5,
        ge=0,
        le=3600,
        description="how often the server looks for margin-call and stop-out crossings (0: never)",
    )
    risk_pass_batch: int = Field(
        500, ge=1, le=10_000, description="accounts the risk pass classes per transaction"
    )
    maintenance_interval_s: float = Field(
        300,
        gt=0,
        le=86400,
        description="how often the server purges request ids and expires approvals",
    )
    te_access_token_lifetime_s: int = Field(
        3600, ge=60, le=30 * 86400, description="TraderEvolution access token lifetime (seconds)"
    )
    te_refresh_token_lifetime_s: int = Field(
        86400, ge=60, le=365 * 86400, description="TraderEvolution refresh token lifetime (s)"
    )
    console: bool = Field(True, description="serve the back-office console at /console")
    console_idle_timeout_s: int = Field(
        900, ge=5, le=86400,
        description="a console session ends after this many seconds without a request",
    )  # fmt: skip
    ctrader_token_ttl_s: int = Field(
        86400, ge=0, le=365 * 86400,
        description="cTrader manager token (webservToken) lifetime in seconds (0: never expires)",
    )  # fmt: skip
    te_rate_limit_per_second: int = Field(
        20,
        ge=0,
        le=MAX_RATE,
        description="TraderEvolution requests per caller and collection a second (0: off)",
    )
    forwarded_allow_ips: str = Field(
        "",
        description="comma list of proxy addresses (or networks) whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; empty: none, the peer address is the client's; * : any",
    )
    header_timeout_s: float = Field(
        10, gt=0, le=3600, description="seconds a client has to send a complete request head"
    )
    max_connections: int = Field(
        4096, ge=1, description="open connections per listener beyond which requests get a 503"
    )
    max_body_bytes: int = Field(
        1 << 20, ge=1024, description="largest request body accepted (413 beyond, before auth)"
    )

    lockout_failures: int = Field(
        5, ge=0, le=10_000,
        description="failed sign-ins of one login from one address before it is locked (0: off)",
    )  # fmt: skip
    lockout_login_failures: int = Field(
        50, ge=0, le=100_000,
        description="failed sign-ins of one login from all addresses before it is locked (0: off)",
    )  # fmt: skip
    lockout_address_failures: int = Field(
        50, ge=0, le=100_000,
        description="failed sign-ins from one address, any login, before it is locked (0: off)",
    )  # fmt: skip
    lockout_window_s: float = Field(
        900, gt=0, le=30 * 86400,
        description="seconds after the last failure (or lock) when failures are forgotten",
    )  # fmt: skip
    lockout_base_delay_s: float = Field(
        1, gt=0, le=86400, description="the first lock's length (s); each failure after doubles it"
    )
    lockout_max_delay_s: float = Field(
        900, gt=0, le=86400, description="the longest a lock lasts (seconds)"
    )
    lockout_login_max_delay_s: float = Field(
        60, gt=0, le=86400,
        description="the longest lock of a login from all addresses together (seconds)",
    )  # fmt: skip
    lockout_admission_wait_s: float = Field(
        10, ge=0, le=120,
        description="the longest a sign-in waits for a slot held by sign-ins still being checked",
    )  # fmt: skip
    lockout_reservation_s: float = Field(
        30, gt=0, le=3600,
        description="when a slot held by a sign-in whose process died mid-check is freed (s)",
    )  # fmt: skip
    audit_key: SecretStr | None = Field(
        None,
        description="the audit key (hex or base64; a comma list: the first seals, all verify); "
        "unset: the key file",
    )
    audit_key_file: Path | None = Field(
        None, description="the audit keyring file; default <data dir>/audit.key"
    )
    audit_legacy_until: int | None = Field(
        None,
        ge=0,
        description="with BROKERPLANE_AUDIT_KEY: the newest audit record sealed before the chain "
        "had a key; unset: no unkeyed record is accepted",
    )

    @field_validator(
        "mt5_tls_port", "mt5_tcp_port", "tls_cert", "tls_key", "audit_key_file", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _address_list(cls, value: str) -> str:
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

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in LOG_FORMATS:
            raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("debug", "info", "warning", "error", "critical", "trace"):
            raise ValueError("must be one of debug, info, warning, error")
        return value

    @field_validator("dialects")
    @classmethod
    def _known_dialects(cls, value: str) -> str:
        names = [d.strip() for d in value.split(",") if d.strip()]
        unknown = [d for d in names if d not in DIALECTS]
        if unknown:
            raise ValueError(f"unknown dialects {unknown}; known: {', '.join(DIALECTS)}")
        return ",".join(names)

    @model_validator(mode="after")
    def _range(self) -> Settings:
        if self.read_database_url and not self.effective_database_url.startswith("postgres"):
            raise ValueError(
                "read_database_url needs a PostgreSQL primary (BROKERPLANE_DATABASE_URL): "
                "SQLite has no replicas"
            )
        if self.login_range_from > self.login_range_to:
            raise ValueError("login_range_from must not exceed login_range_to")
        if self.idempotency_retention_days * 86400 < MIN_RETENTION.total_seconds():
            raise ValueError(
                f"idempotency_retention_days must be at least {MIN_RETENTION_DAYS:.4f} "
                f"({int(MIN_RETENTION.total_seconds() // 60)} minutes): a signed webhook's id "
                "must be remembered as long as its timestamp is accepted"
            )
        return self

    @property
    def enabled_dialects(self) -> tuple[str, ...]:
        return tuple(d for d in self.dialects.split(",") if d)

    @property
    def shared_rate_limits(self) -> bool:
        """Whether rate limits are counted in the database, for every process over it: on
        PostgreSQL (other processes, on this host or others, may serve it) and with several
        workers; a lone process on SQLite counts in memory."""
        return self.workers > 1 or not self.effective_database_url.startswith("sqlite")

    @property
    def effective_audit_key_file(self) -> Path:
        return self.audit_key_file or self.data_dir / "audit.key"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'brokerplane.db').as_posix()}"

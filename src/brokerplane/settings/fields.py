"""The Settings class: every field's type, default, bounds and description, declared once.

A Settings is built by the plain path (settings.plain) when every value is plain, else by the
pydantic model of these fields (settings.model), which decides and words the error."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from brokerplane.settings.model import build_model, secrets_hidden
from brokerplane.settings.plain import plain
from brokerplane.settings.spec import (
    MAX_DAYS,
    MAX_HOURS,
    MAX_RATE,
    database_url,
    environment,
    fields_of,
    setting,
)

if TYPE_CHECKING:
    from pydantic import BaseModel, SecretStr
    from pydantic.fields import FieldInfo


class _ModelFields:
    """`Settings.model_fields`: the pydantic model's fields (for the reference pages)."""

    def __get__(self, instance: object, owner: type | None = None) -> dict[str, FieldInfo]:
        return pydantic_model().model_fields


class Settings:
    """Each field from its keyword argument, else its BROKERPLANE_<FIELD> variable, else its
    default, validated as pydantic would (see the package's docstring). Like a pydantic model
    (it was one): `model_copy(update=...)` copies without validating, `model_fields` lists the
    fields."""

    model_fields = _ModelFields()

    def __init__(self, **values: Any) -> None:
        given = {**environment(FIELDS), **values}
        checked = plain(FIELDS, given)
        if checked is None:
            model = pydantic_model()(**secrets_hidden(given))
            checked = {name: getattr(model, name) for name in FIELDS}
        self.__dict__.update(checked)

    data_dir: Path = setting(Path("./var"), description="where the embedded database lives")
    database_url: str = setting("", description="SQLAlchemy URL; empty = SQLite under data_dir")
    read_database_url: str = setting(
        "",
        description="a PostgreSQL streaming replica for lists, reports, exports and "
        "exposure; empty: every read goes to the primary",
    )
    read_max_lag_s: float = setting(
        5,
        gt=0,
        le=3600,
        description="the most seconds a replica-served read may lag; beyond, the primary answers",
    )
    read_retry_s: float = setting(
        5,
        gt=0,
        le=3600,
        description="seconds a replica that failed (unreachable, promoted) is left alone",
    )
    host: str = "127.0.0.1"
    port: int = setting(8080, ge=1, le=65535)
    mt5_tls_port: int | None = setting(
        None, ge=1, le=65535, description="a second listener serving the API over HTTPS"
    )
    mt5_tcp_port: int | None = setting(
        None,
        ge=1,
        le=65535,
        description="a listener for the MT5 Web API's native TCP protocol (TLS too with a cert)",
    )
    mt5_tcp_idle_timeout_s: float = setting(
        180, gt=0, le=180, description="seconds of silence after which an MT5 TCP connection drops"
    )
    mt5_tcp_ping_interval_s: float = setting(
        20, ge=0, le=3600, description="seconds between the MT5 TCP server's empty packets (0: off)"
    )
    mt5_tcp_max_per_address: int = setting(
        64,
        ge=1,
        description="open MT5 TCP connections from one address beyond which new ones "
        "are closed at once",
    )
    mt5_tcp_max_unauthenticated: int = setting(
        256,
        ge=1,
        description="MT5 TCP connections not yet signed in (all addresses) beyond "
        "which new ones are closed at once; signed-in managers keep their slots",
    )
    tls_cert: Path | None = setting(None, description="PEM certificate (chain) of the TLS listener")
    tls_key: Path | None = setting(None, description="PEM private key of the TLS listener")
    login_range_from: int = setting(100_000, ge=1)
    login_range_to: int = setting(99_999_999, ge=1)
    server_currency: str = "USD"
    dialects: str = setting(
        "native,mt5,ctrader,traderevolution", description="comma list of enabled dialects"
    )
    pool_size: int = setting(20, ge=1, le=500)
    workers: int = setting(
        1,
        ge=1,
        le=64,
        description="server processes `brokerplane serve` runs on one host, sharing its listeners",
    )
    log_level: str = setting("info", description="debug, info, warning or error")
    log_format: str = setting("text", description="text (name=value fields) or json (a line each)")
    access_log: bool = setting(True, description="one line per request at info")
    max_operation_amount: Decimal = setting(
        Decimal("100000000"), gt=0, description="largest amount one money operation may move"
    )
    approval_ttl_hours: float = setting(
        72, gt=0, le=MAX_HOURS, description="how long held operations wait"
    )
    idempotency_retention_days: float = setting(
        30, gt=0, le=MAX_DAYS, description="how long request ids are remembered"
    )
    idempotency_lease_s: float = setting(
        60,
        gt=0,
        le=86400,
        description="how long a request id stays in flight before a retry may take it over",
    )
    group_commit_max: int = setting(
        64,
        ge=1,
        le=1000,
        description="money commands that may share one transaction and commit (1: off)",
    )
    key_rotation_overlap_hours: float = setting(
        24, ge=0, le=MAX_HOURS, description="how long a rotated key's old secret keeps working"
    )
    rate_limit_per_minute: int = setting(
        600, ge=0, le=MAX_RATE, description="native requests per key per minute (0: no limit)"
    )
    events_retention_days: float = setting(
        30, gt=0, le=MAX_DAYS, description="how long events are kept for the feed and webhooks"
    )
    events_max_streams: int = setting(
        32, ge=0, le=10_000, description="open event streams (SSE) the server allows at once"
    )
    webhook_retry_hours: float = setting(
        24,
        gt=0,
        le=MAX_HOURS,
        description="how long a failing webhook is retried before it is parked",
    )
    webhook_backoff_s: float = setting(
        1, gt=0, le=600, description="the first retry delay of a failing webhook (then doubled)"
    )
    webhook_hosts: str = setting(
        "*", max_length=1024, description="mask of the hosts webhook URLs may name"
    )
    webhook_allow_private: bool = setting(
        False, description="let webhooks reach loopback, private and link-local addresses"
    )
    webhook_timeout_s: float = setting(
        10, gt=0, le=120, description="a webhook request's connect and read timeout"
    )
    webhook_workers: int = setting(
        2, ge=0, le=64, description="webhook delivery threads in each server process (0: none)"
    )
    events_stream_recheck_s: float = setting(
        30, gt=0, le=3600, description="how often an open event stream checks its key and reach"
    )
    risk_pass_interval_s: float = setting(
        5,
        ge=0,
        le=3600,
        description="how often the server looks for margin-call and stop-out crossings (0: never)",
    )
    risk_pass_batch: int = setting(
        500, ge=1, le=10_000, description="accounts the risk pass classes per transaction"
    )
    maintenance_interval_s: float = setting(
        300,
        gt=0,
        le=86400,
        description="how often the server purges request ids and expires approvals",
    )
    te_access_token_lifetime_s: int = setting(
        3600, ge=60, le=30 * 86400, description="TraderEvolution access token lifetime (seconds)"
    )
    te_refresh_token_lifetime_s: int = setting(
        86400, ge=60, le=365 * 86400, description="TraderEvolution refresh token lifetime (s)"
    )
    console: bool = setting(True, description="serve the back-office console at /console")
    console_idle_timeout_s: int = setting(
        900,
        ge=5,
        le=86400,
        description="a console session ends after this many seconds without a request",
    )
    ctrader_token_ttl_s: int = setting(
        86400,
        ge=0,
        le=365 * 86400,
        description="cTrader manager token (webservToken) lifetime in seconds (0: never expires)",
    )
    te_rate_limit_per_second: int = setting(
        20,
        ge=0,
        le=MAX_RATE,
        description="TraderEvolution requests per caller and collection a second (0: off)",
    )
    forwarded_allow_ips: str = setting(
        "",
        description="comma list of proxy addresses (or networks) whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; empty: none, the peer address is the client's; * : any",
    )
    header_timeout_s: float = setting(
        10, gt=0, le=3600, description="seconds a client has to send a complete request head"
    )
    max_connections: int = setting(
        4096, ge=1, description="open connections per listener beyond which requests get a 503"
    )
    max_body_bytes: int = setting(
        1 << 20, ge=1024, description="largest request body accepted (413 beyond, before auth)"
    )

    lockout_failures: int = setting(
        5,
        ge=0,
        le=10_000,
        description="failed sign-ins of one login from one address before it is locked (0: off)",
    )
    lockout_login_failures: int = setting(
        50,
        ge=0,
        le=100_000,
        description="failed sign-ins of one login from all addresses before it is locked (0: off)",
    )
    lockout_address_failures: int = setting(
        50,
        ge=0,
        le=100_000,
        description="failed sign-ins from one address, any login, before it is locked (0: off)",
    )
    lockout_window_s: float = setting(
        900,
        gt=0,
        le=30 * 86400,
        description="seconds after the last failure (or lock) when failures are forgotten",
    )
    lockout_base_delay_s: float = setting(
        1, gt=0, le=86400, description="the first lock's length (s); each failure after doubles it"
    )
    lockout_max_delay_s: float = setting(
        900, gt=0, le=86400, description="the longest a lock lasts (seconds)"
    )
    lockout_login_max_delay_s: float = setting(
        60,
        gt=0,
        le=86400,
        description="the longest lock of a login from all addresses together (seconds)",
    )
    lockout_admission_wait_s: float = setting(
        10,
        ge=0,
        le=120,
        description="the longest a sign-in waits for a slot held by sign-ins still being checked",
    )
    lockout_reservation_s: float = setting(
        30,
        gt=0,
        le=3600,
        description="when a slot held by a sign-in whose process died mid-check is freed (s)",
    )
    audit_key: SecretStr | None = setting(
        None,
        description="the audit key (hex or base64; a comma list: the first seals, all verify); "
        "unset: the key file",
    )
    audit_key_file: Path | None = setting(
        None, description="the audit keyring file; default <data dir>/audit.key"
    )
    audit_legacy_until: int | None = setting(
        None,
        ge=0,
        description="with BROKERPLANE_AUDIT_KEY: the newest audit record sealed before the chain "
        "had a key; unset: no unkeyed record is accepted",
    )

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Settings:
        """A copy with `update`'s fields replaced, not validated (as pydantic's model_copy)."""
        values = {**self.__dict__, **(update or {})}
        if deep:
            import copy

            values = copy.deepcopy(values)
        copied = object.__new__(type(self))
        copied.__dict__.update(values)
        return copied

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable, as a pydantic model

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={_without_password(value) if name.endswith('_url') else repr(value)}"
            for name, value in self.__dict__.items()
        )
        return f"{type(self).__name__}({shown})"

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
        return database_url(self.database_url, self.data_dir)


FIELDS = fields_of(Settings)


@cache
def pydantic_model() -> type[BaseModel]:
    """The pydantic model of the fields above: what validates any value not plain."""
    return build_model(FIELDS)


def _without_password(url: object) -> str:
    """A database URL's repr with its password written as *** (settings end up in logs and
    tracebacks; the URL's password must not)."""
    if not isinstance(url, str):
        return repr(url)
    parts = urlsplit(url)
    if parts.password is None:
        return repr(url)
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return repr(urlunsplit(parts._replace(netloc=f"{user}:***@{host}")))

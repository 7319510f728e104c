"""Settings: every knob of brokerplane, read from BROKERPLANE_* variables and CLI flags.

Validation is pydantic's: each field's type, bounds and validators below make a pydantic model
(`pydantic_model()`), whose errors the CLI and the server show. Building that model and
importing pydantic cost a CLI command about a fifth of its start-up, so a Settings whose values are
all plain (a value for each field that pydantic would take unchanged or convert in the one
obvious way: digits for a number, true/false, a path, a string within its bounds) is built
without it; any other value, and every value pydantic would refuse, goes through the model,
which decides and words the error. tests/unit/test_settings_fast_path.py holds the two ways to
the same result.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from brokerplane.core.backoffice.model import REPLAY_WINDOW
from brokerplane.core.kinds import API_DIALECTS

if TYPE_CHECKING:
    from pydantic import BaseModel, SecretStr
    from pydantic.fields import FieldInfo

DIALECTS: tuple[str, ...] = API_DIALECTS
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical", "trace")
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

T = TypeVar("T")


def environment(fields: Any) -> dict[str, str]:
    """The BROKERPLANE_<FIELD> variables set (names in any case), by field name."""
    prefix = ENV_PREFIX.lower()
    found: dict[str, str] = {}
    for key, value in os.environ.items():
        name = key.lower()
        if name.startswith(prefix) and name[len(prefix) :] in fields:
            found[name[len(prefix) :]] = value
    return found


class Spec:
    """One field: its default, its pydantic bounds (gt, ge, le, max_length) and description."""

    __slots__ = ("annotation", "bounds", "default", "description")

    def __init__(self, default: Any, description: str | None, bounds: dict[str, Any]) -> None:
        self.default = default
        self.description = description
        self.bounds = bounds
        self.annotation = ""  # the field's type as written, set when the class is made


def setting(default: T, *, description: str | None = None, **bounds: Any) -> T:
    """A field's default with pydantic's Field bounds (gt, ge, le, max_length)."""
    return cast(T, Spec(default, description, bounds))


class _ModelFields:
    """`Settings.model_fields`: the pydantic model's fields (for the reference pages)."""

    def __get__(self, instance: object, owner: type | None = None) -> dict[str, FieldInfo]:
        return pydantic_model().model_fields


class Settings:
    """Each field from its keyword argument, else its BROKERPLANE_<FIELD> variable, else its
    default, validated as pydantic would (see the module's docstring). Like a pydantic model
    (it was one): `model_copy(update=...)` copies without validating, `model_fields` lists the
    fields."""

    model_fields = _ModelFields()

    def __init__(self, **values: Any) -> None:
        given = {**environment(FIELDS), **values}
        checked = _plain(given)
        if checked is None:
            model = pydantic_model()(**_secrets_hidden(given))
            checked = {name: getattr(model, name) for name in FIELDS}
        self.__dict__.update(checked)

    data_dir: Path = setting(Path("./var"), description="where the embedded database lives")
    database_url: str = setting("", description="SQLAlchemy URL; empty = SQLite under data_dir")
    read_database_url: str = setting(
        "", description="a PostgreSQL streaming replica for lists, reports, exports and "
        "exposure; empty: every read goes to the primary",
    )  # fmt: skip
    read_max_lag_s: float = setting(
        5, gt=0, le=3600,
        description="the most seconds a replica-served read may lag; beyond, the primary answers",
    )  # fmt: skip
    read_retry_s: float = setting(
        5, gt=0, le=3600,
        description="seconds a replica that failed (unreachable, promoted) is left alone",
    )  # fmt: skip
    host: str = "127.0.0.1"
    port: int = setting(8080, ge=1, le=65535)
    mt5_tls_port: int | None = setting(
        None, ge=1, le=65535, description="a second listener serving the API over HTTPS"
    )
    mt5_tcp_port: int | None = setting(
        None, ge=1, le=65535,
        description="a listener for the MT5 Web API's native TCP protocol (TLS too with a cert)",
    )  # fmt: skip
    mt5_tcp_idle_timeout_s: float = setting(
        180, gt=0, le=180, description="seconds of silence after which an MT5 TCP connection drops"
    )
    mt5_tcp_ping_interval_s: float = setting(
        20, ge=0, le=3600, description="seconds between the MT5 TCP server's empty packets (0: off)"
    )
    mt5_tcp_max_per_address: int = setting(
        64, ge=1, description="open MT5 TCP connections from one address beyond which new ones "
        "are closed at once",
    )  # fmt: skip
    mt5_tcp_max_unauthenticated: int = setting(
        256, ge=1, description="MT5 TCP connections not yet signed in (all addresses) beyond "
        "which new ones are closed at once; signed-in managers keep their slots",
    )  # fmt: skip
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
        1, ge=1, le=64,
        description="server processes `brokerplane serve` runs on one host, sharing its listeners",
    )  # fmt: skip
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
        900, ge=5, le=86400,
        description="a console session ends after this many seconds without a request",
    )  # fmt: skip
    ctrader_token_ttl_s: int = setting(
        86400, ge=0, le=365 * 86400,
        description="cTrader manager token (webservToken) lifetime in seconds (0: never expires)",
    )  # fmt: skip
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
        5, ge=0, le=10_000,
        description="failed sign-ins of one login from one address before it is locked (0: off)",
    )  # fmt: skip
    lockout_login_failures: int = setting(
        50, ge=0, le=100_000,
        description="failed sign-ins of one login from all addresses before it is locked (0: off)",
    )  # fmt: skip
    lockout_address_failures: int = setting(
        50, ge=0, le=100_000,
        description="failed sign-ins from one address, any login, before it is locked (0: off)",
    )  # fmt: skip
    lockout_window_s: float = setting(
        900, gt=0, le=30 * 86400,
        description="seconds after the last failure (or lock) when failures are forgotten",
    )  # fmt: skip
    lockout_base_delay_s: float = setting(
        1, gt=0, le=86400, description="the first lock's length (s); each failure after doubles it"
    )
    lockout_max_delay_s: float = setting(
        900, gt=0, le=86400, description="the longest a lock lasts (seconds)"
    )
    lockout_login_max_delay_s: float = setting(
        60, gt=0, le=86400,
        description="the longest lock of a login from all addresses together (seconds)",
    )  # fmt: skip
    lockout_admission_wait_s: float = setting(
        10, ge=0, le=120,
        description="the longest a sign-in waits for a slot held by sign-ins still being checked",
    )  # fmt: skip
    lockout_reservation_s: float = setting(
        30, gt=0, le=3600,
        description="when a slot held by a sign-in whose process died mid-check is freed (s)",
    )  # fmt: skip
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
        shown = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
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
        return _database_url(self.database_url, self.data_dir)


def _database_url(database_url: str, data_dir: Path) -> str:
    if database_url:
        return database_url
    return f"sqlite:///{(data_dir / 'brokerplane.db').as_posix()}"


def _fields(cls: type) -> dict[str, Spec]:
    """The class's fields in order, each default put back as the class attribute."""
    found: dict[str, Spec] = {}
    for name, annotation in cls.__annotations__.items():
        value = cls.__dict__.get(name)
        spec = value if isinstance(value, Spec) else Spec(value, None, {})
        spec.annotation = annotation
        found[name] = spec
        setattr(cls, name, spec.default)
    return found


FIELDS = _fields(Settings)

# --------------------------------------------------------------------------- validators
# Each is a pydantic validator of the model and is run by the plain path too.

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


def _check_together(values: Mapping[str, Any]) -> None:
    """What no one field says alone."""
    url = _database_url(values["database_url"], values["data_dir"])
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


# --------------------------------------------------------------------------- the pydantic model


def _classmethod_of(rule: Callable[[str], str]) -> Callable[[type, str], str]:
    def validate(cls: type, value: str) -> str:
        return rule(value)

    return validate


@cache
def pydantic_model() -> type[BaseModel]:
    """The pydantic model of the fields above: what validates any value not plain."""
    from pydantic import (
        ConfigDict,
        Field,
        SecretStr,
        create_model,
        field_validator,
        model_validator,
    )

    def blank_is_unset(cls: type, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def check(model: BaseModel) -> BaseModel:
        _check_together(model.__dict__)
        return model

    validators: dict[str, Any] = {
        "_blank_is_unset": field_validator(*BLANK_IS_UNSET, mode="before")(blank_is_unset),
        "_together": model_validator(mode="after")(check),
    }
    for name, rule in FIELD_VALIDATORS.items():
        validators[f"_{name}"] = field_validator(name)(_classmethod_of(rule))
    namespace = {"Path": Path, "Decimal": Decimal, "SecretStr": SecretStr}
    fields: dict[str, Any] = {
        name: (eval(spec.annotation, namespace),  # our own annotations
               Field(spec.default, description=spec.description, **spec.bounds))
        for name, spec in FIELDS.items()
    }  # fmt: skip
    model: type[BaseModel] = create_model(
        "Settings",
        __config__=ConfigDict(extra="ignore", validate_default=True, allow_inf_nan=False),
        __validators__=validators,
        __module__=__name__,
        **fields,
    )
    return model


def _secrets_hidden(given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` with the audit key as a SecretStr: pydantic words a cross-field error with the
    whole input (`input_value={...}`, its head and tail), which must not show the key."""
    key = given.get("audit_key")
    if not isinstance(key, str):
        return dict(given)
    from pydantic import SecretStr

    return {**given, "audit_key": SecretStr(key)}


# --------------------------------------------------------------------------- the plain path

_DIGITS = re.compile(r"(?:0|[1-9][0-9]{0,17})")
_NUMBER = re.compile(r"(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,17})?")
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class _NotPlain(Exception):
    """A value the plain path leaves to pydantic."""


def _as_int(value: object) -> int:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _NotPlain


def _as_float(value: object) -> float:
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    if isinstance(value, float) and math.isfinite(value):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**53:
        return float(value)  # exactly (a larger int may not fit a float: pydantic decides)
    raise _NotPlain


def _as_decimal(value: object) -> Decimal:
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite():
        return value
    raise _NotPlain


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise _NotPlain


def _as_str(value: object) -> str:
    # A lone surrogate (an undecodable byte in the environment): pydantic refuses it where the
    # string has bounds, so it decides.
    if isinstance(value, str) and (value.isascii() or _is_utf8(value)):
        return value
    raise _NotPlain


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _as_path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value:
        return Path(value)
    raise _NotPlain


def _as_secret(value: object) -> SecretStr:
    """An audit key: pydantic's SecretStr, whose module is far lighter than the model."""
    from pydantic import SecretStr

    if isinstance(value, str):
        return SecretStr(value)
    raise _NotPlain


_PLAIN: dict[str, Callable[[object], object]] = {
    "SecretStr": _as_secret,
    "int": _as_int,
    "float": _as_float,
    "Decimal": _as_decimal,
    "bool": _as_bool,
    "str": _as_str,
    "Path": _as_path,
}


def _within(value: Any, bounds: Mapping[str, Any]) -> bool:
    for bound, limit in bounds.items():
        if bound == "gt":
            ok = value > limit
        elif bound == "ge":
            ok = value >= limit
        elif bound == "le":
            ok = value <= limit
        elif bound == "max_length":
            ok = len(value) <= limit
        else:  # a bound the plain path does not know
            return False
        if not ok:
            return False
    return True


def _plain_value(name: str, spec: Spec, value: object) -> object:
    kind = spec.annotation
    if kind.endswith(" | None"):
        if name in BLANK_IS_UNSET and isinstance(value, str) and not value.strip():
            value = None
        if value is None:
            return None
        kind = kind.removesuffix(" | None")
    convert = _PLAIN.get(kind)
    if convert is None:
        raise _NotPlain
    converted = convert(value)
    if not _within(converted, spec.bounds):
        raise _NotPlain
    rule = FIELD_VALIDATORS.get(name)
    if rule is not None:
        try:
            converted = rule(cast(str, converted))
        except ValueError:
            raise _NotPlain from None
    return converted


def _plain(given: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every field's value as pydantic would make it, or None when one is not plain (or
    wrong): then pydantic decides."""
    values: dict[str, Any] = {}
    try:
        for name, spec in FIELDS.items():
            values[name] = _plain_value(name, spec, given.get(name, spec.default))
        _check_together(values)
    except (_NotPlain, ValueError):
        return None
    return values

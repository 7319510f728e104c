"""What every command shares: settings from flags, opening the runtime, one-line errors, and
the small pieces of output and of managers and keys that several command groups use.

Imported by the root group itself (`brokerplane --help`), so it imports nothing heavy at the
top: the database layers, pydantic and rich are imported where they are used.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from brokerplane.core.errors import (
    CoreError,
    ManagerNotFound,
    PasswordPolicyViolation,
    ValidationError,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from brokerplane.bootstrap import Runtime
    from brokerplane.core.access.model import ApiKey, Manager
    from brokerplane.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

# Exit codes: 0 fine, 1 a check found a problem (db check, audit verify), 2 an error.
EXIT_CHECK_FAILED = 1
EXIT_ERROR = 2


class CliFailure(click.ClickException):
    """A failure shown as one line on stderr with exit code 2, never a traceback."""

    exit_code = EXIT_ERROR


def core_failure(exc: CoreError) -> CliFailure:
    message = f"{exc.code}: {exc.detail}"
    extra = [f"{f.field}: {f.message}" for f in exc.fields if f.message not in exc.detail]
    if extra:
        message += " (" + "; ".join(extra) + ")"
    return CliFailure(message)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class BrokerplaneGroup(click.Group):
    """The root group: turns core and database errors into one-line messages (exit 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CoreError as exc:
            raise core_failure(exc) from None
        except click.ClickException:
            raise
        except Exception as exc:
            failure = _known_failure(exc)
            if failure is not None:
                raise failure from None
            raise


def _known_failure(exc: Exception) -> CliFailure | None:
    """The one-line failure for an audit key problem or an unreachable database. Only a
    command that loaded those modules can raise their errors, so they are looked up in
    sys.modules rather than imported (the root group imports nothing heavy)."""
    keys = sys.modules.get("brokerplane.auditkeys")
    if keys is not None and isinstance(exc, keys.AuditKeyError):
        return CliFailure(f"audit key: {exc}")
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return CliFailure(f"storage.unavailable: {_first_line(exc)}")
    return None


def console(*, stderr: bool = False) -> Console:
    """A rich console on the current stdout/stderr (looked up late, so CliRunner captures it)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def escape(text: str) -> str:
    """rich.markup.escape, imported when output is drawn (`--json` never draws)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def rich_table(title: str, **options: Any) -> Table:
    """A rich Table, imported when output is drawn (`--json` never draws)."""
    from rich.table import Table

    return Table(title=title, **options)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object and nothing else."
)


def plural(n: int, noun: str) -> str:
    """`1 event`, `2 events`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def safe_url(url: str) -> str:
    """The database URL with its password masked, for messages."""
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url


def build_settings(**overrides: Any) -> Settings:
    """Settings from BROKERPLANE_* variables, with every flag that was given on top."""
    from brokerplane.settings import Settings

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValueError as exc:  # pydantic's ValidationError (pydantic is loaded only for it)
        import pydantic

        if not isinstance(exc, pydantic.ValidationError):
            raise
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
            for err in exc.errors()
        )
        raise CliFailure(f"settings: {problems}") from None


def database_options(fn: F) -> F:
    """--database-url and --data-dir, for every command that opens the database."""
    fn = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Directory of the embedded SQLite database [env BROKERPLANE_DATA_DIR; ./var].",
    )(fn)
    fn = click.option(
        "--database-url",
        default=None,
        metavar="URL",
        help="sqlite:///path or postgresql://user:pass@host/db "
        "[env BROKERPLANE_DATABASE_URL; default SQLite under the data dir].",
    )(fn)
    return fn


def open_runtime(
    settings: Settings, *, migrate_schema: bool = False, provision_key: bool = True
) -> Runtime:
    """bootstrap.build with bad URLs reported as one line instead of a traceback."""
    from sqlalchemy import exc as sa_exc

    from brokerplane import bootstrap

    try:
        return bootstrap.build(settings, migrate_schema=migrate_schema, provision_key=provision_key)
    except (ValueError, sa_exc.ArgumentError) as exc:
        from brokerplane.storage.replica import ReplicaUrlError  # loaded if it was raised

        if isinstance(exc, ReplicaUrlError):  # it names the read replica's URL itself
            raise CliFailure(str(exc)) from None
        url = safe_url(settings.effective_database_url)
        raise CliFailure(f"database URL {url}: {_first_line(exc)}") from None
    except OSError as exc:  # the data directory or a file in it cannot be made or opened
        raise CliFailure(
            f"cannot open {exc.filename or settings.data_dir}: {exc.strerror or exc}"
        ) from None


@contextmanager
def runtime_for(
    settings: Settings,
    *,
    migrate_schema: bool = False,
    require_head: bool = True,
    provision_key: bool = True,
) -> Iterator[Runtime]:
    """A runtime that is closed afterwards; refuses a database not migrated to head.
    `provision_key`: make the audit key when the chain has none yet (not for read-only checks)."""
    runtime = open_runtime(settings, migrate_schema=migrate_schema, provision_key=provision_key)
    try:
        if require_head and not migrate_schema:
            ensure_at_head(runtime)
        yield runtime
    finally:
        runtime.close()


def ensure_at_head(runtime: Runtime) -> None:
    from brokerplane.storage import revisions

    at, head = revisions.current(runtime.storage.engine), revisions.head()
    if at != head:
        url = safe_url(runtime.settings.effective_database_url)
        raise CliFailure(
            f"the database {url} is at revision {at or 'none'}, not {head}: "
            "run `brokerplane db upgrade` first"
        )


def comma_list(value: str) -> frozenset[str]:
    """`a, b,c` as a set of its non-empty, stripped parts."""
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def iso(value: datetime | None) -> str | None:
    """A UTC time as ISO 8601 with Z, as the native API writes times."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


_DURATION = re.compile(r"^\s*(\d{1,6})\s*([dh])\s*$", re.IGNORECASE)
EXPIRY_HELP = (
    "a date (2027-01-31, meaning 00:00 UTC), a time (2027-01-31T18:00:00Z) or a duration (30d, 12h)"
)


def parse_expiry(value: str, now: datetime) -> datetime:
    """When a key expires: an ISO 8601 date or time (UTC unless it names an offset), or a
    duration from now in days (`30d`) or hours (`12h`). A time not in the future is refused by
    the core."""
    duration = _DURATION.match(value)
    if duration:
        amount, unit = int(duration[1]), duration[2].lower()
        return now + (timedelta(days=amount) if unit == "d" else timedelta(hours=amount))
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError.field(
            "expires_at", f"expected {EXPIRY_HELP}, not {value!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


# --------------------------------------------------------------------------- managers and keys


def key_state(key: ApiKey, now: datetime) -> str:
    """active, expired or revoked (revoked wins)."""
    if key.revoked_at is not None and key.revoked_at <= now:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def existing_manager(runtime: Runtime, login: int) -> Manager:
    found = runtime.app.get_manager(login)
    if found is None:
        raise ManagerNotFound(login)
    return found


# Punctuation that survives copy-paste into a shell or a JSON string unquoted.
_PASSWORD_SPECIALS = "#@%+=-_"


def generate_password(length: int = 14) -> str:
    """A random password meeting seed 002's policy (lower, upper, digit, special; 8-16 long)."""
    import secrets
    import string

    from brokerplane.core import passwords

    if not passwords.MIN_LENGTH <= length <= passwords.MAX_LENGTH:
        raise ValueError(f"length must be {passwords.MIN_LENGTH}-{passwords.MAX_LENGTH}")
    alphabet = string.ascii_letters + string.digits + _PASSWORD_SPECIALS
    while True:
        first = secrets.choice(string.ascii_letters)
        rest = "".join(secrets.choice(alphabet) for _ in range(length - 1))
        candidate = first + rest
        try:
            passwords.check_policy(candidate, "password")
        except PasswordPolicyViolation:
            continue
        return candidate

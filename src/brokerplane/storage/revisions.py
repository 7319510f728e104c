"""The database's schema revision and the newest one, read without loading alembic.

Commands that only check "is the database at head?" before reading (`brokerplane key list`)
would otherwise spend most of their start-up importing alembic. The head is read from the
revision files' `revision = "..."` and `down_revision = ...` lines; whenever that is not one
plain chain (a merge, a branch, a file written another way), alembic decides, as before.
"""

from __future__ import annotations

import functools
import re

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

from brokerplane.storage.migrate_paths import VERSIONS

_REVISION = re.compile(r'^revision\s*(?::[^=\n]*)?=\s*["\']([\w.-]+)["\']\s*$', re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)
_QUOTED = re.compile(r'^["\']([\w.-]+)["\']$')


@functools.cache
def head() -> str:
    """The newest revision of the migrations shipped with this version."""
    found = _plain_head()
    if found is not None:
        return found
    from brokerplane.storage import migrate

    return migrate.head()


def _plain_head() -> str | None:
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in sorted(VERSIONS.glob("*.py")):
        if path.name.startswith("_"):
            continue
        source = path.read_text(encoding="utf-8")
        rev, down = _REVISION.findall(source), _DOWN.findall(source)
        if len(rev) != 1 or len(down) != 1:
            return None
        revisions.add(rev[0])
        if down[0] == "None":
            continue
        quoted = _QUOTED.match(down[0])
        if quoted is None:  # a tuple: a merge revision
            return None
        downs.add(quoted[1])
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 and downs <= revisions else None


def current(engine: Engine) -> str | None:
    """The database's revision; None when it has none (never migrated)."""
    try:
        with engine.connect().execution_options(bp_write=False) as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except sa_exc.ProgrammingError:
        rows = None  # no such table (PostgreSQL)
    except sa_exc.OperationalError as err:
        if "no such table" not in str(err.orig):  # SQLite says so; anything else is real
            raise
        rows = None
    if not rows:
        return None
    if len(rows) == 1:
        return str(rows[0][0])
    from brokerplane.storage import migrate

    return migrate.current(engine)

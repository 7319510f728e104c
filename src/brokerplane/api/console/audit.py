"""The console's audit page: the trail filtered by action, account, manager, operator, dialect
and time, by pages, with the chain's verification on request.

Verifying re-hashes the whole chain, which grows without end; so that a reload held down (or
many managers at once) cannot keep the database and a core busy, a server process re-hashes
it at most once every `VERIFY_EVERY_S` seconds, one request at a time: a request within that
gets the last result, with the time it was checked."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from starlette.responses import Response

from brokerplane.api.console.pages import PAGE, Ctx, Pages, whole
from brokerplane.core.audit.model import AuditQuery, ChainReport
from brokerplane.core.errors import ValidationError
from brokerplane.core.kinds import Dialect

# The dialects changes come through, as the audit trail records them.
AUDIT_DIALECTS: tuple[str, ...] = tuple(Dialect)


VERIFY_EVERY_S = 60.0


@dataclass(frozen=True)
class Checked:
    report: ChainReport
    at: datetime  # when the re-hash started (UTC)
    fresh: bool  # re-hashed for this request (False: the last result, within the interval)


class ChainCheck:
    """The chain's verification, run at most once every `every` seconds per process and by
    one request at a time (the others wait for it and take its result)."""

    def __init__(self, every: float = VERIFY_EVERY_S) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._last: tuple[float, Checked] | None = None

    def check(self, verify: Callable[[], ChainReport]) -> Checked:
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self.every:
                return Checked(self._last[1].report, self._last[1].at, fresh=False)
            started, at = time.monotonic(), datetime.now(UTC)
            done = Checked(verify(), at, fresh=True)
            self._last = (started, done)
            return done


class AuditPages(Pages):
    chain_check: ChainCheck | None = None

    async def audit(self, ctx: Ctx) -> Response:
        q = ctx.request.query_params
        action = (q.get("action") or "").strip()[:100] or None
        account = whole(q.get("account"))
        manager = whole(q.get("manager"))
        operator = (q.get("operator") or "").strip()[:127] or None
        dialect = (q.get("dialect") or "").strip()[:16] or None
        if dialect is not None and dialect not in AUDIT_DIALECTS:
            raise ValidationError.field("dialect", f"must be one of {', '.join(AUDIT_DIALECTS)}")
        since, until = (q.get("from") or "").strip()[:16], (q.get("to") or "").strip()[:16]
        time_from = _moment("from", since)
        time_to = _moment("to", until)
        if time_to is not None and len(until) == 10:
            # a day given as the end: up to its end (the calendar's last day: no end at all)
            time_to = time_to + timedelta(days=1) if time_to.date() < date.max else None
        after = whole(q.get("after"))
        query = AuditQuery(
            entity_type="account" if account is not None else None,
            entity_id=str(account) if account is not None else None,
            action=action,
            manager_login=manager,
            operator_id=operator,
            time_from=time_from,
            time_to=time_to,
            after_id=after,
            limit=PAGE + 1,
            dialect=dialect,
        )
        records = await self.call(self.services.query_audit, query, ctx.actor)
        more = len(records) > PAGE
        records = records[:PAGE]
        report = None
        if q.get("verify") == "1":  # the actor may read the whole trail (checked just above)
            if self.chain_check is None:
                self.chain_check = ChainCheck()
            report = await self.call(self.chain_check.check, self.services.verify_audit)
        params = {
            k: v
            for k, v in (
                ("action", action),
                ("account", account),
                ("manager", manager),
                ("operator", operator),
                ("dialect", dialect),
                ("from", since),
                ("to", until),
            )
            if v
        }
        next_url = (
            "/console/audit?" + urlencode({**params, "after": records[-1].id}) if more else None
        )
        return self.page(
            ctx.request,
            "audit.html",
            200,
            ctx,
            title="Audit",
            records=records,
            action=action or "",
            account=account or "",
            manager=manager or "",
            operator=operator or "",
            dialect=dialect or "",
            dialects=AUDIT_DIALECTS,
            since=since,
            until=until,
            report=report,
            next_url=next_url,
            every=int(VERIFY_EVERY_S),
            verify_url="/console/audit?" + urlencode({**params, "verify": 1}),
        )


def _moment(field: str, text: str) -> datetime | None:
    """A day (YYYY-MM-DD) or a minute (YYYY-MM-DDTHH:MM, as a browser's datetime field sends
    it), in UTC; None when empty."""
    if not text:
        return None
    for shape in ("%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, shape).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValidationError.field(field, "must be a date, YYYY-MM-DD, or YYYY-MM-DDTHH:MM (UTC)")

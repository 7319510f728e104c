"""The console's overview (the day's money, pending approvals, exposure, recent changes) and
risk pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from starlette.responses import Response

from brokerplane.api.console.pages import Ctx, Pages
from brokerplane.core.actor import Actor
from brokerplane.core.approval.model import Approval, ApprovalQuery
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import PermissionDenied
from brokerplane.core.ledger.model import LedgerQuery


class OverviewPages(Pages):
    # ---- overview ----------------------------------------------------------------------

    async def overview(self, ctx: Ctx) -> Response:
        actor, s = ctx.actor, self.services
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        moves: dict[str, dict[str, int]] = {}
        digits: dict[str, int] = {}
        money_note = None
        try:
            entries = await self.call(
                s.list_ledger,
                LedgerQuery(kinds=("deposit", "withdrawal"), time_from=today, limit=1000),
                actor,
            )
            for e in entries:
                row = moves.setdefault(e.currency, {"deposit": 0, "withdrawal": 0, "count": 0})
                row[e.kind] += abs(e.amount)
                row["count"] += 1
                digits[e.currency] = e.currency_digits
            if len(entries) == 1000:
                money_note = "the first 1,000 operations of the day"
        except PermissionDenied:
            money_note = "needs balances:write or reports:read"
        pending = await self._approvals(actor, "pending")
        exposure, calls, recent = None, None, None
        try:
            exposure = await self.call(partial(s.exposure, actor))
            calls = await self.call(s.margin_calls, actor)
        except PermissionDenied:
            pass
        try:
            records = await self.call(
                s.query_audit,
                AuditQuery(time_from=datetime.now(UTC) - timedelta(days=1), limit=1000),
                actor,
            )
            recent = list(reversed(records[-10:]))
        except PermissionDenied:
            pass
        return self.page(
            ctx.request,
            "overview.html",
            200,
            ctx,
            title="Overview",
            moves=moves,
            digits=digits,
            money_note=money_note,
            pending=pending,
            exposure=exposure,
            chart=chart(exposure),
            calls=calls,
            recent=recent,
        )

    async def _approvals(self, actor: Actor, state: str | None) -> list[Approval] | None:
        try:
            found: list[Approval] = await self.call(
                self.services.list_approvals, ApprovalQuery(state=state, limit=1000), actor
            )
            return found
        except PermissionDenied:
            return None

    # ---- risk and audit ------------------------------------------------------------------

    async def risk(self, ctx: Ctx) -> Response:
        exposure = await self.call(partial(self.services.exposure, ctx.actor))
        calls = await self.call(self.services.margin_calls, ctx.actor)
        return self.page(
            ctx.request,
            "risk.html",
            200,
            ctx,
            title="Risk",
            exposure=exposure,
            chart=chart(exposure),
            group_chart=chart(exposure, "group"),
            calls=calls,
            refresh=30,
        )


def chart(exposure: Any, by: str = "symbol") -> dict[str, Any] | None:
    """Bars of net exposure by symbol (or by group), for an inline SVG (no script, no external
    asset); the 12 largest."""
    found = None if exposure is None else getattr(exposure, f"{by}s")
    if not found:
        return None
    lines = sorted(found, key=lambda x: abs(x.net_notional), reverse=True)[:12]
    top = max((abs(x.net_notional) for x in lines), default=Decimal(0)) or Decimal(1)
    half, row = 200, 26
    bars = []
    for i, line in enumerate(lines):
        width = float(abs(line.net_notional) / top) * (half - 10)
        x = half if line.net_notional >= 0 else half - width
        name = str(getattr(line, by))
        bars.append(
            {
                "y": i * row + 4,
                "x": round(x, 1),
                "w": round(max(width, 1.0), 1),
                "name": name,
                "label": name if len(name) <= 11 else name[:10] + "…",
                "long": line.net_notional >= 0,
                "value": f"{line.net_notional:,.0f}",
            }
        )
    return {
        "bars": bars,
        "height": len(bars) * row + 8,
        "half": half,
        "by": by,
        "currency": exposure.currency,
    }

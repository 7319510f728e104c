"""The console's money pages: a balance operation in two steps (confirm, then apply once per
form key), and the approval queue with its decisions."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from brokerplane.api.console.accounts import OPERATIONS
from brokerplane.api.console.pages import (
    DIALECT,
    MAX_TEXT,
    PAGE,
    Ctx,
    Pages,
    path_login,
    shown_amount,
    whole,
)
from brokerplane.api.kit.idempotency import SentKey, fingerprint, keyed_actor, request_of, run
from brokerplane.application.idempotency import Replay
from brokerplane.core.approval.commands import DecideApproval
from brokerplane.core.approval.model import STATES, ApprovalQuery
from brokerplane.core.errors import ValidationError
from brokerplane.core.kinds import Operation
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.money import format_units


class MoneyPages(Pages):
    async def money(self, ctx: Ctx) -> Response:
        """Two steps: `confirm` shows what will happen; `apply` posts it once per form key."""
        login = path_login(ctx.request)
        form = ctx.request.state.form
        op = form.get("operation") or ""
        if op not in OPERATIONS:
            raise ValidationError.field("operation", f"must be one of {', '.join(OPERATIONS)}")
        amount = (form.get("amount") or "").strip()[:40]
        comment = (form.get("comment") or "")[:MAX_TEXT]
        key = (form.get("key") or "")[:64]
        if not key:
            raise ValidationError.field("key", "the form has no submission key; reload it")
        try:
            parsed = Decimal(amount)
        except ArithmeticError:
            raise ValidationError.field("amount", "must be a decimal number") from None
        if not parsed.is_finite():
            raise ValidationError.field("amount", "must be a decimal number")
        acc = await self.call(self.services.get_account, login, ctx.actor)
        if form.get("step") != "apply":
            threshold = await self._threshold(acc, ctx)
            waits = None
            if threshold is not None:
                units, digits = threshold
                waits = abs(parsed) * 10**digits > units
            return self.page(
                ctx.request,
                "confirm.html",
                200,
                ctx,
                title="Confirm",
                acc=acc,
                operation=op,
                label=OPERATIONS[op],
                amount=amount,
                comment=comment,
                key=key,
                waits=waits,
                threshold=format_units(*threshold) if threshold else None,
            )
        cmd = PostLedgerEntry(login=login, operation=Operation(op), amount=amount, comment=comment)
        print_ = fingerprint(DIALECT, op, login, parsed, comment)
        request = request_of(ctx.actor, SentKey(key, "Idempotency-Key"), print_)
        armed = keyed_actor(ctx.actor, request)
        outcome = await self.call(run, partial(self.services.run, cmd, armed, request), _label)
        replayed = isinstance(outcome, Replay)
        result = _replayed(outcome) if isinstance(outcome, Replay) else _summary(outcome)
        return self.page(
            ctx.request,
            "outcome.html",
            200,
            ctx,
            title="Done",
            acc=acc,
            result=result,
            label=OPERATIONS[op],
            replayed=replayed,
        )

    async def _threshold(self, acc: Any, ctx: Ctx) -> tuple[int, int] | None:
        """The approval threshold the core applies to this account (its group's, else its
        currency's), in minor units with its digits; None when there is none. The outcome
        page says what the core did: a threshold changed in between is the core's to apply."""
        found = await self.call(self.services.list_approval_thresholds, ctx.actor)
        mine = [t for t in found if t.currency == acc.currency and t.group in (acc.group, None)]
        mine.sort(key=lambda t: t.group is None)  # the group's own first
        return (mine[0].amount, mine[0].currency_digits) if mine else None

    # ---- approvals ---------------------------------------------------------------------

    async def approvals(self, ctx: Ctx) -> Response:
        state = ctx.request.query_params.get("state") or "pending"
        if state not in STATES:
            raise ValidationError.field("state", f"must be one of {', '.join(STATES)}")
        after = whole(ctx.request.query_params.get("after"))
        limit = 1000 if state == "pending" else PAGE + 1  # the queue whole; history by pages
        query = ApprovalQuery(state=state, after_id=after, limit=limit)
        found = await self.call(self.services.list_approvals, query, ctx.actor)
        next_url = None
        if state != "pending" and len(found) > PAGE:
            found = found[:PAGE]
            next_url = "/console/approvals?" + urlencode({"state": state, "after": found[-1].id})
        return self.page(
            ctx.request,
            "approvals.html",
            200,
            ctx,
            title="Approvals",
            approvals=found,
            state=state,
            states=STATES,
            next_url=next_url,
            can_decide=ctx.actor.may(DecideApproval),
        )

    async def decide(self, ctx: Ctx) -> Response:
        approval_id = whole(ctx.request.path_params.get("approval_id"))
        if approval_id is None:
            raise ValidationError.field("approval_id", "must be a number")
        form = ctx.request.state.form
        decision = form.get("decision")
        if decision not in ("approve", "reject"):
            raise ValidationError.field("decision", "must be approve or reject")
        cmd = DecideApproval(
            approval_id, decision == "approve", (form.get("comment") or "")[:MAX_TEXT]
        )
        done = await self.call(self.services.decide_approval, cmd, ctx.actor)
        return self.page(
            ctx.request, "decided.html", 200, ctx, title="Decided", approval=done.approval
        )


def _replayed(replay: Replay[Posting]) -> dict[str, Any]:
    if replay.response is not None:  # stored as it was shown, before answers were data
        shown: dict[str, Any] = json.loads(replay.response.body)
        return shown
    return _summary(replay.result)


def _label(posting: Posting) -> tuple[int, str | None]:
    """An operation as a reused key's refusal names it."""
    return 200, str(posting.entry.id) if posting.entry else None


def _summary(p: Posting) -> dict[str, Any]:
    digits = p.currency.digits
    return {
        "status": p.status,
        "login": p.login,
        "kind": p.kind,
        "amount": format_units(shown_amount(p.kind, p.amount), digits),
        "currency": p.currency.code,
        "balance": format_units(p.balance, digits),
        "credit": format_units(p.credit, digits),
        "bonus": format_units(p.bonus, digits),
        "operation_id": p.entry.id if p.entry else None,
        "approval_id": p.approval.id if p.approval else None,
    }

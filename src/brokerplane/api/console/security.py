"""The console's second factor pages: the sign-in's code step, and the signed-in manager's
Security page (TOTP enrolment with a QR code drawn here as inline SVG, recovery codes shown
once, turning it off); the rules are core.access.second_factor's."""

from __future__ import annotations

from typing import Any

import segno
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from brokerplane.api.console import session as sess
from brokerplane.api.console.pages import SECURITY_HEADERS, Ctx, read_form, safe_next
from brokerplane.api.console.signin import SignInPages
from brokerplane.core.access.commands import EXPIRED, TOO_MANY, SecondStep
from brokerplane.core.errors import CoreError, Unauthorized

MAX_CODE = 64
MAX_PASSWORD = 1024


def qr_svg(uri: str) -> str:
    """The otpauth:// URI as an inline SVG QR code (no script, no image request)."""
    code = segno.make(uri, error="m")
    return str(
        code.svg_inline(
            scale=4, dark="#000", light="#fff", border=4, title="QR code of the two-factor secret"
        )
    )


def routes(c: SignInPages) -> list[Route]:
    def code_page(request: Request, message: str | None, status: int = 200) -> Response:
        token = sess.new_csrf()
        response = c.page(
            request,
            "signin_code.html",
            status,
            None,
            title="Two-factor sign-in",
            message=message,
            csrf=token,
            next=safe_next(request.query_params.get("next")),
        )
        sess.set_pre_token(response, request, token)
        return response

    async def code_form(request: Request) -> Response:
        if sess.challenge(request) is None:
            return RedirectResponse("/console/signin", 303, headers=SECURITY_HEADERS)
        return code_page(request, None)

    async def code(request: Request) -> Response:
        form = await read_form(request)
        challenge = sess.challenge(request)
        if challenge is None:
            return c._signin_page(request, EXPIRED, "", 401)
        if form is None or not sess.same(form.get("csrf"), sess.pre_token(request)):
            return code_page(request, "The form expired: enter the code again.", 403)
        target = safe_next(form.get("next"))
        cmd = SecondStep(challenge, (form.get("code") or "")[:MAX_CODE], c.idle, c.idle)
        try:
            pair = await run_in_threadpool(
                c.services.sign_in_second_step, cmd, c._anonymous(request)
            )
        except Unauthorized as err:
            if err.detail in (EXPIRED, TOO_MANY):  # the password is asked again
                response = c._signin_page(request, err.detail, "", 401)
                sess.clear_challenge(response, request)
                return response
            return code_page(request, err.detail, 401)
        except CoreError as err:
            return code_page(request, err.detail, 503)
        return c.start_session(request, pair, target)

    async def security(ctx: Ctx) -> Response:
        return await show(ctx)

    async def show(ctx: Ctx, status: int = 200, **data: Any) -> Response:
        state = await c.call(c.services.second_factor_status, ctx.actor)
        qr = qr_svg(state.pending.uri) if state.pending is not None else None
        return c.page(
            ctx.request, "security.html", status, ctx, title="Security", state=state, qr=qr, **data
        )

    async def change(ctx: Ctx) -> Response:
        form = ctx.request.state.form
        action = form.get("action")
        s, actor = c.services, ctx.actor
        proof = (form.get("proof") or "")[: MAX_CODE * 4]
        password = (form.get("password") or "")[:MAX_PASSWORD]
        try:
            if action == "start":
                await c.call(s.start_second_factor, actor, password)
                return RedirectResponse("/console/security", 303, headers=SECURITY_HEADERS)
            if action == "confirm":
                codes = await c.call(
                    s.confirm_second_factor, actor, (form.get("code") or "")[:MAX_CODE], password
                )
                return await show(ctx, codes=codes, notice="Two-factor sign-in is on.")
            if action == "recovery":
                codes = await c.call(s.regenerate_recovery_codes, actor, proof)
                return await show(
                    ctx, codes=codes, notice="New recovery codes: the old ones no longer work."
                )
            if action == "disable":
                await c.call(s.disable_second_factor, actor, proof)
                return await show(ctx, notice="Two-factor sign-in is off.")
        except Unauthorized as err:
            if "wrong" in err.detail:
                detail = "wrong password" if action in ("start", "confirm") else "wrong code"
            else:
                detail = err.detail
            return await show(ctx, 401, problem=detail)
        except CoreError as err:
            return await show(ctx, 400 if err.fields else 409, problem=err.detail)
        return await show(ctx, 400, problem="action: must be start, confirm, recovery or disable")

    return [
        Route("/signin/code", code_form, methods=["GET"]),
        Route("/signin/code", code, methods=["POST"]),
        Route("/security", c.view(security)),
        Route("/security", c.view(change, post=True), methods=["POST"]),
    ]

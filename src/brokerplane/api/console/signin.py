"""The console's sign-in and sign-out pages (the second factor's step is in security.py)."""

from __future__ import annotations

import contextlib
import secrets
from datetime import timedelta
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from brokerplane.api.console import session as sess
from brokerplane.api.console.pages import SECURITY_HEADERS, Pages, read_form, safe_next
from brokerplane.core.access.commands import WRONG_CREDENTIALS
from brokerplane.core.backoffice.commands import RefreshSession, SignIn, TokenPair
from brokerplane.core.errors import CoreError, Unauthorized


class SignInPages(Pages):
    async def signin_form(self, request: Request) -> Response:
        if await self._signed_in_or_none(request) is not None:
            return RedirectResponse(safe_next(request.query_params.get("next")), 303)
        return self._signin_page(request, None, "")

    def _signin_page(
        self, request: Request, message: str | None, login: str, status: int = 200
    ) -> Response:
        token = secrets.token_urlsafe(24)
        response = self.page(
            request,
            "signin.html",
            status,
            None,
            title="Sign in",
            message=message,
            login=login,
            csrf=token,
            next=safe_next(request.query_params.get("next")),
        )
        sess.set_pre_token(response, request, token)
        return response

    async def signin(self, request: Request) -> Response:
        form = await read_form(request)
        if form is None or not sess.same(form.get("csrf"), sess.pre_token(request)):
            return self._signin_page(request, "The form expired: please sign in again.", "", 403)
        login = (form.get("login") or "").strip()[:32]
        password = form.get("password") or ""
        target = safe_next(form.get("next"))
        if not (login.isascii() and login.isdigit()):
            # Only managers sign in here (a TraderEvolution user's login is not numeric).
            return self._signin_page(request, WRONG_CREDENTIALS, login, 401)
        cmd = SignIn(login=login, password=password, access_ttl=self.idle, refresh_ttl=self.idle)
        try:
            step = await run_in_threadpool(
                self.services.sign_in_console, cmd, self._anonymous(request)
            )
        except Unauthorized as err:
            return self._signin_page(request, err.detail, login, 401)
        except CoreError as err:
            return self._signin_page(request, err.detail, login, 503)
        if step.challenge is not None:  # the manager's second factor is on: ask for a code
            response = RedirectResponse(
                "/console/signin/code?" + urlencode({"next": target}), 303, headers=SECURITY_HEADERS
            )
            sess.set_challenge(response, request, step.challenge)
            return response
        assert step.pair is not None
        return self.start_session(request, step.pair, target)

    def start_session(self, request: Request, pair: TokenPair, target: str) -> Response:
        held = sess.Held(sess.now_ms(), pair.access_token, pair.refresh_token, sess.new_csrf())
        # A new cookie on every sign-in: a session planted before it is never reused.
        response = RedirectResponse(target, 303, headers=SECURITY_HEADERS)
        sess.set_session(response, request, held, self._max_age())
        sess.clear_pre_token(response, request)
        sess.clear_challenge(response, request)
        return response

    async def signout(self, request: Request) -> Response:
        ctx = await self._signed_in_or_none(request)
        form = await read_form(request)
        if ctx is not None and form is not None and sess.same(form.get("csrf"), ctx.csrf):
            held = ctx.renewed or sess.held(request)
            if held is not None:
                # Trading the refresh token in ends the pair; the new pair is dropped unseen.
                cmd = RefreshSession(held.refresh, timedelta(seconds=1), timedelta(seconds=1))
                with contextlib.suppress(CoreError):  # already over: nothing to end
                    await run_in_threadpool(
                        self.services.refresh_backoffice_session, cmd, self._anonymous(request)
                    )
        elif ctx is not None:
            return self.page(
                request,
                "error.html",
                403,
                ctx,
                title="Refused",
                fields=[],
                detail="the form's security token is missing or wrong",
            )
        response = RedirectResponse("/console/signin", 303, headers=SECURITY_HEADERS)
        sess.clear_session(response, request)
        return response

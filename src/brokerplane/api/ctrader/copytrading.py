"""A trader's cTrader Copy sub-accounts (Web Services 6.1, 6.2): brokerplane has no cTrader Copy."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.ctrader.auth import actor_of
from brokerplane.api.ctrader.wire import answer, get_both, services_of

router = APIRouter()


# ---- cTrader Copy sub-accounts --------------------------------------------------------------


@get_both(router, "/traders/{login:int}/subaccounts")
async def sub_accounts(login: int, request: Request) -> Response:
    """brokerplane has no cTrader Copy: a known trader has no sub-accounts."""
    actor = await actor_of(request)
    await run_in_threadpool(services_of(request).get_account, login, actor)
    body = {
        "subAccountLogins": {"login": []},
        "totalSubAccountsBalance": 0,
        "totalSubAccountsEquity": 0,
    }
    return answer(request, body, "subAccounts")

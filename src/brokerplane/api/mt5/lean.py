"""MT5's `trade/balance` (HTTP Web API) without FastAPI's per-request route machinery.

`/api/{name:path}` is one FastAPI route for every MT5 command: its endpoint (api/mt5/mount.py
`api`) names the command for the metrics and runs `dispatch`, which reads the query and body
itself, finds the session, runs the command in one trip to a worker thread and turns any
error into a retcode. FastAPI validates nothing for it (the command name is the path); for
the busiest command, `GET|POST /api/trade/balance` (listed by api.hotpaths), the same
endpoint runs here directly, with the name that route would have given it.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from brokerplane.api import hotpaths
from brokerplane.api.kit.lean import Lean
from brokerplane.api.mt5 import mount


async def _trade_balance(route: BaseRoute, scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive, send)
    response = await mount.api("trade/balance", request)
    await response(scope, receive, send)


HANDLERS: Mapping[tuple[str, ...], Lean] = dict.fromkeys(hotpaths.MT5_MONEY, _trade_balance)

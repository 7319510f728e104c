"""Mounting the native dialect: every section's router under `/v1`, and again under
`/mt4/manager` (the MT4-style spelling, left out of the document), in the document's order."""

from __future__ import annotations

from fastapi import APIRouter

from brokerplane.api.native import (
    accounts,
    approvals,
    audit,
    events,
    groups,
    keys,
    money,
    operations,
    quotes,
    risk,
    symbols,
    trading,
    webhooks,
)

ROUTERS: tuple[APIRouter, ...] = (
    operations.router,
    accounts.router,
    groups.router,
    symbols.router,
    money.router,
    approvals.router,
    audit.router,
    keys.router,
    quotes.router,
    trading.router,
    risk.router,
    events.router,
    webhooks.router,
)


def mount(app: APIRouter) -> None:
    for router in ROUTERS:
        app.include_router(router, prefix="/v1")
        app.include_router(router, prefix="/mt4/manager", include_in_schema=False)

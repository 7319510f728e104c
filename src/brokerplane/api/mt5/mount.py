"""Mounting the MT5 dialect on the app: its commands, sessions and legacy aliases."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from brokerplane.api.mt5 import router as mt5_router
from brokerplane.api.mt5.session import Sessions


def mount(app: FastAPI) -> None:
    # Importing the command modules registers their commands.
    from brokerplane.api.mt5 import (  # noqa: F401
        admin,
        changes,
        clients,
        config,
        crm,
        dealer,
        identity,
        ticks,
        trade,
        users,
    )

    app.state.mt5_sessions = Sessions()
    app.include_router(mt5_router.router)
    legacy = APIRouter(include_in_schema=False)
    mt5_router.add_legacy_routes(legacy)
    app.include_router(legacy)

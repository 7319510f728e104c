"""The risk pass inside `brokerplane serve`: every BROKERPLANE_RISK_PASS_INTERVAL_S, class the
accounts holding positions against their groups' margin-call and stop-out levels and record
each crossing once (core/trading/watch.py), which writes its event to the outbox.

A cycle walks the accounts in batches of BROKERPLANE_RISK_PASS_BATCH, each batch a read and, only
when it found crossings, one short write, run in the thread pool one after another (the event
loop and the quote feed are never held). Several server processes may run it: a crossing is
recorded by whichever pass gets there first, and once."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from fastapi.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from brokerplane.application.app import Application
    from brokerplane.bootstrap import Runtime

log = logging.getLogger("brokerplane.risk")


async def pause(stopping: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds`, or less when `stopping` is set meanwhile; whether it is set."""
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def run_cycle(
    services: Application, batch: int, stopping: asyncio.Event | None = None
) -> int:
    """One cycle over every watched account (or until `stopping` is set, between batches); how
    many crossings it recorded."""
    after, recorded = 0, 0
    while True:
        result = await run_in_threadpool(services.risk_pass, after, batch)
        recorded += result.recorded
        if not result.next_after or (stopping is not None and stopping.is_set()):
            return recorded
        after = result.next_after


async def run(runtime: Runtime, stopping: asyncio.Event) -> None:
    """Cycles until `stopping` is set (the server stopping), finishing the batch under way: its
    thread cannot be cancelled, and must not outlive the runtime. A failed cycle is logged and
    retried."""
    settings = runtime.settings
    interval = settings.risk_pass_interval_s
    while not await pause(stopping, interval):
        try:
            recorded = await run_cycle(runtime.app, settings.risk_pass_batch, stopping)
        except Exception:
            log.exception("risk pass failed; retrying in %ss", interval)
            continue
        if recorded:
            log.info("risk pass: %d margin crossings recorded", recorded)

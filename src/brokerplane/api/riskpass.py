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
    from brokerplane.application.services import Services
    from brokerplane.bootstrap import Runtime

log = logging.getLogger("brokerplane.risk")


async def run_cycle(services: Services, batch: int) -> int:
    """One cycle over every watched account; how many crossings it recorded."""
    after, recorded = 0, 0
    while True:
        result = await run_in_threadpool(services.risk_pass, after, batch)
        recorded += result.recorded
        if not result.next_after:
            return recorded
        after = result.next_after


async def run(runtime: Runtime) -> None:
    """Cycles until cancelled (the server stopping); a failed cycle is logged and retried."""
    settings = runtime.settings
    interval = settings.risk_pass_interval_s
    while True:
        await asyncio.sleep(interval)
        try:
            recorded = await run_cycle(runtime.services, settings.risk_pass_batch)
        except Exception:
            log.exception("risk pass failed; retrying in %ss", interval)
            continue
        if recorded:
            log.info("risk pass: %d margin crossings recorded", recorded)

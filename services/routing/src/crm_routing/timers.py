"""The claim-timer worker (R4): due timers become `routing.lead.claim_expired` commands that the
service hands to its own handler. Stored timers survive restarts; the timer id is the command id,
so when two replicas see the same due timer the inbox lets one of them act."""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from crm_contracts import command
from crm_contracts.routing import ClaimExpired
from crm_runtime import logs
from crm_runtime.batches import BatchProcessor
from crm_runtime.service import Service

from . import repository

log = logs.get(__name__)


async def fire_due(pool: asyncpg.Pool, processor: BatchProcessor, at: datetime) -> int:
    """Fire every timer due at `at` (the platform's clock, which tests move)."""
    async with pool.acquire() as conn:
        due = await repository.leads.due_timers(conn, at)
    for t in due:
        message = command(ClaimExpired(lead_id=t["lead_id"], timer_id=t["timer_id"]), source="crm/routing-timers",
                          accountid=t["account_id"], instanceid=t["instance_id"], subject=t["lead_id"],
                          id=t["timer_id"])
        try:
            outcome = await processor.handle_message(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an outage or a fault of this one lead: the others still fire
            log.warning("timer_failed", timer_id=t["timer_id"], lead_id=t["lead_id"], error=repr(exc))
            continue
        if outcome.name != "handled":
            # Refused (its `routing.command.rejected` names the reason) or already answered: the
            # handler's rollback kept the timer, which would come back every pass; it ends here.
            async with pool.acquire() as conn:
                await repository.leads.take_timer(conn, t["lead_id"], t["timer_id"])
            log.warning("timer_ended", timer_id=t["timer_id"], lead_id=t["lead_id"], outcome=outcome.name,
                        reason=outcome.reason)
    return len(due)


async def run(svc: Service) -> None:
    interval = svc.settings.timer_poll_s
    while True:
        try:
            if svc.ready:
                await fire_due(svc.pool, svc.processor, svc.clock(None))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an outage: the timers stay stored and fire on a later pass
            log.warning("timers_failed", error=repr(exc))
        await asyncio.sleep(interval)

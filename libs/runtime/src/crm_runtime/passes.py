"""The three ways a batch is run, from fastest to most careful: the whole batch in one transaction,
a savepoint per record, a transaction per record (`BatchProcessor` picks, narrowing on failure)."""

from __future__ import annotations

import asyncio

import asyncpg

from crm_contracts import CloudEvent, Direction

from . import faults, inbox, logs, metrics, outbox, tracing
from .answers import dead_outcome, rejected_outcome, rejection
from .errors import Fault, classify, describe
from .handlers import Clock, HandlerContext, Rejected, as_refusal
from .records import DeadLetter, Item, Outcome
from .retry import Backoff
from .settings import ServiceSettings

log = logs.get(__name__)

# Savepoints beyond 64 in one transaction overflow PostgreSQL's per-backend subtransaction cache
# and slow every other session's snapshots; the careful pass stays well below.
SAVEPOINT_CHUNK = 25


class HandlerRaised(Exception):  # noqa: N818 - in a whole-batch pass: run it again with savepoints
    pass


class Passes:
    def __init__(self, service: str, settings: ServiceSettings, clock: Clock,
                 handover: outbox.Handover | None = None) -> None:
        self.service, self.settings, self.clock, self.handover = service, settings, clock, handover
        self.attempts = settings.handler_attempts

    async def whole_batch(self, conn: asyncpg.Connection, items: list[Item], where: tuple[str, int]) -> None:
        """All items in one transaction; any handler exception rolls it all back (`HandlerRaised`)."""
        results: list[tuple[Item, Outcome]] = []
        async with conn.transaction():
            fresh = await inbox.claim_many(conn, self.service, [i.message for i in items])
            staged: list[CloudEvent] = []
            for item in items:
                message = item.message
                assert message is not None
                if message.id not in fresh:
                    results.append((item, Outcome("duplicate", message)))
                    continue
                fresh.discard(message.id)  # the same id twice in one batch: the second is a duplicate
                if item.handler is None:  # a command nobody handles yet: nothing to roll back
                    refused = Rejected("unsupported_command", f"{self.service} does not handle {message.type} yet")
                    staged.extend(rejection(item, refused, self.service))
                    results.append((item, rejected_outcome(item, refused)))
                    continue
                ctx = HandlerContext(conn, message, self.service, self.settings, clock=self.clock)
                try:
                    with logs.handling(message), tracing.handling(message, item.topic.name):
                        await item.handler(ctx, item.data)
                except Exception as exc:
                    raise HandlerRaised() from exc
                staged.extend(ctx.staged)
                results.append((item, Outcome("handled", message)))
            await outbox.stage_many(conn, self.service, staged, self.handover)
            if faults.ARMED:
                faults.crash_before_commit((i.message.id for i in items if i.message is not None),
                                           len({(i.topic.name, i.record.partition) for i in items if i.record}))
        for item, outcome in results:
            item.outcome = outcome

    async def in_savepoints(self, conn: asyncpg.Connection, items: list[Item], where: tuple[str, int]) -> None:
        """Chunks of items, each chunk one transaction and each item in a savepoint of its own,
        so each fails alone."""
        for start in range(0, len(items), SAVEPOINT_CHUNK):
            chunk = items[start:start + SAVEPOINT_CHUNK]
            results: list[tuple[Item, Outcome, DeadLetter | None]] = []
            async with conn.transaction():
                staged: list[CloudEvent] = []
                for item in chunk:
                    outcome, dead, events = await self.in_savepoint(conn, item)
                    results.append((item, outcome, dead))
                    staged.extend(events)
                await outbox.stage_many(conn, self.service, staged, self.handover)
            for item, outcome, dead in results:
                item.outcome, item.dead = outcome, dead

    async def one_per_transaction(self, conn: asyncpg.Connection, items: list[Item], where: tuple[str, int]) -> None:
        """Each item in a transaction of its own; one the runtime cannot finish is dead-lettered."""
        for item in items:
            if item.outcome is not None:
                continue
            try:
                await self.in_savepoints(conn, [item], where)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if classify(exc, conn) is Fault.TRANSIENT:
                    raise
                item.outcome, item.dead, _ = dead_outcome(item, DeadLetter("unprocessable", describe(exc)))
                metrics.MESSAGES_FAILED.labels(self.service, where[0], "handler").inc()
                log.error("message_unprocessable", topic=where[0], partition=where[1], offset=item.offset,
                          error=describe(exc))

    async def in_savepoint(self, conn: asyncpg.Connection, item: Item
                            ) -> tuple[Outcome, DeadLetter | None, list[CloudEvent]]:
        message = item.message
        assert message is not None
        backoff = Backoff(0.05, 1.0)
        while True:
            try:
                async with conn.transaction():
                    if not await inbox.claim(conn, self.service, message):
                        return Outcome("duplicate", message), None, []
                    if item.handler is None:
                        raise Rejected("unsupported_command", f"{self.service} does not handle {message.type} yet")
                    ctx = HandlerContext(conn, message, self.service, self.settings, clock=self.clock)
                    with logs.handling(message), tracing.handling(message, item.topic.name):
                        await item.handler(ctx, item.data)
                return Outcome("handled", message), None, ctx.staged
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if (refused := as_refusal(exc)) is not None:
                    return await self._reject(conn, item, refused)
                fault = classify(exc, conn)
                if fault is Fault.TRANSIENT:
                    raise
                if fault is Fault.INVALID_VALUE and item.topic.direction is Direction.COMMANDS:
                    return await self._reject(conn, item, Rejected("invalid_value", describe(exc)))
                if fault is Fault.INVALID_VALUE:
                    return dead_outcome(item, DeadLetter("invalid_value", describe(exc)))
                item.failures += 1
                metrics.MESSAGES_FAILED.labels(self.service, item.topic.name, "handler").inc()
                log.error("message_handler_failed", attempt=item.failures, event_id=message.id,
                          type=message.type, correlation_id=message.correlation, error=describe(exc),
                          exc_info=exc)
                if item.failures >= self.attempts:
                    return dead_outcome(item, DeadLetter("handler_error", describe(exc)))
                await backoff.wait()

    async def _reject(self, conn: asyncpg.Connection, item: Item, refused: Rejected
                      ) -> tuple[Outcome, None, list[CloudEvent]]:
        # The handler's writes are rolled back with its savepoint; only the answer and the inbox row stay.
        await inbox.claim(conn, self.service, item.message)
        return rejected_outcome(item, refused), None, rejection(item, refused, self.service)

"""From a partition's fetched records to committed transactions: decode, dead-letter, de-duplicate, handle.

`BatchProcessor.process(records)` returns only when every record is finished — handled, answered
with a rejection, a duplicate, ignored, or copied to the dead-letter topic — so the caller may
then commit the offsets. Nothing else ends a record: an exception from anywhere is judged
(`errors.classify`) and becomes a retry, a rejection or a dead letter.

A batch is one transaction (`passes.whole_batch`): the inbox claims of all its records in one
statement, each handler in turn, the outbox rows of all their events in one statement. When a
handler raises, the batch runs again with a savepoint per record (`in_savepoints`), so a
rejected command or a failing handler affects only its own record; when a statement of the
runtime's own fails or times out, one transaction per record (`one_per_transaction`) finds the
record. Records are handled in offset order either way. The batches of several partitions that
one fetch brought are tried first as a single such transaction (`process_group`), and split into
a transaction per partition when anything in it fails. Outages (database or broker away or busy)
are retried with back-off for as long as they last and never dead-lettered.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord

from crm_contracts import MESSAGES, TOPICS, CloudEvent, Direction, Topic

from . import faults, logs, metrics, outbox
from .answers import DeadLetters, account, dead_outcome, rejection
from .errors import Fault, classify, describe, is_timeout
from .handlers import Clock, Handlers, Rejected, platform_time
from .passes import HandlerRaised, Passes
from .records import IGNORED, DeadLetter, Item, Outcome, decode, header
from .retry import Backoff
from .settings import ServiceSettings

__all__ = ["BatchProcessor", "DeadLetter", "Outcome", "decode"]

log = logs.get(__name__)

# Dead letters whose sender is answered too (a handler_error is ours to fix, not theirs).
SENDERS_FAULTS = frozenset({"invalid_data", "unknown_type"})
# Where a group's shared transaction is said to run (in logs and judgement; no partition's own).
GROUP = ("group", -1)


class _Failed(Exception):  # noqa: N818 - carries an exception and the judgement made while it was fresh
    def __init__(self, cause: BaseException, fault: Fault) -> None:
        super().__init__(repr(cause))
        self.cause = cause
        self.fault = fault


@dataclass
class Trouble:
    """A partition whose batch keeps failing: shown by /health while it lasts."""

    since: float
    offset: int
    error: str
    attempts: int = 0


Pass = Callable[[asyncpg.Connection, list[Item], tuple[str, int]], Awaitable[None]]


class BatchProcessor:
    def __init__(self, service: str, handlers: Handlers, producer: AIOKafkaProducer | None, *, group: str,
                 settings: ServiceSettings, pool: asyncpg.Pool | None = None,
                 clock: Clock = platform_time, handover: outbox.Handover | None = None) -> None:
        self.service = service
        self.clock = clock
        self.settings = settings
        self.handlers = handlers
        self.producer = producer
        self.group = group
        self.attempts = settings.handler_attempts
        self.max_delay = settings.retry_max_delay_s
        self.pool = pool
        self.trouble: dict[tuple[str, int], Trouble] = {}
        self.dead_letters = DeadLetters(service, group, self.max_delay)
        self.passes = Passes(service, settings, clock, handover)
        self._http_calls = itertools.count()

    # --- entry points -------------------------------------------------------------------------

    async def process(self, records: Sequence[ConsumerRecord]) -> list[Outcome]:
        """Finish every record of one partition's batch, in order."""
        [outcomes] = await self.process_group([records])
        return outcomes

    async def process_group(self, batches: Sequence[Sequence[ConsumerRecord]]) -> list[list[Outcome]]:
        """Finish the batches of several partitions (what one fetch brought), each in order.

        They are tried first as one transaction, so the fixed cost of a transaction (begin, the
        inbox claim, the outbox row, commit, and the relay's pass behind it) is paid once for them
        all. When anything in it fails — a handler raises or refuses, a statement times out, an
        outage — nothing of it stays, and each partition is finished on its own as `process` does,
        so a partition's failure still costs only its own records."""
        started = time.perf_counter()
        parts = [((b[0].topic, b[0].partition), self._prepare_all(b)) for b in batches]
        todo = [i for _, items in parts for i in items if i.outcome is None]
        if len(parts) > 1 and todo:
            metrics.GROUP_PARTITIONS.labels(self.service).observe(len(parts))
            try:
                await self._with_connection(self.passes.whole_batch, todo, GROUP)
                metrics.GROUPS.labels(self.service, "committed").inc()
            except (HandlerRaised, _Failed) as exc:
                metrics.GROUPS.labels(self.service, "split").inc()
                log.info("group_split", partitions=len(parts), records=len(todo),
                         error=describe(exc.__cause__ or exc))
        if len(parts) == 1:  # most batches: no task and no semaphore for them
            await self._finish(*parts[0], started)
        else:
            alone = asyncio.Semaphore(self.settings.max_concurrent_partitions)

            async def finish(where: tuple[str, int], items: list[Item]) -> None:
                async with alone:
                    await self._finish(where, items, started)

            await asyncio.gather(*(finish(where, items) for where, items in parts))
        return [[i.outcome for i in items] for _, items in parts]  # type: ignore[misc]

    async def _finish(self, where: tuple[str, int], items: list[Item], started: float) -> None:
        try:
            await self._settle([i for i in items if i.outcome is None], where)
            dead = [i for i in items if i.dead is not None]
            await self._answer_unreadable([i for i in dead if i.message is not None and i.dead is not None
                                           and i.dead.reason in SENDERS_FAULTS],
                                          where)
            await self.dead_letters.publish(self.producer, dead, self._troubled(where, dead))
        finally:
            self.trouble.pop(where, None)
        if faults.ARMED:
            faults.crash_after_commit(i.message.id for i in items if i.message is not None)
        account(self.service, items, where[0], started)

    async def handle_message(self, message: CloudEvent) -> Outcome:
        """Handle a command this service gives itself (e.g. from its HTTP side) exactly as if it
        had arrived on the topic: same handler, inbox, outbox and rejection answer. An outage
        raises instead of waiting, so the caller can tell the person to try again."""
        spec = MESSAGES[message.type]
        item = Item(None, spec.topic, message, spec.model.model_validate(message.data),
                    self.handlers.get(message.type))
        # A key of its own: trouble is reported while a batch waits out an outage, but this call
        # does not wait — it raises to its caller — so nothing may stay behind once it returns.
        where = ("http", next(self._http_calls))
        try:
            await self._settle([item], where, patient=False)
        finally:
            self.trouble.pop(where, None)
        if item.dead is not None:
            raise RuntimeError(f"{message.type} failed: {item.dead.error}")
        assert item.outcome is not None
        log.info("message_" + item.outcome.name, event_id=message.id, type=message.type, via="http")
        return item.outcome

    # --- reading ------------------------------------------------------------------------------

    def _prepare_all(self, records: Sequence[ConsumerRecord]) -> list[Item]:
        topic = TOPICS[records[0].topic]
        return [self._prepare(r, topic) for r in records]

    def _prepare(self, record: ConsumerRecord, topic: Topic) -> Item:
        item = Item(record, topic)
        if topic.direction is Direction.EVENTS:
            # Our producers name the type in a header: an event this service does not act on is
            # passed over without parsing it (most of what a service reads from others' topics).
            type_ = header(record, "ce_type")
            if type_ is not None and self.handlers.get(type_) is None:
                item.outcome = IGNORED
                return item
        try:
            item.message, item.data = decode(record, topic)
        except DeadLetter as dead:
            item.dead, item.message = dead, dead.message
            item.outcome = Outcome("dead_lettered", dead.message, dead.reason, dead.error)
            return item
        item.handler = self.handlers.get(item.message.type)
        if item.data is None or (item.handler is None and topic.direction is Direction.EVENTS):
            item.outcome = Outcome("ignored", item.message)
        return item

    # --- until every record has an outcome ------------------------------------------------------

    async def _settle(self, todo: list[Item], where: tuple[str, int], *, patient: bool = True) -> None:
        """Run passes until every item has an outcome; only outages make it wait (or, when not
        `patient`, raise). A failure that is not an outage narrows the pass: the whole batch, then
        a savepoint per record, then a transaction per record, where a record whose own
        transaction the runtime cannot finish is dead-lettered, so it never holds its partition."""
        run: Pass = self.passes.whole_batch
        backoff = Backoff(0.1, self.max_delay)
        while todo:
            try:
                await self._with_connection(run, todo, where)
                return
            except HandlerRaised:
                run = self.passes.in_savepoints
            except _Failed as failed:
                narrower = self._narrower(run, failed, patient)
                if narrower is not None:
                    run = narrower
                elif not (patient and is_timeout(failed.cause) and await self._times_out_alone(todo, failed, where)):
                    self._waiting(where, todo, failed.cause, backoff)
                    if not patient:
                        raise failed.cause from None
                    await backoff.wait()
            todo = [i for i in todo if i.outcome is None]

    def _narrower(self, run: Pass, failed: _Failed, patient: bool) -> Pass | None:
        if run == self.passes.one_per_transaction:
            return None
        if failed.fault is not Fault.TRANSIENT:  # outside a handler only the runtime's statements fail
            return self.passes.in_savepoints if run == self.passes.whole_batch else self.passes.one_per_transaction
        if patient and is_timeout(failed.cause):  # find the record that times out
            return self.passes.one_per_transaction
        return None

    async def _with_connection(self, run: Pass, todo: list[Item], where: tuple[str, int]) -> None:
        try:
            assert self.pool is not None, "the service starts its pool before consuming"
            async with self.pool.acquire() as conn:
                try:
                    await run(conn, todo, where)
                except (HandlerRaised, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    # Judged while the connection is still ours: was it the connection that failed?
                    raise _Failed(exc, classify(exc, conn)) from exc
        except (HandlerRaised, _Failed, asyncio.CancelledError):
            raise
        except Exception as exc:  # no connection to be had
            raise _Failed(exc, Fault.TRANSIENT) from exc

    def _waiting(self, where: tuple[str, int], todo: list[Item], cause: BaseException, backoff: Backoff) -> None:
        metrics.MESSAGES_FAILED.labels(self.service, where[0], "transient").inc()
        trouble = self._trouble(where, todo)
        trouble.error, trouble.attempts = describe(cause), trouble.attempts + 1
        log.warning("batch_retry_transient", topic=where[0], partition=where[1],
                    error=describe(cause), records=len(todo), retry_in_s=backoff.delay)

    def _troubled(self, where: tuple[str, int], items: list[Item]) -> Callable[[Exception], None]:
        """What a failed step after the handlers records for /health while it is retried."""
        def record(exc: Exception) -> None:
            self._trouble(where, items).error = describe(exc)
        return record

    def _trouble(self, where: tuple[str, int], items: list[Item]) -> Trouble:
        """The partition's trouble entry for /health, opened at the first unfinished record."""
        return self.trouble.setdefault(where, Trouble(time.monotonic(), items[0].offset if items else -1, ""))

    async def _times_out_alone(self, todo: list[Item], failed: _Failed, where: tuple[str, int]) -> bool:
        """Count a timeout against the first unfinished record (one transaction a record, so it is
        the one that timed out); after `timeout_attempts` of them, while the database answers other
        work, dead-letter it (`timeout`) so that it stops holding its partition. True if it did."""
        culprit = next(i for i in todo if i.outcome is None)
        culprit.timeouts += 1
        if culprit.timeouts < self.settings.timeout_attempts or not await self._database_answers():
            return False
        culprit.outcome, culprit.dead, _ = dead_outcome(culprit, DeadLetter("timeout", describe(failed.cause)))
        metrics.MESSAGES_FAILED.labels(self.service, where[0], "timeout").inc()
        log.error("message_timed_out", topic=where[0], partition=where[1], offset=culprit.offset,
                  attempts=culprit.timeouts, error=describe(failed.cause))
        return True

    async def _database_answers(self) -> bool:
        """Whether the database does other work promptly: then a record that keeps timing out is
        the record's own trouble, not an outage."""
        assert self.pool is not None
        try:
            async with self.pool.acquire(timeout=5) as conn:
                await conn.fetchval("SELECT 1", timeout=5)
            return True
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False

    async def _answer_unreadable(self, items: list[Item], where: tuple[str, int]) -> None:
        """A command whose envelope is fine but whose type or data is not is dead-lettered, and its
        sender answered with a rejection naming what is wrong, so it does not wait for nothing.
        No inbox row: once the sender or an operator fixes it, a replay is handled."""
        answers = [a for i in items if i.topic.direction is Direction.COMMANDS
                   for a in rejection(i, Rejected(i.dead.reason, i.dead.error), self.service)]  # type: ignore[union-attr]
        if not answers:
            return

        async def stage() -> None:
            assert self.pool is not None
            async with self.pool.acquire() as conn, conn.transaction():
                await outbox.stage_many(conn, self.service, answers, self.passes.handover)

        await Backoff(0.1, self.max_delay).retrying(stage, log=log, event="rejection_answer_failed",
                                                    on_error=self._troubled(where, items))

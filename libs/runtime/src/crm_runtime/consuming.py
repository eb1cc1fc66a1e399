"""From a partition's fetched records to committed transactions: decode, dead-letter, de-duplicate, handle.

`BatchProcessor.process(records)` returns only when every record is finished — handled, answered
with a rejection, a duplicate, ignored, or copied to the dead-letter topic — so the caller may
then commit the offsets. Nothing else ends a record: an exception from anywhere is judged
(`errors.classify`) and becomes a retry, a rejection or a dead letter.

A batch is one transaction: the inbox claims of all its records in one statement, each handler
in turn, the outbox rows of all their events in one statement. When any handler raises, the
transaction is rolled back and the batch runs again with a savepoint per record, so a rejected
command or a failing handler affects only its own record; records are handled in offset order
either way. Outages (database or broker away or busy) are retried with back-off for as long as
they last and never dead-lettered.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from pydantic import BaseModel, ValidationError

from crm_contracts import MESSAGES, REJECTED_TYPE, TOPICS, CloudEvent, Direction, Topic, event_caused_by

from . import faults, inbox, logs, metrics, outbox
from .errors import Fault, classify, describe, is_timeout
from .handling import Clock, Handler, HandlerContext, Handlers, Rejected, message_time
from .retry import Backoff
from .settings import ServiceSettings

log = logs.get(__name__)

# Savepoints beyond 64 in one transaction overflow PostgreSQL's per-backend subtransaction cache
# and slow every other session's snapshots; the careful pass stays well below.
CAREFUL_CHUNK = 25
# Dead letters whose sender is answered too (a handler_error is ours to fix, not theirs).
SENDERS_FAULTS = frozenset({"invalid_data", "unknown_type"})


class DeadLetter(Exception):  # noqa: N818 - an outcome, raised to leave the pipeline early
    def __init__(self, reason: str, error: str, message: CloudEvent | None = None) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason = reason
        self.error = error
        self.message = message  # the envelope, when it could be read: its sender can be answered


class _Redo(Exception):  # noqa: N818 - a handler raised in the fast pass: run the batch carefully
    pass


class _Failed(Exception):  # noqa: N818 - carries an exception and the judgement made while it was fresh
    def __init__(self, cause: BaseException, fault: Fault) -> None:
        super().__init__(repr(cause))
        self.cause = cause
        self.fault = fault


@dataclass(frozen=True)
class Outcome:
    name: str  # handled | duplicate | rejected | ignored | dead_lettered
    message: CloudEvent | None = None
    reason: str | None = None  # for rejected and dead_lettered: the stable reason code
    detail: str | None = None


@dataclass(eq=False)
class _Item:
    """One record on its way through a batch."""

    record: ConsumerRecord | None  # None for a command the service gives itself (HTTP)
    topic: Topic
    message: CloudEvent | None = None
    data: BaseModel | None = None
    handler: Handler | None = None
    outcome: Outcome | None = None
    dead: DeadLetter | None = None
    failures: int = 0
    timeouts: int = 0  # statement or lock timeouts of this record's own transaction


def decode(record: ConsumerRecord, topic: Topic) -> tuple[CloudEvent, BaseModel | None]:
    """The envelope and typed data; data is None for an event type this consumer may skip."""
    try:
        message = CloudEvent.model_validate_json(record.value if record.value is not None else b"")
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise DeadLetter("invalid_json", _short(exc)) from None
        raise DeadLetter("invalid_envelope", _short(exc)) from None
    spec = MESSAGES.get(message.type)
    if spec is None or spec.topic.name != topic.name:
        if topic.direction is Direction.EVENTS:
            return message, None  # a newer producer's type: tolerated, not ours to judge
        where = "" if spec is None else f" (it belongs on {spec.topic.name})"
        raise DeadLetter("unknown_type", f"{message.type!r} is not a type of {topic.name}{where}", message)
    try:
        return message, spec.model.model_validate(message.data)
    except ValidationError as exc:
        raise DeadLetter("invalid_data", _short(exc), message) from None


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
    )[:2000]


@dataclass
class Trouble:
    """A partition whose batch keeps failing: shown by /health while it lasts."""

    since: float
    offset: int
    error: str
    attempts: int = 0


class BatchProcessor:
    def __init__(self, service: str, handlers: Handlers, producer: AIOKafkaProducer | None, *, group: str,
                 settings: ServiceSettings, pool: asyncpg.Pool | None = None,
                 clock: Clock = message_time) -> None:
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
        self._http_calls = itertools.count()

    # --- entry points -------------------------------------------------------------------------

    async def process(self, records: Sequence[ConsumerRecord]) -> list[Outcome]:
        """Finish every record of one partition's batch, in order."""
        started = time.perf_counter()
        topic = TOPICS[records[0].topic]
        where = (records[0].topic, records[0].partition)
        items = [self._prepare(r, topic) for r in records]
        try:
            await self._settle([i for i in items if i.outcome is None], where)
            dead = [i for i in items if i.dead is not None]
            await self._answer_unreadable([i for i in dead if i.message is not None and i.dead.reason in SENDERS_FAULTS],
                                          where)
            await self._publish_dead_letters(dead, where)
        finally:
            self.trouble.pop(where, None)
        if faults.ARMED:
            faults.crash_after_commit(i.message.id for i in items if i.message is not None)
        self._account(items, records[0].topic, started)
        return [i.outcome for i in items]  # type: ignore[misc]

    async def handle_message(self, message: CloudEvent) -> Outcome:
        """Handle a command this service gives itself (e.g. from its HTTP side) exactly as if it
        had arrived on the topic: same handler, inbox, outbox and rejection answer. An outage
        raises instead of waiting, so the caller can tell the person to try again."""
        spec = MESSAGES[message.type]
        item = _Item(None, spec.topic, message, spec.model.model_validate(message.data),
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

    # --- stages -------------------------------------------------------------------------------

    def _prepare(self, record: ConsumerRecord, topic: Topic) -> _Item:
        item = _Item(record, topic)
        if topic.direction is Direction.EVENTS:
            # Our producers name the type in a header: an event this service does not act on is
            # passed over without parsing it (most of what a service reads from others' topics).
            type_ = _header(record, "ce_type")
            if type_ is not None and self.handlers.get(type_) is None:
                item.outcome = _IGNORED
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

    async def _settle(self, todo: list[_Item], where: tuple[str, int], *, patient: bool = True) -> None:
        """Run transactions until every item has an outcome; only outages make it wait.

        A failure that is not an outage narrows the work: the whole batch, then chunks with a
        savepoint per record, then one record per transaction. A record whose own transaction the
        runtime cannot finish (say, its answer cannot be stored) is dead-lettered, so that one
        record never holds its partition."""
        careful = single = False
        backoff = Backoff(0.1, self.max_delay)
        while todo:
            try:
                assert self.pool is not None, "the service starts its pool before consuming"
                async with self.pool.acquire() as conn:
                    try:
                        if single:
                            await self._one_by_one(conn, todo, where)
                        elif careful:
                            for start in range(0, len(todo), CAREFUL_CHUNK):
                                await self._careful(conn, todo[start:start + CAREFUL_CHUNK])
                        else:
                            await self._fast(conn, todo)
                    except (_Redo, asyncio.CancelledError):
                        raise
                    except Exception as exc:
                        # Judged while the connection is still ours: was it the connection that failed?
                        raise _Failed(exc, classify(exc, conn)) from exc
                return
            except _Redo:
                careful = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failed = exc if isinstance(exc, _Failed) else _Failed(exc, Fault.TRANSIENT)  # no connection
                if failed.fault is not Fault.TRANSIENT and not single:
                    # Outside a handler, only the runtime's own statements fail: narrow it down.
                    careful, single = True, careful
                    todo = [i for i in todo if i.outcome is None]
                    continue
                if is_timeout(failed.cause) and patient:
                    if not single:  # find the record that times out: one transaction each
                        careful = single = True
                        todo = [i for i in todo if i.outcome is None]
                        continue
                    if await self._times_out_alone(todo, failed.cause, where):
                        todo = [i for i in todo if i.outcome is None]
                        continue
                metrics.MESSAGES_FAILED.labels(self.service, where[0], "transient").inc()
                trouble = self.trouble.setdefault(where, Trouble(time.monotonic(), self._offset(todo), ""))
                trouble.error, trouble.attempts = describe(failed.cause), trouble.attempts + 1
                log.warning("batch_retry_transient", topic=where[0], partition=where[1],
                            error=describe(failed.cause), records=len(todo), retry_in_s=backoff.delay)
                if not patient:
                    raise failed.cause from None
                await backoff.wait()
            todo = [i for i in todo if i.outcome is None]

    async def _times_out_alone(self, todo: list[_Item], cause: BaseException, where: tuple[str, int]) -> bool:
        """Count a timeout against the first unfinished record (one transaction a record, so it is
        the one that timed out); after `timeout_attempts` of them, while the database answers other
        work, dead-letter it (`timeout`) so that it stops holding its partition. True if it did."""
        culprit = next(i for i in todo if i.outcome is None)
        culprit.timeouts += 1
        if culprit.timeouts < self.settings.timeout_attempts or not await self._database_answers():
            return False
        culprit.outcome, culprit.dead, _ = self._dead(culprit, DeadLetter("timeout", describe(cause)))
        metrics.MESSAGES_FAILED.labels(self.service, where[0], "timeout").inc()
        log.error("message_timed_out", topic=where[0], partition=where[1], offset=self._offset([culprit]),
                  attempts=culprit.timeouts, error=describe(cause))
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

    async def _one_by_one(self, conn: asyncpg.Connection, todo: list[_Item], where: tuple[str, int]) -> None:
        for item in todo:
            if item.outcome is not None:
                continue
            try:
                await self._careful(conn, [item])
            except (_Redo, asyncio.CancelledError):
                raise
            except Exception as exc:
                if classify(exc, conn) is Fault.TRANSIENT:
                    raise
                dead = DeadLetter("unprocessable", describe(exc))
                item.outcome, item.dead, _ = self._dead(item, dead)
                metrics.MESSAGES_FAILED.labels(self.service, where[0], "handler").inc()
                log.error("message_unprocessable", topic=where[0], partition=where[1], offset=self._offset([item]),
                          error=describe(exc))

    @staticmethod
    def _offset(items: list[_Item]) -> int:
        return items[0].record.offset if items and items[0].record is not None else -1

    async def _fast(self, conn: asyncpg.Connection, items: list[_Item]) -> None:
        """All items in one transaction; any handler exception rolls it all back (`_Redo`)."""
        results: list[tuple[_Item, Outcome]] = []
        async with conn.transaction():
            fresh = await inbox.claim_many(conn, self.service, [i.message for i in items])  # type: ignore[misc]
            staged: list[CloudEvent] = []
            for item in items:
                message = item.message
                assert message is not None
                if message.id not in fresh:
                    results.append((item, Outcome("duplicate", message)))
                    continue
                fresh.discard(message.id)  # the same id twice in one batch: the second is a duplicate
                if item.handler is None:  # a command nobody handles yet: nothing to roll back
                    rejected = Rejected("unsupported_command", f"{self.service} does not handle {message.type} yet")
                    staged.extend(self._answer(item, rejected))
                    results.append((item, self._rejected(item, rejected)))
                    continue
                ctx = HandlerContext(conn, message, self.service, self.settings, clock=self.clock)
                try:
                    await item.handler(ctx, item.data)
                except Exception as exc:
                    raise _Redo() from exc
                staged.extend(ctx.staged)
                results.append((item, Outcome("handled", message)))
            await outbox.stage_many(conn, self.service, staged)
            if faults.ARMED:
                faults.crash_before_commit(i.message.id for i in items if i.message is not None)
        for item, outcome in results:
            item.outcome = outcome

    async def _careful(self, conn: asyncpg.Connection, items: list[_Item]) -> None:
        """Items in one transaction, each in a savepoint of its own, so each fails alone."""
        results: list[tuple[_Item, Outcome, DeadLetter | None]] = []
        async with conn.transaction():
            staged: list[CloudEvent] = []
            for item in items:
                outcome, dead, events = await self._one_carefully(conn, item)
                results.append((item, outcome, dead))
                staged.extend(events)
            await outbox.stage_many(conn, self.service, staged)
        for item, outcome, dead in results:
            item.outcome, item.dead = outcome, dead

    async def _one_carefully(self, conn: asyncpg.Connection, item: _Item
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
                    await item.handler(ctx, item.data)
                return Outcome("handled", message), None, ctx.staged
            except Rejected as rejected:
                return await self._reject(conn, item, rejected)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                fault = classify(exc, conn)
                if fault is Fault.TRANSIENT:
                    raise
                if fault is Fault.INVALID_VALUE and item.topic.direction is Direction.COMMANDS:
                    return await self._reject(conn, item, Rejected("invalid_value", describe(exc)))
                if fault is Fault.INVALID_VALUE:
                    return self._dead(item, DeadLetter("invalid_value", describe(exc)))
                item.failures += 1
                metrics.MESSAGES_FAILED.labels(self.service, item.topic.name, "handler").inc()
                log.error("message_handler_failed", attempt=item.failures, event_id=message.id,
                          type=message.type, correlation_id=message.correlation, error=describe(exc),
                          exc_info=exc)
                if item.failures >= self.attempts:
                    return self._dead(item, DeadLetter("handler_error", describe(exc)))
                await backoff.wait()

    def _dead(self, item: _Item, dead: DeadLetter) -> tuple[Outcome, DeadLetter, list[CloudEvent]]:
        return Outcome("dead_lettered", item.message, dead.reason, dead.error), dead, []

    async def _reject(self, conn: asyncpg.Connection, item: _Item, rejected: Rejected
                      ) -> tuple[Outcome, None, list[CloudEvent]]:
        # The handler's writes are rolled back with its savepoint; only the answer and the inbox row stay.
        await inbox.claim(conn, self.service, item.message)  # type: ignore[arg-type]
        return self._rejected(item, rejected), None, self._answer(item, rejected)

    def _answer(self, item: _Item, rejected: Rejected) -> list[CloudEvent]:
        message = item.message
        assert message is not None
        if item.topic.direction is not Direction.COMMANDS:
            return []
        answer = REJECTED_TYPE[item.topic.owner](command_id=message.id, command_type=message.type,
                                             reason=rejected.reason, message=rejected.message[:2000])
        return [event_caused_by(message, answer, source=f"crm/{self.service}",
                                instanceid=message.instanceid or _instance_of(message))]

    def _rejected(self, item: _Item, rejected: Rejected) -> Outcome:
        message = item.message
        assert message is not None
        log.info("message_rejected", event_id=message.id, type=message.type, correlation_id=message.correlation,
                 reason=rejected.reason, detail=rejected.message[:500])
        return Outcome("rejected", message, rejected.reason, rejected.message)

    async def _answer_unreadable(self, items: list[_Item], where: tuple[str, int]) -> None:
        """A command whose envelope is fine but whose type or data is not is dead-lettered, and its
        sender answered with a rejection naming what is wrong, so it does not wait for nothing.
        No inbox row: once the sender or an operator fixes it, a replay is handled."""
        answers = [a for i in items if i.topic.direction is Direction.COMMANDS
                   for a in self._answer(i, Rejected(i.dead.reason, i.dead.error))]  # type: ignore[union-attr]
        if not answers:
            return
        backoff = Backoff(0.1, self.max_delay)
        while True:
            try:
                assert self.pool is not None
                async with self.pool.acquire() as conn, conn.transaction():
                    await outbox.stage_many(conn, self.service, answers)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.trouble.setdefault(where, Trouble(time.monotonic(), self._offset(items), "")).error = describe(exc)
                log.warning("rejection_answer_failed", error=describe(exc), retry_in_s=backoff.delay)
                await backoff.wait()

    async def _publish_dead_letters(self, items: list[_Item], where: tuple[str, int]) -> None:
        if not items:
            return
        backoff = Backoff(0.1, self.max_delay)
        while True:
            try:
                sends = [await self.producer.send(f"{i.record.topic}.dlq", i.record.value, key=i.record.key,
                                                  headers=self._dead_letter_headers(i.record, i.dead))
                         for i in items]  # type: ignore[union-attr]
                await asyncio.gather(*sends)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is away: the record must not be lost
                trouble = self.trouble.setdefault(where, Trouble(time.monotonic(), self._offset(items), ""))
                trouble.error = describe(exc)
                log.warning("dead_letter_publish_failed", error=describe(exc), retry_in_s=backoff.delay)
                await backoff.wait()
        for i in items:
            assert i.record is not None and i.dead is not None
            metrics.DEAD_LETTERED.labels(self.service, i.record.topic, i.dead.reason).inc()
            log.warning("message_dead_lettered", topic=i.record.topic, partition=i.record.partition,
                        offset=i.record.offset, event_id=i.message.id if i.message else None,
                        reason=i.dead.reason, error=i.dead.error)

    def _dead_letter_headers(self, record: ConsumerRecord, dead: DeadLetter) -> list[tuple[str, bytes | None]]:
        # The record's own headers travel unchanged, whatever bytes they hold.
        ours = {
            "dlq_reason": dead.reason,
            "dlq_error": dead.error,
            "dlq_source_topic": record.topic,
            "dlq_source_partition": str(record.partition),
            "dlq_source_offset": str(record.offset),
            "dlq_consumer_group": self.group,
            "dlq_failed_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        kept = [(k, v) for k, v in (record.headers or ()) if k not in ours]
        return kept + [(k, v.encode()) for k, v in ours.items()]

    def _account(self, items: list[_Item], topic: str, started: float) -> None:
        """Metrics and a log line per batch, not per record."""
        counts = Counter((i.message.type if i.message else "-", i.outcome.name) for i in items)  # type: ignore[union-attr]
        for (type_, outcome), n in counts.items():
            metrics.MESSAGES_HANDLED.labels(self.service, topic, type_, outcome).inc(n)
        elapsed = time.perf_counter() - started
        metrics.HANDLER_LATENCY.labels(self.service, topic).observe(elapsed)
        metrics.BATCH_RECORDS.labels(self.service, topic).observe(len(items))
        first, last = items[0].record, items[-1].record
        log.debug("batch_done", topic=topic, partition=first.partition if first else None,
                 offsets=f"{first.offset}-{last.offset}" if first and last else None, records=len(items),
                 outcomes=dict(Counter(i.outcome.name for i in items)),  # type: ignore[union-attr]
                 ms=round(elapsed * 1000, 1))


_IGNORED = Outcome("ignored")


def _header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name and value is not None:
            try:
                return value.decode()
            except UnicodeDecodeError:
                return None
    return None


def _instance_of(message: CloudEvent) -> str | None:
    """The instance a command names in its data, when it could be an envelope's instanceid (a
    rejection must be publishable whatever the sender put there)."""
    instance = message.data.get("instance_id")
    ok = isinstance(instance, str) and 0 < len(instance) <= 500 and "\x00" not in instance
    return instance if ok else None

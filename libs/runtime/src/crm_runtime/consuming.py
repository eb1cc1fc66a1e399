"""From a Kafka record to a committed transaction: decode, dead-letter, de-duplicate, handle.

`RecordProcessor.process` returns only when the record is finished — handled, answered with a
rejection, ignored, or copied to the dead-letter topic — so the caller may then commit its
offset. Transient failures (database or broker away) are retried with back-off for as long as
they last and never dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, ValidationError

from crm_contracts import MESSAGES, REJECTED_TYPE, TOPICS, CloudEvent, Direction, Topic, event_caused_by

from . import faults, inbox, logs, metrics, outbox
from .handling import HandlerContext, Handlers, Rejected
from .settings import ServiceSettings

log = logs.get(__name__)

TRANSIENT = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.AdminShutdownError,
    KafkaError,
)


class DeadLetter(Exception):  # noqa: N818 - an outcome, raised to leave the pipeline early
    def __init__(self, reason: str, error: str) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason = reason
        self.error = error


@dataclass(frozen=True)
class Outcome:
    name: str  # handled | duplicate | rejected | ignored | dead_lettered
    message: CloudEvent | None = None
    reason: str | None = None  # for rejected: the stable reason code
    detail: str | None = None


def decode(record: ConsumerRecord, topic: Topic) -> tuple[CloudEvent, BaseModel | None]:
    """The envelope and typed data; data is None for an event type this consumer may skip."""
    try:
        raw = json.loads(record.value)
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise DeadLetter("invalid_json", str(exc)) from None
    try:
        message = CloudEvent.model_validate(raw)
    except ValidationError as exc:
        raise DeadLetter("invalid_envelope", _short(exc)) from None
    spec = MESSAGES.get(message.type)
    if spec is None or spec.topic.name != topic.name:
        if topic.direction is Direction.EVENTS:
            return message, None  # a newer producer's type: tolerated, not ours to judge
        where = "" if spec is None else f" (it belongs on {spec.topic.name})"
        raise DeadLetter("unknown_type", f"{message.type!r} is not a type of {topic.name}{where}")
    try:
        return message, spec.model.model_validate(message.data)
    except ValidationError as exc:
        raise DeadLetter("invalid_data", _short(exc)) from None


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
    )[:2000]


class RecordProcessor:
    def __init__(self, service: str, handlers: Handlers, broker: KafkaBroker, *, group: str,
                 attempts: int = 3, max_delay: float = 5.0, settings: ServiceSettings | None = None) -> None:
        self.service = service
        self.settings = settings or ServiceSettings()
        self.handlers = handlers
        self.broker = broker
        self.group = group
        self.attempts = attempts
        self.max_delay = max_delay
        self.pool: asyncpg.Pool | None = None

    async def process(self, record: ConsumerRecord) -> Outcome:
        topic = TOPICS[record.topic]
        structlog.contextvars.bind_contextvars(
            topic=record.topic, partition=record.partition, offset=record.offset)
        started = time.perf_counter()
        try:
            outcome = await self._process(record, topic)
        finally:
            structlog.contextvars.unbind_contextvars(
                "topic", "partition", "offset", "event_id", "type", "correlation_id")
        metrics.HANDLER_LATENCY.labels(self.service, record.topic).observe(time.perf_counter() - started)
        type_ = outcome.message.type if outcome.message else "-"
        metrics.MESSAGES_HANDLED.labels(self.service, record.topic, type_, outcome.name).inc()
        return outcome

    async def _process(self, record: ConsumerRecord, topic: Topic) -> Outcome:
        try:
            message, data = decode(record, topic)
        except DeadLetter as dead:
            await self._dead_letter(record, dead)
            return Outcome("dead_lettered")
        structlog.contextvars.bind_contextvars(
            event_id=message.id, type=message.type, correlation_id=message.correlation)
        handler = self.handlers.get(message.type)
        if data is None or (handler is None and topic.direction is Direction.EVENTS):
            return Outcome("ignored", message)

        failures = 0
        delay = 0.1
        while True:
            try:
                outcome = await self._in_transaction(message, data, topic, handler)
                log.info("message_" + outcome.name)
                faults.crash_after_commit(message.id)
                return outcome
            except asyncio.CancelledError:
                raise
            except TRANSIENT as exc:
                metrics.MESSAGES_FAILED.labels(self.service, record.topic, "transient").inc()
                log.warning("message_retry_transient", error=repr(exc), retry_in_s=delay)
            except Exception as exc:
                failures += 1
                metrics.MESSAGES_FAILED.labels(self.service, record.topic, "handler").inc()
                log.exception("message_handler_failed", attempt=failures)
                if failures >= self.attempts:
                    await self._dead_letter(record, DeadLetter("handler_error", repr(exc)[:2000]))
                    return Outcome("dead_lettered", message)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)

    async def handle_message(self, message: CloudEvent) -> Outcome:
        """Handle a command this service gives itself (e.g. from its HTTP side) exactly as if
        it had arrived on the topic: same handler, inbox, outbox and rejection answer."""
        spec = MESSAGES[message.type]
        outcome = await self._in_transaction(message, spec.model.model_validate(message.data), spec.topic,
                                             self.handlers.get(message.type))
        log.info("message_" + outcome.name, event_id=message.id, type=message.type, via="http")
        return outcome

    async def _in_transaction(self, message: CloudEvent, data: BaseModel, topic: Topic,
                              handler) -> Outcome:
        assert self.pool is not None, "the service starts its pool before consuming"
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    if not await inbox.claim(conn, self.service, message):
                        return Outcome("duplicate", message)
                    if handler is None:
                        raise Rejected("unsupported_command",
                                       f"{self.service} does not handle {message.type} yet")
                    await handler(HandlerContext(conn, message, self.service, self.settings), data)
                    return Outcome("handled", message)
            except Rejected as rejected:
                # The handler's writes are rolled back; only the answer and the inbox row stay.
                async with conn.transaction():
                    if not await inbox.claim(conn, self.service, message):
                        return Outcome("duplicate", message)
                    if topic.direction is Direction.COMMANDS:
                        answer = REJECTED_TYPE[self.service](
                            command_id=message.id, command_type=message.type,
                            reason=rejected.reason, message=rejected.message)
                        await outbox.stage(conn, self.service, event_caused_by(
                            message, answer, source=f"crm/{self.service}",
                            instanceid=message.instanceid or message.data.get("instance_id")))
                    log.info("message_rejected", reason=rejected.reason, detail=rejected.message)
                    return Outcome("rejected", message, rejected.reason, rejected.message)

    async def _dead_letter(self, record: ConsumerRecord, dead: DeadLetter) -> None:
        headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}
        headers.update({
            "dlq_reason": dead.reason,
            "dlq_error": dead.error,
            "dlq_source_topic": record.topic,
            "dlq_source_partition": str(record.partition),
            "dlq_source_offset": str(record.offset),
            "dlq_consumer_group": self.group,
            "dlq_failed_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        })
        delay = 0.1
        while True:
            try:
                await self.broker.publish(record.value or b"", f"{record.topic}.dlq", key=record.key,
                                          headers=headers)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is away: the record must not be lost
                log.warning("dead_letter_publish_failed", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
        metrics.DEAD_LETTERED.labels(self.service, record.topic, dead.reason).inc()
        log.warning("message_dead_lettered", reason=dead.reason, error=dead.error)

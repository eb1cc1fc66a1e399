"""What a batch says about records it could not simply handle: the rejection answer a command's
sender gets (`*.command.rejected`), the dead-letter copy of a record that cannot be handled, and
the metrics and log line of each batch."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, ConsumerRecord

from crm_contracts import REJECTED_TYPE, CloudEvent, Direction, event_caused_by

from . import logs, metrics
from .handlers import Rejected
from .records import DeadLetter, Item, Outcome
from .retry import Backoff

log = logs.get(__name__)


def rejection(item: Item, rejected: Rejected, service: str) -> list[CloudEvent]:
    """The answer to a refused command (none for an event: its producer does not wait for one)."""
    message = item.message
    assert message is not None
    if item.topic.direction is not Direction.COMMANDS:
        return []
    answer = REJECTED_TYPE[item.topic.owner](command_id=message.id, command_type=message.type,
                                         reason=rejected.reason, message=rejected.message[:2000])
    return [event_caused_by(message, answer, source=f"crm/{service}",
                            instanceid=message.instanceid or _instance_of(message))]


def rejected_outcome(item: Item, rejected: Rejected) -> Outcome:
    message = item.message
    assert message is not None
    log.info("message_rejected", event_id=message.id, type=message.type, correlation_id=message.correlation,
             reason=rejected.reason, detail=rejected.message[:500])
    return Outcome("rejected", message, rejected.reason, rejected.message)


def dead_outcome(item: Item, dead: DeadLetter) -> tuple[Outcome, DeadLetter, list[CloudEvent]]:
    return Outcome("dead_lettered", item.message, dead.reason, dead.error), dead, []


def _instance_of(message: CloudEvent) -> str | None:
    """The instance a command names in its data, when it could be an envelope's instanceid (a
    rejection must be publishable whatever the sender put there)."""
    instance = message.data.get("instance_id")
    ok = isinstance(instance, str) and 0 < len(instance) <= 500 and "\x00" not in instance
    return instance if ok else None


# What a dead-letter copy may weigh: the producer refuses a record past its max_request_size (1 MiB,
# aiokafka's default, as the broker's message.max.bytes), with room for the record's framing.
DLQ_RECORD_BUDGET = 1_048_576 - 4_096
_HEADER_OVERHEAD = 8  # the varints framing each header


def _weight(value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes | None]]) -> int:
    return len(value or b"") + len(key or b"") + sum(len(k) + len(v or b"") + _HEADER_OVERHEAD for k, v in headers)


def fitted(value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes | None]],
           budget: int = DLQ_RECORD_BUDGET) -> tuple[bytes | None, list[tuple[str, bytes | None]]]:
    """The copy's value and headers, within `budget`. A record near the limit does not fit once our
    headers are added: the copy then keeps the head of its payload, and says so with the
    original's size and SHA-256 (so the copy is never retried for ever, holding its partition)."""
    if _weight(value, key, headers) <= budget:
        return value, headers
    original = value or b""
    marks = [("dlq_truncated", b"true"), ("dlq_original_bytes", str(len(original)).encode()),
             ("dlq_original_sha256", hashlib.sha256(original).hexdigest().encode())]
    ours = [(k, v) for k, v in headers if k.startswith("dlq_")]
    theirs = [(k, v) for k, v in headers if not k.startswith("dlq_")]
    if _weight(None, key, [*theirs, *ours, *marks]) > budget:  # its own headers alone are too many
        theirs, marks = [], [*marks, ("dlq_headers_dropped", b"true")]
    kept = [*theirs, *ours, *marks]
    room = max(0, budget - _weight(None, key, kept))
    return original[:room], kept


class DeadLetters:
    """Copies records that cannot be handled to `<topic>.dlq`, byte for byte with their headers,
    plus headers saying why; retried while the broker is away, since the record must not be lost."""

    def __init__(self, service: str, group: str, max_delay: float) -> None:
        self.service, self.group, self.max_delay = service, group, max_delay

    async def publish(self, producer: AIOKafkaProducer | None, items: list[Item],
                      on_error: Callable[[Exception], None]) -> None:
        """With the producer the service has now (it is made after the processor)."""
        if not items:
            return

        async def send_all() -> None:
            assert producer is not None, "the service starts its producer before consuming"
            sends = []
            for i in items:
                assert i.record is not None and i.dead is not None, "only records from a topic are dead-lettered"
                value, headers = fitted(i.record.value, i.record.key, self.headers(i.record, i.dead))
                sends.append(await producer.send(f"{i.record.topic}.dlq", value, key=i.record.key, headers=headers))
            await asyncio.gather(*sends)

        await Backoff(0.1, self.max_delay).retrying(send_all, log=log, event="dead_letter_publish_failed",
                                                    on_error=on_error)
        for i in items:
            assert i.record is not None and i.dead is not None
            metrics.DEAD_LETTERED.labels(self.service, i.record.topic, i.dead.reason).inc()
            log.warning("message_dead_lettered", topic=i.record.topic, partition=i.record.partition,
                        offset=i.record.offset, event_id=i.message.id if i.message else None,
                        reason=i.dead.reason, error=i.dead.error)

    def headers(self, record: ConsumerRecord, dead: DeadLetter) -> list[tuple[str, bytes | None]]:
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


def account(service: str, items: list[Item], topic: str, started: float) -> None:
    """Metrics and a log line per batch, not per record."""
    counts = Counter((i.message.type if i.message else "-", i.outcome.name) for i in items)  # type: ignore[union-attr]
    for (type_, outcome), n in counts.items():
        metrics.MESSAGES_HANDLED.labels(service, topic, type_, outcome).inc(n)
    elapsed = time.perf_counter() - started
    metrics.HANDLER_LATENCY.labels(service, topic).observe(elapsed)
    metrics.BATCH_RECORDS.labels(service, topic).observe(len(items))
    first, last = items[0].record, items[-1].record
    log.debug("batch_done", topic=topic, partition=first.partition if first else None,
              offsets=f"{first.offset}-{last.offset}" if first and last else None, records=len(items),
              outcomes=dict(Counter(i.outcome.name for i in items)),  # type: ignore[union-attr]
              ms=round(elapsed * 1000, 1))

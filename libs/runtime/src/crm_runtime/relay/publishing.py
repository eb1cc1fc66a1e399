"""One relay pass: read what is committed and unpublished in id order, send it, mark it published,
and set aside what the broker can never take."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from crm_contracts import record_headers

from .. import logs, metrics
from ..outbox import Handover

log = logs.get(__name__)

# Errors no retry can cure: the row is set aside so that the rows behind it are published.
# Only what the broker can never take: too large, or for a topic name that cannot exist. A missing
# grant or a bad credential (TopicAuthorizationFailedError, SASL failures) is an outage of our own
# making: every row would be set aside in one pass, so it is retried, and /health names it until
# it is fixed. Set-aside rows go back with `requeue_dead` (`crm outbox requeue SERVICE`).
UNPUBLISHABLE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError, InvalidTopicError)

PARTITIONER = DefaultPartitioner()

Row = Mapping[str, Any]  # id, topic, key, type, payload: read from the table, or handed over


class Passed:
    """What a pass did: rows published, rows set aside, and the failure that may yet pass (raised
    by the caller after the marks are written)."""

    def __init__(self, published: int, set_aside: int, transient: BaseException | None) -> None:
        self.published, self.set_aside, self.transient = published, set_aside, transient


class Publisher:
    """Every pass reads all committed, unpublished rows in id order — no cursor, no horizon — so a
    row whose transaction commits after rows with higher ids is published by the next pass, never
    skipped. Two statements, read then mark; no transaction stays open while Kafka is awaited."""

    def __init__(self, service: str, producer: AIOKafkaProducer, batch: int) -> None:
        self.service, self.producer, self.batch = service, producer, batch

    async def publish(self, conn: asyncpg.Connection, handover: Handover | None = None) -> Passed:
        """Every committed, unpublished row, in id order (up to `batch` of them)."""
        ready = await conn.fetch(
            "SELECT id, topic, key, type, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self.batch,
        )
        if handover is not None:
            handover.discard(r["id"] for r in ready)  # their NOTIFYs, if still to come, find nothing
        return await self.publish_rows(conn, ready)

    async def publish_notified(self, conn: asyncpg.Connection, ids: list[int], handover: Handover) -> Passed:
        """The rows of commits the relay was told of, in id order: those this process handed over
        from memory, the others read by id. A row already published (by a pass that read the
        table after it committed) is not read again, so not sent twice."""
        held, missing = handover.take(ids)
        rows: list[Row] = [*held, *(await conn.fetch(
            "SELECT id, topic, key, type, payload FROM outbox WHERE id = ANY($1::bigint[]) AND published_at IS NULL",
            missing) if missing else [])]
        return await self.publish_rows(conn, sorted(rows, key=lambda r: r["id"]))

    async def publish_rows(self, conn: asyncpg.Connection, ready: Sequence[Row]) -> Passed:
        if not ready:
            return Passed(0, 0, None)
        published, dead, transient = await self._send(ready)
        if dead:
            await self._set_aside(conn, dead)
        if published:
            await self._mark_published(conn, published)
        metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(published))
        return Passed(len(published), len(dead), transient)

    async def _send(self, rows: Sequence[Row]
                    ) -> tuple[list[int], dict[int, BaseException], BaseException | None]:
        """Send every row, each partition's in id order and the partitions side by side. Returns
        the ids published, those that never can be, and the first failure that may yet pass.

        A partition's batches go one after another, each once the one before it is written, and
        its first failure ends its part of the pass: the rows from there on are published again
        by the next pass, in order, and none of them reached the topic before the failed one.
        Sending them all at once would let a later batch of the partition be written after an
        earlier one timed out, and a consumer keeping an event's first copy would apply the later
        event first. One future per batch, not per record."""
        by_partition: dict[tuple[str, int], list[Row]] = {}
        dead: dict[int, BaseException] = {}
        partitions: dict[str, list[int] | BaseException] = {}
        for topic in {r["topic"] for r in rows}:  # once per topic, not per row
            try:
                partitions[topic] = sorted(await self.producer.partitions_for(topic))
            except UNPUBLISHABLE as exc:  # a topic that cannot exist
                partitions[topic] = exc
        for r in rows:
            key, of_topic = r["key"].encode(), partitions[r["topic"]]
            try:
                if isinstance(of_topic, BaseException):
                    raise of_topic
                # The producer's own size rule, before a sequence number is given: a batch the
                # broker refuses would leave a gap that fails the idempotent producer's next one.
                self.producer._serialize(r["topic"], key, r["payload"])  # noqa: SLF001 - aiokafka is pinned
            except UNPUBLISHABLE as exc:
                dead[r["id"]] = exc
                continue
            # Where `producer.send` would put the key: aiokafka's default partitioner (murmur2, as
            # Kafka's Java clients).
            partition = int(PARTITIONER(key, of_topic, of_topic))
            by_partition.setdefault((r["topic"], partition), []).append(r)
        outcomes = await asyncio.gather(*(self._send_partition(topic, partition, part)
                                          for (topic, partition), part in by_partition.items()))
        published: list[int] = []
        transient: BaseException | None = None
        for sent, aside, failed in outcomes:
            published += sent
            dead.update(aside)
            transient = transient or failed
        return published, dead, transient

    async def _send_partition(self, topic: str, partition: int, rows: list[Row]
                              ) -> tuple[list[int], dict[int, BaseException], BaseException | None]:
        published: list[int] = []
        dead: dict[int, BaseException] = {}
        at, alone_until = 0, 0
        while at < len(rows):
            batch, taken = self._batch_of(rows[at:], most=1 if at < alone_until else len(rows))
            try:
                await (await self.producer.send_batch(batch, topic, partition=partition))
            except UNPUBLISHABLE as exc:
                self._unwritten(topic, partition, taken)
                if taken > 1:  # one of them is to blame: each of them again on its own
                    alone_until = at + taken
                    continue
                dead[rows[at]["id"]] = exc
            except Exception as exc:  # noqa: BLE001 - the rows stay unpublished and the pass says why
                return published, dead, exc
            else:
                published += [r["id"] for r in rows[at:at + taken]]
            at += taken
        return published, dead, None

    def _unwritten(self, topic: str, partition: int, records: int) -> None:
        """The broker refused a batch, so it did not take the batch's sequence numbers; aiokafka
        (0.12, pinned) keeps counting from after them, and the idempotent producer's next batch to
        the partition would fail for good as out of order. Only this relay writes the partition
        from this producer, one batch at a time, so nothing was numbered after the refused one."""
        txn = self.producer._txn_manager  # noqa: SLF001 - see above
        if txn is not None:
            txn.increment_sequence_number(TopicPartition(topic, partition), -records)

    def _batch_of(self, rows: list[Row], most: int) -> tuple[BatchBuilder, int]:
        """A produce batch of the leading rows that fit, at least one and at most `most`; and how
        many it took."""
        batch = self.producer.create_batch()
        taken = 0
        for r in rows[:most]:
            if batch.append(key=r["key"].encode(), value=bytes(r["payload"]), timestamp=None,
                            headers=record_headers(r["type"])) is None:
                break
            taken += 1
        return batch, taken

    async def _mark_published(self, conn: asyncpg.Connection, ids: list[int]) -> None:
        await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids)

    async def _set_aside(self, conn: asyncpg.Connection, dead: dict[int, BaseException]) -> None:
        ids = list(dead)
        async with conn.transaction():
            moved = await conn.fetch(
                """WITH moved AS (DELETE FROM outbox WHERE id = ANY($1::bigint[]) RETURNING *)
                   INSERT INTO outbox_dead (id, event_id, topic, key, type, payload, created_at, error)
                   SELECT m.id, m.event_id, m.topic, m.key, m.type, m.payload, m.created_at, e.error
                   FROM moved m JOIN unnest($1::bigint[], $2::text[]) AS e(id, error) USING (id)
                   RETURNING id, event_id, type, topic, length(payload) AS size, error""",
                ids, [repr(dead[i])[:2000] for i in ids],
            )
        for row in moved:
            metrics.OUTBOX_SET_ASIDE.labels(self.service, row["topic"]).inc()
            log.error("outbox_row_set_aside", outbox_id=row["id"], event_id=row["event_id"], type=row["type"],
                      topic=row["topic"], size=row["size"], error=row["error"])

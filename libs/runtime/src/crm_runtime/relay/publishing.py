"""One relay pass: read what is committed and unpublished in id order, send it, mark it published,
and set aside what the broker can never take."""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from crm_contracts import record_headers

from .. import logs, metrics

log = logs.get(__name__)

# Errors no retry can cure: the row is set aside so that the rows behind it are published.
# Only what the broker can never take: too large, or for a topic name that cannot exist. A missing
# grant or a bad credential (TopicAuthorizationFailedError, SASL failures) is an outage of our own
# making: every row would be set aside in one pass, so it is retried, and /health names it until
# it is fixed. Set-aside rows go back with `requeue_dead` (`crm outbox requeue SERVICE`).
UNPUBLISHABLE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError, InvalidTopicError)


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

    async def publish(self, conn: asyncpg.Connection) -> Passed:
        ready = await conn.fetch(
            "SELECT id, topic, key, type, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self.batch,
        )
        if not ready:
            return Passed(0, 0, None)
        published, dead, transient = await self._send(ready)
        if dead:
            await self._set_aside(conn, dead)
        if published:
            await self._mark_published(conn, published)
        metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(published))
        return Passed(len(published), len(dead), transient)

    async def _send(self, rows: list[asyncpg.Record]
                    ) -> tuple[list[int], dict[int, BaseException], BaseException | None]:
        """Send every row without waiting for each. Returns the ids published, those that never can
        be, and the first failure that may yet pass: rows from it on are sent again next pass (a
        duplicate at most, never a loss)."""
        sends: list[asyncio.Future | BaseException] = []
        for r in rows:
            try:
                sends.append(await self.producer.send(r["topic"], bytes(r["payload"]), key=r["key"].encode(),
                                                      headers=record_headers(r["type"])))
            except UNPUBLISHABLE as exc:  # raised before sending, e.g. larger than max_request_size
                sends.append(exc)
        results = await asyncio.gather(*(s for s in sends if not isinstance(s, BaseException)),
                                       return_exceptions=True)
        outcomes = iter(results)
        published: list[int] = []
        dead: dict[int, BaseException] = {}
        for r, sent in zip(rows, sends, strict=True):
            result = sent if isinstance(sent, BaseException) else next(outcomes)
            if not isinstance(result, BaseException):
                published.append(r["id"])
            elif isinstance(result, UNPUBLISHABLE):
                dead[r["id"]] = result
            else:
                return published, dead, result
        return published, dead, None

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

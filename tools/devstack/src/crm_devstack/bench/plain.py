"""The whole pipeline as plain loops: `make bench`'s anchor for what the runtime itself costs.

Each of the four services, as a process of its own, with none of the runtime's machinery (lanes,
passes, savepoints, retries, the relay, dead letters, offsets kept apart): aiokafka `getmany`;
for each partition's records, one transaction with the inbox claim, the service's own handlers
(the same statements, through the same repositories) and the outbox rows; then the events sent
without awaiting each, the rows marked, and the offset committed. The notifications service's
delivery worker runs too, so the e-mails of a flow are sent as they are on the stack, and what it
stages is published on each commit's NOTIFY.

It stands in for the services (same databases, topics, consumer groups and PID files, and a
`/health` for `settled`), so the bench's own flows run through it unchanged:

    python -m crm_devstack.bench.plain SERVICE [--per-fetch]

With `--per-fetch`, what one fetch returns across partitions is one transaction (decision 0008's
first item, without its savepoints): what that design could save, measured before it is built.

What it leaves out is what the runtime adds for its guarantees: a handler's failure rolls back
the whole batch and ends the process (no savepoint, no rejection answer, no dead letter), a crash
between the commit and the publish loses the events (no relay), and nothing bounds or retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from types import SimpleNamespace

import asyncpg
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crm_contracts import MESSAGES, CloudEvent, record_headers
from crm_runtime import inbox, outbox
from crm_runtime.handlers import HandlerContext
from crm_runtime.records import header
from crm_runtime.service import Service

STAGE = """INSERT INTO outbox (event_id, topic, key, type, payload)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[]) RETURNING id"""


class Plain:
    def __init__(self, service: Service, *, per_fetch: bool = False) -> None:
        self.service, self.per_fetch = service, per_fetch
        self.name, self.settings, self.handlers = service.name, service.settings, service.handlers
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None

    def _readable(self, records: Sequence[ConsumerRecord]) -> list[CloudEvent]:
        messages = []
        for r in records:
            type_ = header(r, "ce_type")
            if type_ is not None and self.handlers.get(type_) is None:
                continue  # an event this service does not act on, passed over unparsed as the runtime does
            message = CloudEvent.model_validate_json(r.value)
            if self.handlers.get(message.type) is not None:
                messages.append(message)
        return messages

    async def _handle(self, messages: list[CloudEvent]) -> None:
        """One transaction for `messages`, in order; then their events sent and marked."""
        assert self.pool is not None and self.producer is not None
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                fresh = await inbox.claim_many(conn, self.name, messages)
                staged: list[CloudEvent] = []
                for message in messages:
                    if message.id in fresh:
                        fresh.discard(message.id)  # twice in one batch (a relay's duplicate): once, as the runtime
                        ctx = HandlerContext(conn, message, self.name, self.settings)
                        handler = self.handlers.get(message.type)
                        assert handler is not None
                        await handler(ctx, MESSAGES[message.type].model.model_validate(message.data))
                        staged.extend(ctx.staged)
                ids = [r["id"] for r in await conn.fetch(
                    STAGE, [e.id for e in staged], [e.topic for e in staged], [e.key for e in staged],
                    [e.type for e in staged], [e.to_json() for e in staged])] if staged else []
            sends = [await self.producer.send(e.topic, e.to_json(), key=e.key.encode(),
                                              headers=record_headers(e.type)) for e in staged]
            await asyncio.gather(*sends)
            if ids:
                await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids)

    async def step(self, tp: TopicPartition, records: Sequence[ConsumerRecord]) -> None:
        """One partition's records: what the runtime does per lane."""
        assert self.consumer is not None
        if messages := self._readable(records):
            await self._handle(messages)
        await self.consumer.commit({tp: records[-1].offset + 1})

    async def step_fetch(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Everything one fetch returned, every partition's in order, in one transaction: decision
        0008's first item, without its savepoints."""
        assert self.consumer is not None
        if messages := [m for records in fetched.values() for m in self._readable(records)]:
            await self._handle(messages)
        await self.consumer.commit({tp: records[-1].offset + 1 for tp, records in fetched.items()})

    async def publish_workers_rows(self) -> None:
        """What the services' workers stage (notifications' e-mail.sent) has no handler batch to
        publish it: read on each commit's NOTIFY, sent, marked."""
        assert self.pool is not None and self.producer is not None
        woken = asyncio.Event()
        listener = await asyncpg.connect(self.settings.database_url)
        await listener.add_listener(outbox.channel_of(self.name), lambda *_: woken.set())
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), 2.0)
            woken.clear()
            rows = await self.pool.fetch("SELECT id, topic, key, type, payload FROM outbox WHERE published_at IS NULL "
                                         "ORDER BY id LIMIT 500")
            sends = [await self.producer.send(r["topic"], bytes(r["payload"]), key=r["key"].encode(),
                                              headers=record_headers(r["type"])) for r in rows]
            await asyncio.gather(*sends)
            if rows:
                await self.pool.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                                        [r["id"] for r in rows])

    async def consume(self) -> None:
        assert self.consumer is not None
        while True:
            fetched = await self.consumer.getmany(timeout_ms=100, max_records=self.settings.fetch_max_records)
            if self.per_fetch and fetched:
                await self.step_fetch(fetched)
            else:
                await asyncio.gather(*(self.step(tp, records) for tp, records in fetched.items()))

    async def health(self, request: Request) -> JSONResponse:
        assert self.pool is not None
        backlog = await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return JSONResponse({"status": "ok", "pid": os.getpid(), "outbox_backlog": backlog, "plain": True})

    async def run(self) -> None:
        settings = self.settings
        self.pool = await asyncpg.create_pool(settings.database_url, min_size=2, max_size=settings.db_pool_size)
        self.producer = AIOKafkaProducer(**settings.kafka_args(), enable_idempotence=True, acks="all",
                                         linger_ms=settings.producer_linger_ms)
        self.consumer = AIOKafkaConsumer(*[t.name for t in self.service.consumes], **settings.kafka_args(),
                                         group_id=self.service.group, enable_auto_commit=False,
                                         auto_offset_reset="earliest", fetch_min_bytes=settings.fetch_min_bytes,
                                         fetch_max_wait_ms=settings.fetch_max_wait_ms)
        await self.producer.start()
        await self.consumer.start()
        # What the services' workers read. Not `ready`: routing's timers (claims running out) wait for
        # a service that is, and none falls due in the bench's flows.
        shim = SimpleNamespace(pool=self.pool, settings=settings, ready=False, handover=None)
        workers = [asyncio.create_task(worker(shim)) for worker in self.service._workers]  # noqa: SLF001
        app = Starlette(routes=[Route("/health", self.health)])
        server = uvicorn.Server(uvicorn.Config(app, host=settings.http_host, port=settings.http_port,
                                               log_config=None, access_log=False, lifespan="off"))
        try:
            await asyncio.gather(self.consume(), self.publish_workers_rows(), server.serve(), *workers)
        finally:
            await self.consumer.stop()
            await self.producer.stop()
            await self.pool.close()


def main(name: str, per_fetch: bool) -> None:
    service = importlib.import_module(f"crm_{name}.app").service()
    asyncio.run(Plain(service, per_fetch=per_fetch).run())


if __name__ == "__main__":
    main(sys.argv[1], "--per-fetch" in sys.argv[2:])

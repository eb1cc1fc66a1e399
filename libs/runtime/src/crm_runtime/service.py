"""One `Service` wires a crm-platform service: broker, subscribers, database, relay, HTTP."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any
from importlib.resources.abc import Traversable

import asyncpg
import uvicorn
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import make_asgi_app

from crm_contracts import Topic

from . import db, logs
from .consuming import RecordProcessor
from .handling import Handlers
from .offsets import OffsetCommitter
from .http import Route, Scope, get_route, json_response
from .outbox import OutboxRelay
from .settings import ServiceSettings

log = logs.get(__name__)

class Service:
    def __init__(
        self,
        name: str,
        handlers: Handlers,
        consumes: list[Topic],
        migrations: Traversable,
        *,
        settings: ServiceSettings | None = None,
        routes: Callable[[Service], dict[str, Route]] | None = None,
        workers: list[Callable[[Service], Coroutine[Any, Any, None]]] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings or ServiceSettings()
        self.handlers = handlers
        self.migrations = migrations
        self.pool: asyncpg.Pool | None = None
        self.broker = KafkaBroker(
            self.settings.kafka_bootstrap_servers,
            client_id=f"crm-{name}-{os.getpid()}",
            enable_idempotence=True,
            acks="all",
            logger=logs.get(f"crm_{name}.broker"),
        )
        self.relay: OutboxRelay | None = None
        self.ready = False
        self._relay_task: asyncio.Task | None = None
        self.group = f"crm-{name}{self.settings.group_suffix}"
        self.processors: dict[str, RecordProcessor] = {}
        self.committers: list[OffsetCommitter] = []
        for topic in consumes:
            self._subscribe(topic)
        self._extra_routes = routes
        self._workers = workers or []
        self._tasks: list[asyncio.Task] = []

    def processor_for(self, topic: Topic) -> RecordProcessor:
        return self.processors[topic.name]

    def _subscribe(self, topic: Topic) -> None:
        group = self.group
        processor = RecordProcessor(self.name, self.handlers, self.broker, group=group,
                                    attempts=self.settings.handler_attempts,
                                    max_delay=self.settings.retry_max_delay_s, settings=self.settings)
        self.processors[topic.name] = processor
        committer = OffsetCommitter(self.settings.offset_commit_interval_s)
        self.committers.append(committer)

        # MANUAL: FastStream commits nothing by itself. An offset is committed only after its
        # record's transaction committed (or it was dead-lettered), so a crash anywhere before
        # that redelivers the record; never auto-commit.
        @self.broker.subscriber(topic.name, group_id=group, ack_policy=AckPolicy.MANUAL,
                                auto_offset_reset="earliest", description=topic.description)
        async def on_record(msg: KafkaMessage) -> None:
            await processor.process(msg.raw_message)
            committer.finished(msg.consumer, msg.raw_message)

    async def _start_database(self) -> None:
        delay = 0.2
        while True:
            try:
                self.pool = await db.create_pool(self.settings.database_url)
                async with self.pool.acquire() as conn:
                    await db.migrate(conn, [("runtime", db.migrations_of("crm_runtime")),
                                            (self.name, self.migrations)])
                break
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("database_unavailable", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        for processor in self.processors.values():
            processor.pool = self.pool

    async def _start_relay(self) -> None:
        assert self.pool is not None
        self.relay = OutboxRelay(self.name, self.pool, self.broker, dsn=self.settings.database_url,
                                 batch=self.settings.outbox_batch,
                                 max_delay=self.settings.retry_max_delay_s)
        self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.name}-outbox-relay")
        self._tasks = [asyncio.create_task(worker(self)) for worker in self._workers]
        # FastStream reports the ASGI startup complete before the broker starts; health waits
        # for this point, when subscribers and the relay run.
        self.ready = True

    async def _stop(self) -> None:
        # Before the broker stops its consumers: what finished gets committed.
        await asyncio.gather(*(c.close() for c in self.committers))
        tasks = [t for t in (self._relay_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.relay is not None:
            await self.relay.close()

    async def _close_pool(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def health(self, scope: Scope) -> AsgiResponse:
        checks: dict[str, object] = {}
        try:
            assert self.pool is not None
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"down: {exc!r}"
        checks["kafka"] = "ok" if await self.broker.ping(timeout=2) else "down"
        if self.relay is not None and checks["database"] == "ok":
            checks["outbox_backlog"] = await self.relay.backlog()
        healthy = self.ready and checks["database"] == "ok" and checks["kafka"] == "ok"
        status = "ok" if healthy else ("unhealthy" if self.ready else "starting")
        return json_response({"service": self.name, "status": status,
                              "pid": os.getpid(), **checks}, 200 if healthy else 503)

    def app(self) -> AsgiFastStream:
        routes: dict[str, Route] = {"/health": get_route(self.health), "/metrics": make_asgi_app()}
        if self._extra_routes:
            routes.update(self._extra_routes(self))
        return AsgiFastStream(
            self.broker,
            asgi_routes=list(routes.items()),
            logger=logs.get(f"crm_{self.name}.app"),
            on_startup=[self._start_database],
            after_startup=[self._start_relay],
            on_shutdown=[self._stop],
            after_shutdown=[self._close_pool],
        )

    def run(self) -> None:
        logs.configure(self.name, self.settings.log_level)
        config = uvicorn.Config(self.app(), host=self.settings.http_host, port=self.settings.http_port,
                                log_config=None, access_log=False, lifespan="on")
        asyncio.run(uvicorn.Server(config).serve())

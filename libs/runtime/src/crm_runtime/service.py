"""One `Service` wires a crm-platform service: consumer, database, outbox relay, HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import time
from collections.abc import Callable, Coroutine
from importlib.resources.abc import Traversable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import uvicorn
from aiokafka import AIOKafkaProducer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from crm_contracts import Topic

from . import db, logs, memory, metrics, openapi, outbox, tracing
from .auth import Verifier
from .batches import BatchProcessor
from .body_limit import BodyLimit
from .handlers import Clock, Handlers, platform_time
from .rebootstrap import rebootstrapping
from .http import Request, Response, get, json_response
from .http_timing import Timing
from .lanes import PartitionedConsumer
from .relay import OutboxRelay, RelaySettings
from .retry import Backoff
from .settings import ServiceSettings

log = logs.get(__name__)
T = TypeVar("T")


class NotStarted(RuntimeError):
    """A service's pool, producer or relay asked for before it has started."""


@dataclass(frozen=True)
class Resources:
    """What a started service holds, built together at start and released together at stop: once
    there, none of it is missing."""

    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    relay: OutboxRelay


class Service:
    def __init__(
        self,
        name: str,
        handlers: Handlers,
        consumes: list[Topic],
        migrations: Traversable,
        *,
        settings: ServiceSettings | None = None,
        routes: Callable[[Service], list[BaseRoute]] | None = None,
        workers: list[Callable[[Service], Coroutine[Any, Any, None]]] | None = None,
        health: Callable[[Service], Coroutine[Any, Any, dict[str, object]]] | None = None,
        prepare: Callable[[Service], Coroutine[Any, Any, None]] | None = None,
        clock: Clock = platform_time,
    ) -> None:
        self.name = name
        self.clock = clock
        self.settings = settings or ServiceSettings()
        self.handlers = handlers
        self.consumes = consumes
        self.migrations = migrations
        self._resources: Resources | None = None
        self.group = f"crm-{name}{self.settings.group_suffix}"
        self.client_id = f"crm-{name}-{os.getpid()}"
        # What this process stages, handed to its own relay at commit (`outbox.Handover`).
        self.handover = outbox.Handover()
        self.processor = BatchProcessor(name, handlers, None, group=self.group, settings=self.settings,
                                        clock=clock, handover=self.handover)
        self.consumer: PartitionedConsumer | None = None
        self.ready = False
        self._extra_routes = routes
        self._workers = workers or []
        self._health = health
        self._prepare = prepare
        self._tasks: list[asyncio.Task] = []
        self._lag_watch = 0

    @property
    def resources(self) -> Resources:
        if self._resources is None:
            raise NotStarted(f"{self.name} has not started")
        return self._resources

    @property
    def pool(self) -> asyncpg.Pool:
        return self.resources.pool

    @property
    def producer(self) -> AIOKafkaProducer:
        return self.resources.producer

    @property
    def relay(self) -> OutboxRelay:
        return self.resources.relay

    async def _start(self) -> None:
        # aiokafka objects are made inside the event loop. Idempotent and acks=all: a retried send
        # is written once, and only once every in-sync replica has it.
        producer = rebootstrapping(AIOKafkaProducer(
            **self.settings.kafka_args(), client_id=self.client_id, enable_idempotence=True, acks="all",
            request_timeout_ms=int(self.settings.producer_request_timeout_s * 1000),
            linger_ms=self.settings.producer_linger_ms))
        try:
            await self._until_up("kafka_unavailable", producer.start)
            pool = await self._until_up("database_unavailable", self._start_database)
        except BaseException:  # stopped while waiting for a part: nothing else holds the producer
            await producer.stop()
            raise
        self._resources = Resources(pool, producer, OutboxRelay(
            self.name, pool, producer, dsn=self.settings.database_url, settings=RelaySettings.of(self.settings),
            handover=self.handover))
        self.processor.producer, self.processor.pool = producer, pool
        self._tasks = [asyncio.create_task(self.relay.run(), name=f"{self.name}-outbox-relay"),
                       *(asyncio.create_task(worker(self)) for worker in self._workers)]
        if (prepare := self._prepare) is not None:  # e.g. a read model rebuilt before the group consumes anything
            await self._until_up("prepare_failed", lambda: prepare(self))
        self.consumer = PartitionedConsumer(self.consumes, self.processor, self.settings, group=self.group,
                                            client_id=self.client_id)
        await self._until_up("kafka_unavailable", self.consumer.start)
        self._lag_watch = metrics.CONSUMER_LAG.watch(self.name, self.consumer.lag)
        self.ready = True
        log.info("service_started", group=self.group, topics=[t.name for t in self.consumes])

    async def _until_up(self, event: str, start: Callable[[], Coroutine[Any, Any, T]]) -> T:
        # Not there yet: the service waits for it, it does not exit.
        return await Backoff(0.2, 5.0).retrying(start, log=log, event=event)

    async def _start_database(self) -> asyncpg.Pool:
        pool = await db.create_pool(self.settings.database_url, max_size=self.settings.db_pool_size,
                                    name=f"crm-{self.name}")
        try:
            async with pool.acquire() as conn:
                await db.migrate(conn, [("runtime", db.migrations_of("crm_runtime")), (self.name, self.migrations)])
        except BaseException:
            await pool.close()
            raise
        return pool

    async def _stop(self) -> None:
        # Drain first: what is in flight finishes and is committed before anything else stops.
        self.ready = False
        metrics.CONSUMER_LAG.forget(self._lag_watch)
        if self.consumer is not None:
            await self.consumer.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if (started := self._resources) is not None:
            await started.relay.close()
            await started.producer.stop()
            await started.pool.close()

    async def _reach(self) -> tuple[dict[str, object], list[str]]:
        """Whether the database and Kafka answer, each within 2 s."""
        checks: dict[str, object] = {}
        problems: list[str] = []
        if self._resources is None:
            return {"database": "not started", "kafka": "not started"}, ["starting"]
        try:
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"down: {exc!r}"
            problems.append("database unreachable")
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 2)
            checks["kafka"] = "ok"
        except Exception as exc:
            checks["kafka"] = f"down: {exc!r}"
            problems.append("kafka unreachable")
        return checks, problems

    async def livez(self, request: Request) -> Response:
        """Whether the process runs: it answers, and none of the loops it keeps (the consumer's,
        the relay, the workers) has ended. What an orchestrator restarts on, so nothing outside the
        process is asked: a broker or database outage is waited out, not restarted through."""
        running = [*self._tasks, *(self.consumer.loops if self.consumer is not None else [])]
        ended = sorted(t.get_name() for t in running if t.done()) if self.ready else []
        return json_response({"service": self.name, "status": "ended" if ended else "alive", "ended": ended},
                             503 if ended else 200)

    async def readyz(self, request: Request) -> Response:
        """Whether it can take work now: started, and its database and Kafka answer. What an
        orchestrator sends requests by; /health says more, for people."""
        checks, problems = await self._reach()
        ready = self.ready and not problems
        return json_response({"service": self.name, "status": "ready" if ready else "not ready", **checks,
                              "problems": problems if self.ready else ["starting"]}, 200 if ready else 503)

    async def health(self, request: Request) -> Response:
        checks, problems = await self._reach()
        if self._resources is not None and checks["database"] == "ok":
            backlog = await self.relay.backlog()
            checks["outbox_backlog"] = backlog
            checks["outbox_set_aside"] = await self.relay.set_aside()
            stalled = await self.relay.stalled(backlog)
            if stalled:
                problems.append(stalled)
            if self._health is not None:
                checks.update(await self._health(self))
        now = time.monotonic()
        for (topic, partition), trouble in list(self.processor.trouble.items()):
            if now - trouble.since >= self.settings.stuck_after_s:
                problems.append(f"{topic}/{partition}: the batch from offset {trouble.offset} has been failing "
                                f"for {now - trouble.since:.0f}s ({trouble.attempts} attempts): {trouble.error}")
        if self.consumer is not None:  # which partitions this replica holds: where its records come from
            held: dict[str, list[int]] = {}
            for tp in self.consumer.consumer.assignment():
                held.setdefault(tp.topic, []).append(tp.partition)
            checks["partitions"] = {t: sorted(ps) for t, ps in sorted(held.items())}
            for tp, at in sorted(self.consumer.lost.items()):
                problems.append(f"{tp.topic}/{tp.partition}: Kafka has no committed offset for group "
                                f"{self.consumer.group} (it had {at}); paused rather than read again from the "
                                f"beginning — `crm offsets set {self.consumer.group} --to recorded`, then restart")
        healthy = self.ready and not problems
        status = "ok" if healthy else ("unhealthy" if self.ready else "starting")
        return json_response({"service": self.name, "status": status, "pid": os.getpid(), **checks,
                              "problems": problems}, 200 if healthy else 503)

    def app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette):
            await self._start()
            try:
                yield
            finally:
                await self._stop()

        async def metrics(request: Request) -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        routes: list[BaseRoute] = [get("/health", self.health, public=True),
                                   get("/livez", self.livez, public=True),
                                   get("/readyz", self.readyz, public=True),
                                   get("/metrics", metrics, public=True, answers="text/plain"),
                                   *memory.routes()]
        if self._extra_routes:
            routes.extend(self._extra_routes(self))

        async def openapi_json(request: Request) -> Response:
            """The service's HTTP contract (OpenAPI 3.1), made from its routes."""
            return json_response(request.app.state.openapi)

        routes.append(get("/openapi.json", openapi_json, public=True))
        app = Starlette(routes=routes, lifespan=lifespan,
                        middleware=[Middleware(Timing, service=self.name), Middleware(BodyLimit)])
        app.state.openapi = openapi.document(
            f"crm-platform {self.name}", f"The {self.name} service's HTTP API. Commands and events travel on "
            "Kafka (the AsyncAPI document of libs/contracts); these routes read state and take the few "
            "requests people and other systems make over HTTP.", routes)
        app.state.service = self
        app.state.verifier = Verifier.from_settings(self.settings)
        if not app.state.verifier.configured:
            log.warning("auth_not_configured", hint="set AUTH_JWKS_FILE or AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE")
        return app

    def run(self) -> None:
        logs.configure(self.name, self.settings.log_level)
        memory.fix_mmap_threshold(self.settings.malloc_mmap_threshold)
        if self.settings.memory_profile:
            memory.start()
        config = uvicorn.Config(self.app(), host=self.settings.http_host, port=self.settings.http_port,
                                log_config=None, access_log=False, lifespan="on")
        loop_factory = None
        if self.settings.event_loop == "uvloop":
            import uvloop

            loop_factory = uvloop.new_event_loop
        tracing.configure(self.name, _version_of(self.name))
        try:
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                runner.run(uvicorn.Server(config).serve())
        finally:
            tracing.shutdown()


def _version_of(service: str) -> str:
    try:
        return importlib.metadata.version(f"crm-{service}")
    except importlib.metadata.PackageNotFoundError:  # a service made in a test
        return importlib.metadata.version("crm-runtime")

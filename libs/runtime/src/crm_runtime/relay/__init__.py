"""The outbox relay: publishes what handlers staged (`outbox.stage`) once their transaction has
committed, in staging order per key, with one replica at a time per service.

Three parts: `leadership` (which replica publishes, and the wake-up on each commit), `publishing`
(one pass: read, send, mark, set aside) and `upkeep` (pruning, the backlog gauge, stall reports).
`OutboxRelay` runs them in a loop.

A crash between publishing and marking publishes the rows again on restart: consumers
de-duplicate by event id, so a duplicate is harmless where a loss would not be. Events that must
stay in order come from transactions that follow one another (one partition's batches, or writers
of one row lock); `stage_many` written last gives those increasing ids. Transactions that ran side
by side without seeing each other have no order to keep. Nothing here depends on other databases:
an open transaction elsewhere on the server holds back no relay.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer

from .. import logs
from ..retry import Backoff
from ..settings import ServiceSettings
from .leadership import Leadership
from .publishing import UNPUBLISHABLE, Publisher
from .upkeep import PRUNE, Upkeep

__all__ = ["PRUNE", "UNPUBLISHABLE", "OutboxRelay", "RelaySettings"]

log = logs.get(__name__)


@dataclass(frozen=True)
class RelaySettings:
    batch: int = 500  # rows per pass
    idle_poll: float = 2.0  # seconds between passes with no NOTIFY (a lost one, or the lock freed)
    max_delay: float = 5.0  # longest wait between retries of a failing pass
    pass_timeout: float = 50.0  # a pass that hangs longer is abandoned (longer than a send may take)
    stall_after: float = 30.0  # no progress for this long with rows waiting: /health says so
    keep_published_s: float = 600.0
    keep_inbox_s: float | None = None  # None: the inbox is not pruned here
    gather_s: float = 0.0  # after a wake-up, wait this long so one pass takes a run of commits

    @classmethod
    def of(cls, settings: ServiceSettings) -> RelaySettings:
        return cls(batch=settings.outbox_batch, max_delay=settings.retry_max_delay_s,
                   stall_after=settings.stuck_after_s, pass_timeout=settings.relay_pass_timeout_s,
                   keep_published_s=settings.outbox_keep_published_s, keep_inbox_s=settings.inbox_keep_s,
                   gather_s=settings.relay_gather_ms / 1000)


class OutboxRelay:
    def __init__(self, service: str, pool: asyncpg.Pool, producer: AIOKafkaProducer, *,
                 dsn: str | None = None, settings: RelaySettings = RelaySettings()) -> None:
        self.service, self.pool, self.settings = service, pool, settings
        request_timeout = producer._request_timeout_ms / 1000 if producer is not None else 0.0
        if settings.pass_timeout <= request_timeout:
            # A pass cancelled with sends in flight lets the next relay publish them again.
            raise ValueError(f"relay pass timeout {settings.pass_timeout}s must exceed the producer's request "
                             f"timeout {request_timeout}s")
        # None (tests): each pass borrows a pooled connection and takes no lock.
        self.leadership = Leadership(service, dsn) if dsn is not None else None
        self.publisher = Publisher(service, producer, settings.batch)
        self.upkeep = Upkeep(service, pool, keep_published_s=settings.keep_published_s,
                             keep_inbox_s=settings.keep_inbox_s, stall_after=settings.stall_after)
        self._wake = self.leadership.wake if self.leadership else asyncio.Event()

    @property
    def leader(self) -> bool:
        return self.leadership is not None and self.leadership.leader

    async def publish_pending(self) -> int:
        """One pass: publish what is committed and unpublished, in order. Returns rows published."""
        if self.leadership is None:
            async with self.pool.acquire() as conn:
                return await self._pass(conn)
        conn = await self.leadership.connection()
        if conn is None:
            self.upkeep.progressed_at = time.monotonic()  # publishing is another process's job
            return 0
        return await self._pass(conn)

    async def _pass(self, conn: asyncpg.Connection) -> int:
        passed = await self.publisher.publish(conn)
        if passed.published or passed.set_aside or passed.transient is None:
            self.upkeep.progressed_at = time.monotonic()
        if passed.transient is not None:
            raise passed.transient
        return passed.published

    async def prune(self, limit: int = 5000) -> int:
        return await self.upkeep.prune(limit)

    async def backlog(self) -> int:
        return await self.upkeep.backlog()

    async def set_aside(self) -> int:
        return await self.upkeep.set_aside()

    async def stalled(self, backlog: int) -> str | None:
        return self.upkeep.stalled(backlog)

    async def run(self) -> None:
        backoff = Backoff(0.1, self.settings.max_delay)
        while True:
            self._wake.clear()
            # Bounded, so a connection that died mid-query cannot stall the relay for good; a
            # broker or database away, or not letting us in, keeps the rows.
            published = await backoff.retrying(
                lambda: asyncio.wait_for(self.publish_pending(), self.settings.pass_timeout),
                log=log, event="outbox_relay_failed", on_error=self._failed_pass)
            self.upkeep.last_error = ""
            await self.upkeep.after_pass(self.leader)
            if published >= self.settings.batch:
                continue
            try:
                # NOTIFY wakes it on every commit that staged rows; the poll covers a lost
                # notification and, for a relay without the lock, the lock becoming free.
                await asyncio.wait_for(self._wake.wait(), self.settings.idle_poll if self.leader else 1.0)
            except TimeoutError:
                continue
            if self.settings.gather_s:
                # Commits come in runs under load: one pass for a run costs two statements and
                # one produce request instead of that many per commit.
                await asyncio.sleep(self.settings.gather_s)

    def _failed_pass(self, exc: Exception) -> None:
        self.upkeep.last_error = repr(exc)[:300]
        if self.leadership is not None:
            self.leadership.drop()  # its state is unknown after a failure mid-pass

    async def close(self) -> None:
        if self.leadership is not None:
            self.leadership.drop()

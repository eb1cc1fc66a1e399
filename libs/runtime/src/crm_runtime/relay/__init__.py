"""The outbox relay: publishes what handlers staged (`outbox.stage`) once their transaction has
committed, in staging order per key, with one replica at a time per service.

Three parts: `leadership` (which replica publishes, and the NOTIFY of each commit), `publishing`
(one pass: the rows, send, mark, set aside) and `upkeep` (pruning, the backlog gauge, stall
reports). `OutboxRelay` runs them in a loop: a pass publishes the commits the NOTIFYs named since
the last one — this process's rows from its `Handover`, others' read by id — or, when the NOTIFYs
may not name every commit, reads the table whole.

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
from ..outbox import Handover
from .publishing import UNPUBLISHABLE, Passed, Publisher
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


def named(notified: list[str]) -> list[int] | None:
    """The outbox ids the NOTIFYs name, in order; None when one names none (read the table)."""
    ids: set[int] = set()
    for payload in notified:
        listed = payload.split(",")
        if not all(i.isdigit() for i in listed):  # '' included: a requeue, or too many ids to list
            return None
        ids.update(map(int, listed))
    return sorted(ids)


class OutboxRelay:
    def __init__(self, service: str, pool: asyncpg.Pool, producer: AIOKafkaProducer, *,
                 dsn: str | None = None, settings: RelaySettings = RelaySettings(),
                 handover: Handover | None = None) -> None:
        self.service, self.pool, self.settings = service, pool, settings
        # What this process stages (`outbox.stage_many(..., handover)`), published from memory.
        self.handover = handover if handover is not None else Handover()
        self._read_table = True
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
                return self._passed(await self.publisher.publish(conn))
        conn = await self.leadership.connection()
        if conn is None:
            self.handover.close()
            self.upkeep.progressed_at = time.monotonic()  # publishing is another process's job
            return 0
        self.handover.open = True
        return self._passed(await self._leader_pass(conn))

    async def _leader_pass(self, conn: asyncpg.Connection) -> Passed:
        """The commits named by the NOTIFYs since the last pass, when that is all there can be;
        else the whole table, once. The table is read whole when the NOTIFYs may not name every
        commit since the last time it was: on a new connection or the lock just taken, after a
        failed pass, when a pass left rows for the next, on the idle poll, and for a NOTIFY with
        no ids (a requeue, or more ids than a payload holds)."""
        leadership = self.leadership
        assert leadership is not None
        ids = named(leadership.take_notified())
        if leadership.fresh or self._read_table or ids is None or len(ids) > self.settings.batch:
            # NOTIFYs that arrive from here on may name rows this read finds: those are taken out
            # of the handover by the read, and read again by id only if still unpublished.
            leadership.fresh = self._read_table = False
            passed = await self.publisher.publish(conn, self.handover)
            self._read_table = passed.published + passed.set_aside >= self.settings.batch
            return passed
        return await self.publisher.publish_notified(conn, ids, self.handover)

    def _passed(self, passed: Passed) -> int:
        if passed.published or passed.set_aside or passed.transient is None:
            self.upkeep.progressed_at = time.monotonic()
        if passed.transient is not None:
            self._read_table = True
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
            published = await backoff.retrying(self._bounded_pass, log=log, event="outbox_relay_failed",
                                               on_error=self._failed_pass)
            self.upkeep.last_error = ""
            await self.upkeep.after_pass(self.leader)
            if published >= self.settings.batch or (self._read_table and self.leader):
                continue  # rows may be left for the next pass
            try:
                # NOTIFY wakes it on every commit that staged rows; the poll covers a lost
                # notification and, for a relay without the lock, the lock becoming free.
                async with asyncio.timeout(self.settings.idle_poll if self.leader else 1.0):
                    await self._wake.wait()
            except TimeoutError:
                self._read_table = True
                continue
            if self.settings.gather_s:
                # Commits come in runs under load: one pass for a run costs one mark and one
                # produce request per partition instead of that many per commit.
                await asyncio.sleep(self.settings.gather_s)

    async def _bounded_pass(self) -> int:
        # `asyncio.timeout`, not `wait_for`: Python 3.11's `wait_for` returns the result when the
        # task is cancelled just as the awaited one finishes, and the relay would not stop.
        async with asyncio.timeout(self.settings.pass_timeout):
            return await self.publish_pending()

    def _failed_pass(self, exc: Exception) -> None:
        self.upkeep.last_error = repr(exc)[:300]
        self._read_table = True
        if self.leadership is not None:
            self.leadership.drop()  # its state is unknown after a failure mid-pass

    async def close(self) -> None:
        self.handover.close()
        if self.leadership is not None:
            self.leadership.drop()

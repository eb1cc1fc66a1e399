"""What the relay's leadership also looks after, once per database: pruning published outbox rows
and old inbox claims, the backlog gauge, and whether publishing has stalled."""

from __future__ import annotations

import time

import asyncpg

from .. import inbox, logs, metrics

log = logs.get(__name__)

# By `outbox_published` (tests EXPLAIN it on 100,000 rows).
PRUNE = """DELETE FROM outbox WHERE id = ANY(ARRAY(
               SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => $1) LIMIT $2))"""


class Upkeep:
    def __init__(self, service: str, pool: asyncpg.Pool, *, keep_published_s: float,
                 keep_inbox_s: float | None, stall_after: float) -> None:
        self.service, self.pool = service, pool
        self.keep_published_s, self.keep_inbox_s, self.stall_after = keep_published_s, keep_inbox_s, stall_after
        self.progressed_at = time.monotonic()  # last pass that published or found nothing waiting
        self.last_error = ""  # of the last pass that failed, for /health
        self._pruned_at = time.monotonic()
        self._gauged_at = 0.0

    async def prune(self, limit: int = 5000) -> int:
        """Delete rows published more than `keep_published_s` ago. The topic is the record of what
        was published; old rows would only keep payloads (names, addresses, sealed secrets) in one
        more place."""
        return int((await self.pool.execute(PRUNE, self.keep_published_s, limit)).split()[-1])

    async def after_pass(self, leader: bool) -> None:
        """Between passes: the backlog gauges every 5 s (rows waiting, the oldest one's age) and, on
        the leader, pruning."""
        if time.monotonic() - self._gauged_at > 5:
            self._gauged_at = time.monotonic()
            waiting, oldest_s = await self.pool.fetchrow(
                "SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)::float8 "
                "FROM outbox WHERE published_at IS NULL")
            metrics.OUTBOX_BACKLOG.labels(self.service).set(waiting)
            metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(oldest_s)
        if not leader or time.monotonic() - self._pruned_at <= min(60.0, max(1.0, self.keep_published_s / 2)):
            return
        self._pruned_at = time.monotonic()
        try:
            if pruned := await self.prune():
                log.info("outbox_pruned", rows=pruned)
            if self.keep_inbox_s is not None and (pruned := await inbox.prune(self.pool, self.keep_inbox_s)):
                log.info("inbox_pruned", rows=pruned)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbox_prune_failed", error=repr(exc))

    async def backlog(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")

    async def set_aside(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM outbox_dead")

    def stalled(self, backlog: int) -> str | None:
        """Why the relay is not keeping up, or None: no progress for `stall_after` seconds with rows waiting."""
        idle = time.monotonic() - self.progressed_at
        if backlog == 0 or idle < self.stall_after:
            return None
        why = f"; last error: {self.last_error}" if self.last_error else ""
        return (f"outbox relay has not advanced for {idle:.0f}s with {backlog} rows waiting{why} "
                f"(see outbox_relay_failed and outbox_relay_lock_held_elsewhere in the log)")

"""Transactional outbox: stage events in the business transaction, relay them afterwards."""

from __future__ import annotations

import asyncio
import zlib

import asyncpg
from faststream.kafka import KafkaBroker

from crm_contracts import CloudEvent

from . import logs, metrics

log = logs.get(__name__)


def channel_of(service: str) -> str:
    return f"outbox_{service}"


async def stage(conn: asyncpg.Connection, service: str, event: CloudEvent) -> None:
    """Write `event` to the outbox inside the caller's transaction; NOTIFY wakes the relay on commit."""
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, type, payload) VALUES ($1, $2, $3, $4, $5)",
        event.id, event.topic, event.key, event.type, event.to_json(),
    )
    await conn.execute("SELECT pg_notify($1, '')", channel_of(service))


def record_headers(type_: str) -> dict[str, str]:
    return {"ce_type": type_, "content-type": "application/cloudevents+json"}


class OutboxRelay:
    """Publishes outbox rows in id order and marks them published.

    A crash between publishing and marking publishes the rows again on restart: consumers
    de-duplicate by event id, so a duplicate is harmless where a loss would not be. One relay
    per database is active at a time (advisory lock), so replicas never reorder each other.
    """

    def __init__(self, service: str, pool: asyncpg.Pool, broker: KafkaBroker, *, dsn: str | None = None,
                 batch: int = 500, poll_interval: float = 0.5, max_delay: float = 5.0,
                 pass_timeout: float = 30.0) -> None:
        self.service = service
        self.pool = pool
        self.broker = broker
        self.batch = batch
        self.poll_interval = poll_interval
        self.max_delay = max_delay
        self.dsn = dsn
        self.pass_timeout = pass_timeout
        self._wake = asyncio.Event()
        self._lock_key = zlib.crc32(f"outbox:{service}".encode())
        self._listener: asyncpg.Connection | None = None

    async def publish_pending(self) -> int:
        """One pass: publish what is committed and unpublished, in order. Returns rows published."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", self._lock_key):
                return 0
            rows = await conn.fetch(
                """SELECT id, topic, key, type, payload FROM outbox
                   WHERE published_at IS NULL
                     AND xid < pg_snapshot_xmin(pg_current_snapshot())
                   ORDER BY id LIMIT $1""",
                self.batch,
            )
            if not rows:
                return 0
            pending = [
                await self.broker.publish(
                    bytes(r["payload"]), r["topic"], key=r["key"].encode(),
                    headers=record_headers(r["type"]), no_confirm=True,
                )
                for r in rows
            ]
            await asyncio.gather(*pending)
            await self._mark_published(conn, [r["id"] for r in rows])
        metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        return len(rows)

    async def _mark_published(self, conn: asyncpg.Connection, ids: list[int]) -> None:
        await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids)

    async def backlog(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")

    async def run(self) -> None:
        delay = 0.1
        while True:
            await self._listen()
            try:
                # Bounded, so a connection that died mid-query cannot stall the relay for good.
                published = await asyncio.wait_for(self.publish_pending(), self.pass_timeout)
                metrics.OUTBOX_BACKLOG.labels(self.service).set(await self.backlog())
                delay = 0.1
                if published:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: keep the rows, try again later
                log.warning("outbox_relay_failed", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except TimeoutError:
                pass

    async def _listen(self) -> None:
        """LISTEN on a connection of its own; without it, polling still publishes, only later."""
        if self.dsn is None or (self._listener is not None and not self._listener.is_closed()):
            return
        try:
            self._listener = await asyncpg.connect(self.dsn, timeout=5)
            await self._listener.add_listener(channel_of(self.service), lambda *_: self._wake.set())
        except Exception as exc:
            log.warning("outbox_listen_failed", error=repr(exc))
            self._listener = None

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.terminate()
            self._listener = None

"""The outbox relay: publishes what handlers staged (`outbox.stage`) once their transaction has
committed, in staging order per key, with one replica at a time per service."""

from __future__ import annotations

import asyncio
import time
import zlib

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from . import inbox, logs, metrics
from .db import SERVER_SETTINGS
from .outbox import channel_of, record_headers
from .retry import Backoff

log = logs.get(__name__)

# Errors no retry can cure: the row is set aside so that the rows behind it are published.
# Only what the broker can never take: too large, or for a topic name that cannot exist. A missing
# grant or a bad credential (TopicAuthorizationFailedError, SASL failures) is an outage of our own
# making: every row would be set aside in one pass, so it is retried, and /health names it until
# it is fixed. Set-aside rows go back with `requeue_dead` (`crm outbox requeue SERVICE`).
UNPUBLISHABLE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError, InvalidTopicError)


# By `outbox_published` (tests EXPLAIN it on 100,000 rows).
PRUNE = """DELETE FROM outbox WHERE id = ANY(ARRAY(
               SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => $1) LIMIT $2))"""


class OutboxRelay:
    """Publishes outbox rows in id order and marks them published.

    A crash between publishing and marking publishes the rows again on restart: consumers
    de-duplicate by event id, so a duplicate is harmless where a loss would not be.

    One relay per database publishes at a time: it holds a session advisory lock on a connection
    of its own, which also LISTENs for the NOTIFY of each commit that staged rows. A pass is two
    statements — read, then mark — and no transaction stays open while Kafka is awaited. Should
    the relay's client vanish, the server's TCP keepalives (see `db.SERVER_SETTINGS`) end its
    session, and so free the lock, within about half a minute; a relay that finds the lock taken
    says by whom, every 30 s, in the log.

    Every pass reads all committed, unpublished rows in id order — no cursor, no horizon — so a
    row whose transaction commits after rows with higher ids is published by the next pass,
    never skipped. Events that must stay in order come from transactions that follow one another
    (one partition's batches, or writers of one row lock); `stage_many` written last gives those
    increasing ids. Transactions that ran side by side without seeing each other have no order
    to keep. Nothing here depends on other databases: an open transaction elsewhere on the
    server holds back no relay.
    """

    def __init__(self, service: str, pool: asyncpg.Pool, producer: AIOKafkaProducer, *,
                 dsn: str | None = None, batch: int = 500, idle_poll: float = 2.0, max_delay: float = 5.0,
                 pass_timeout: float = 50.0, stall_after: float = 30.0, keep_published_s: float = 600.0,
                 keep_inbox_s: float | None = None, gather_s: float = 0.0) -> None:
        self.service = service
        self.pool = pool
        self.producer = producer
        self.batch = batch
        self.idle_poll = idle_poll
        self.max_delay = max_delay
        self.dsn = dsn  # None (tests): each pass borrows a pooled connection and takes no lock
        request_timeout = producer._request_timeout_ms / 1000 if producer is not None else 0.0
        if pass_timeout <= request_timeout:
            # A pass cancelled with sends in flight lets the next relay publish them again.
            raise ValueError(f"relay pass timeout {pass_timeout}s must exceed the producer's request "
                             f"timeout {request_timeout}s")
        self.pass_timeout = pass_timeout
        self.stall_after = stall_after
        self.keep_published_s = keep_published_s
        self.gather_s = gather_s
        # The database's upkeep rides on the relay's leadership: one process per database does it.
        self.keep_inbox_s = keep_inbox_s
        self._pruned_at = time.monotonic()
        self._wake = asyncio.Event()
        self._lock_key = zlib.crc32(f"outbox:{service}".encode())
        self._conn: asyncpg.Connection | None = None
        self.leader = False
        self._lock_logged_at = 0.0
        self.progressed_at = time.monotonic()  # last pass that published or found nothing waiting
        self.last_error = ""  # of the last pass that failed, for /health

    async def _own_connection(self) -> asyncpg.Connection | None:
        """The relay's connection if it holds the database's relay lock, else None."""
        if self._conn is None or self._conn.is_closed():
            self.leader = False
            self._conn = await asyncpg.connect(self.dsn, timeout=5, server_settings=dict(SERVER_SETTINGS))
            await self._conn.add_listener(channel_of(self.service), lambda *_: self._wake.set())
        if not self.leader:
            self.leader = bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key))
            if not self.leader:
                self.progressed_at = time.monotonic()  # publishing is another process's job
                await self._lock_held_elsewhere(self._conn)
                return None
        return self._conn

    async def publish_pending(self) -> int:
        """One pass: publish what is committed and unpublished, in order. Returns rows published."""
        if self.dsn is None:
            async with self.pool.acquire() as conn:
                return await self._pass(conn)
        conn = await self._own_connection()
        return 0 if conn is None else await self._pass(conn)

    async def _pass(self, conn: asyncpg.Connection) -> int:
        ready = await conn.fetch(
            "SELECT id, topic, key, type, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self.batch,
        )
        if not ready:
            self.progressed_at = time.monotonic()
            return 0
        published, dead, transient = await self._send(ready)
        if dead:
            await self._set_aside(conn, dead)
        if published:
            await self._mark_published(conn, published)
        metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(published))
        if published or dead:
            self.progressed_at = time.monotonic()
        if transient is not None:
            raise transient
        return len(published)

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

    async def _lock_held_elsewhere(self, conn: asyncpg.Connection) -> None:
        now = time.monotonic()
        if now - self._lock_logged_at < 30:
            return
        self._lock_logged_at = now
        holder = await conn.fetchrow(
            """SELECT a.pid, a.application_name, a.client_addr::text AS client, a.state,
                      now() - a.xact_start AS open_for
               FROM pg_locks l JOIN pg_stat_activity a USING (pid)
               WHERE l.locktype = 'advisory' AND l.granted AND l.objid = $1::bigint::oid
                 AND a.pid <> pg_backend_pid() LIMIT 1""",
            self._lock_key & 0xFFFFFFFF,
        )
        log.info("outbox_relay_lock_held_elsewhere", **(dict(holder) if holder else {}))

    async def prune(self, limit: int = 5000) -> int:
        """Delete rows published more than `keep_published_s` ago. The topic is the record of what
        was published; old rows would only keep payloads (names, addresses, sealed secrets) in one
        more place."""
        return int((await self.pool.execute(PRUNE, self.keep_published_s, limit)).split()[-1])

    async def backlog(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")

    async def set_aside(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM outbox_dead")

    async def stalled(self, backlog: int) -> str | None:
        """Why the relay is not keeping up, or None: no progress for `stall_after` seconds with rows waiting."""
        idle = time.monotonic() - self.progressed_at
        if backlog == 0 or idle < self.stall_after:
            return None
        why = f"; last error: {self.last_error}" if self.last_error else ""
        return (f"outbox relay has not advanced for {idle:.0f}s with {backlog} rows waiting{why} "
                f"(see outbox_relay_failed and outbox_relay_lock_held_elsewhere in the log)")

    async def run(self) -> None:
        backoff = Backoff(0.1, self.max_delay)
        gauge_at = 0.0
        while True:
            self._wake.clear()
            # Bounded, so a connection that died mid-query cannot stall the relay for good; a
            # broker or database away, or not letting us in, keeps the rows.
            published = await backoff.retrying(lambda: asyncio.wait_for(self.publish_pending(), self.pass_timeout),
                                               log=log, event="outbox_relay_failed", on_error=self._failed_pass)
            self.last_error = ""
            if time.monotonic() - gauge_at > 5:
                gauge_at = time.monotonic()
                metrics.OUTBOX_BACKLOG.labels(self.service).set(await self.backlog())
            if self.leader and time.monotonic() - self._pruned_at > min(60.0, max(1.0, self.keep_published_s / 2)):
                self._pruned_at = time.monotonic()
                try:
                    if pruned := await self.prune():
                        log.info("outbox_pruned", rows=pruned)
                    if self.keep_inbox_s is not None and (pruned := await inbox.prune(self.pool, self.keep_inbox_s)):
                        log.info("inbox_pruned", rows=pruned)
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("outbox_prune_failed", error=repr(exc))
            if published >= self.batch:
                continue
            try:
                # NOTIFY wakes it on every commit that staged rows; the poll covers a lost
                # notification and, for a relay without the lock, the lock becoming free.
                await asyncio.wait_for(self._wake.wait(), self.idle_poll if self.leader else 1.0)
            except TimeoutError:
                continue
            if self.gather_s:
                # Commits come in runs under load: one pass for a run costs two statements and
                # one produce request instead of that many per commit.
                await asyncio.sleep(self.gather_s)

    def _failed_pass(self, exc: Exception) -> None:
        self.last_error = repr(exc)[:300]
        self._drop_connection()  # its state is unknown after a failure mid-pass

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.terminate()  # the server frees the lock as the session ends
        self._conn, self.leader = None, False

    async def close(self) -> None:
        self._drop_connection()

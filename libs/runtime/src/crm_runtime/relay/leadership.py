"""Which replica's relay publishes: the one holding the database's advisory lock for the service,
on a connection of its own that also LISTENs for the NOTIFY of each commit that staged rows.

Each NOTIFY names the ids its transaction staged, and PostgreSQL delivers them in commit order, so
on one connection they are a log of the commits since it began listening. `fresh` says that log
has a beginning the relay has not seen (a new connection, the lock just taken): the table must be
read whole once."""

from __future__ import annotations

import asyncio
import time
import zlib

import asyncpg

from .. import logs
from ..db import SERVER_SETTINGS
from ..outbox import channel_of

log = logs.get(__name__)


class Leadership:
    """Should the relay's client vanish, the server's TCP keepalives (see `db.SERVER_SETTINGS`) end
    its session, and so free the lock, within about half a minute; a relay that finds the lock
    taken says by whom, every 30 s, in the log."""

    def __init__(self, service: str, dsn: str) -> None:
        self.service, self.dsn = service, dsn
        self.wake = asyncio.Event()  # set by each commit's NOTIFY
        self.leader = False
        self.fresh = True
        self.notified: list[str] = []  # the NOTIFYs' payloads, in commit order
        self._lock_key = zlib.crc32(f"outbox:{service}".encode())
        self._conn: asyncpg.Connection | None = None
        self._lock_logged_at = 0.0

    async def connection(self) -> asyncpg.Connection | None:
        """The relay's connection if it holds the lock, else None (another process publishes)."""
        if self._conn is None or self._conn.is_closed():
            self.leader = False
            self._conn = await asyncpg.connect(self.dsn, timeout=5, server_settings=dict(SERVER_SETTINGS))
            await self._conn.add_listener(channel_of(self.service), self._notify)
        if not self.leader:
            self.notified.clear()  # another relay publishes them
            self.leader = bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key))
            if not self.leader:
                await self._held_elsewhere(self._conn)
                return None
            self.fresh = True
        return self._conn

    def _notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.notified.append(payload)
        self.wake.set()

    def take_notified(self) -> list[str]:
        taken, self.notified = self.notified, []
        return taken

    async def _held_elsewhere(self, conn: asyncpg.Connection) -> None:
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

    def drop(self) -> None:
        """Let go of the connection (its state is unknown after a failure): the server frees the
        lock as the session ends."""
        if self._conn is not None:
            self._conn.terminate()
        self._conn, self.leader, self.fresh = None, False, True
        self.notified.clear()

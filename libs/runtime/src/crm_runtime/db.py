"""PostgreSQL: the pool, and numbered SQL migrations applied once per database."""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

from . import logs

log = logs.get(__name__)

_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every process migrating one database.
_MIGRATION_LOCK = 0x43524D5F4D4947


# Server-side limits, so that what goes wrong ends with a SQLSTATE the runtime knows to be
# transient (57014, 55P03) instead of a client-side timeout, and a session whose client vanished
# (a half-open connection) is ended by the server in well under a minute instead of holding
# its locks for the hours TCP takes to notice.
SERVER_SETTINGS = {
    "statement_timeout": "30s",
    "lock_timeout": "20s",
    "idle_in_transaction_session_timeout": "60s",
    "tcp_keepalives_idle": "15",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pooled connections carry no session state to undo (locks are transaction-level; LISTEN and
    session locks live on dedicated connections), so asyncpg's reset round trip on every release
    is skipped."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, name: str = "crm") -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, timeout=10,
                                     command_timeout=60, reset=_keep_session,
                                     server_settings={**SERVER_SETTINGS, "application_name": name})


def migrations_of(package: str) -> Traversable:
    return resources.files(package) / "migrations"


def _numbered(folder: Traversable) -> list[tuple[int, str, str]]:
    found = []
    for entry in folder.iterdir():
        m = _MIGRATION.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text()))
    return sorted(found)


def _has_statements(sql: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in sql.splitlines())


async def migrate(conn: asyncpg.Connection, sets: list[tuple[str, Traversable]]) -> list[str]:
    """Apply each (namespace, folder)'s migrations not applied yet, in order; returns their names.

    Replicas starting together serialise on an advisory lock, so each file runs exactly once.
    """
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   namespace text NOT NULL,
                   version int NOT NULL,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (namespace, version))"""
        )
        for namespace, folder in sets:
            done = {r["version"] for r in await conn.fetch(
                "SELECT version FROM schema_migrations WHERE namespace = $1", namespace)}
            for version, name, sql in _numbered(folder):
                if version in done:
                    continue
                if _has_statements(sql):  # asyncpg fails on a script of comments only
                    await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (namespace, version, name) VALUES ($1, $2, $3)",
                    namespace, version, name,
                )
                applied_now.append(f"{namespace}/{name}")
    if applied_now:
        log.info("migrations_applied", migrations=applied_now)
    return applied_now

"""A throwaway PostgreSQL database for tests: created, migrated, handed over as a pool, dropped."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from importlib.resources.abc import Traversable

import asyncpg

from crm_runtime import db

from crm_devstack.stack import Stack


@contextlib.asynccontextmanager
async def scratch_database(stack: Stack, prefix: str, migrations: Sequence[tuple[str, Traversable]] = (),
                           *, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """A new database `<prefix>_<random>` with the runtime's migrations and `migrations` applied."""
    admin = await asyncpg.connect(stack.admin_url)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    pool = None
    try:
        pool = await db.create_pool(stack.admin_url.rsplit("/", 1)[0] + "/" + name, max_size=max_size)
        async with pool.acquire() as conn:
            await db.migrate(conn, [("runtime", db.migrations_of("crm_runtime")), *migrations])
        yield pool
    finally:
        if pool is not None:
            await pool.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def seq_scans(conn: asyncpg.Connection | asyncpg.Pool, sql: str, *args) -> set[str]:
    """The tables `sql` would read whole (its plan's sequential scans), found with EXPLAIN — the
    statement is planned, not run."""
    plan = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("Node Type") == "Seq Scan":
                found.add(node["Relation Name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan)
    return found

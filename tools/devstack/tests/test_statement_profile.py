"""The bench's statement profile reads PostgreSQL's own per-statement figures, which the stack's
server must load, and gives them per command of the flow."""

import asyncpg
import pytest

from crm_devstack.bench.profiles import statement_profile

pytestmark = pytest.mark.stack


async def test_statements_of_a_service_database_are_counted_per_command(stack, tmp_path):
    commands, runs = 4, 10
    conn = await asyncpg.connect(stack.database_url("seats"))
    try:
        async with statement_profile(stack, "probe", commands, tmp_path) as path:
            for i in range(runs):
                await conn.fetchval("SELECT $1::int + 1 AS profiled_probe", i)
    finally:
        await conn.close()
    assert path is not None, "pg_stat_statements is not loaded by the stack's PostgreSQL"
    lines = [line.split() for line in path.read_text().splitlines() if "profiled_probe" in line]
    assert len(lines) == 1
    ms, share, calls, rows, database = lines[0][:5]
    assert database == "crm_seats"
    assert float(calls) == runs / commands and float(rows) == runs / commands
    assert float(ms) > 0 and share.endswith("%")

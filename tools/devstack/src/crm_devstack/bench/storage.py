"""What a stretch of load wrote: each service database's commits and rows written (from
`pg_stat_database`), and the bytes added to the Kafka logs on disk (every replica on every broker
counted, so a three-broker cluster shows replication's cost). `docs/scaling.md` sizes PostgreSQL
and the brokers from these, per command."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import asyncpg

from ..stack import SERVICES, Stack

# PostgreSQL publishes a backend's counters at most once a second after its transactions end.
STATS_FLUSH_S = 1.2


@dataclass(frozen=True)
class Written:
    databases: dict[str, tuple[int, int]]  # service -> (commits, rows inserted + updated + deleted)
    kafka_bytes: int

    def per_command(self, before: Written, commands: int) -> dict:
        return {
            "postgres": {s: {"commits": round((c - before.databases[s][0]) / commands, 2),
                             "rows_written": round((r - before.databases[s][1]) / commands, 2)}
                         for s, (c, r) in self.databases.items() if s in before.databases},
            "kafka_log_bytes": round((self.kafka_bytes - before.kafka_bytes) / commands),
        }


def kafka_log_bytes(stack: Stack) -> int:
    """Bytes of the partition logs of the contract's topics on every node (the cluster's own
    metadata log and consumer offsets left out)."""
    total = 0
    for node in stack.nodes:
        data = stack.run / stack.kafka_name(node) / "data"
        for segment in data.glob("*-[0-9]*/*.log") if data.exists() else ():
            if not segment.parent.name.startswith("__"):
                with contextlib.suppress(OSError):  # a segment deleted by retention while we looked
                    total += segment.stat().st_size
    return total


async def read_written(stack: Stack, *, flushed: bool = True) -> Written:
    if flushed:
        await asyncio.sleep(STATS_FLUSH_S)
    conn = await asyncpg.connect(stack.admin_url)
    try:
        rows = await conn.fetch("""SELECT datname, xact_commit, tup_inserted + tup_updated + tup_deleted AS written
                                   FROM pg_stat_database WHERE datname = ANY($1::text[])""",
                                [f"crm_{s}" for s in SERVICES])
    finally:
        await conn.close()
    return Written({r["datname"].removeprefix("crm_"): (r["xact_commit"], r["written"]) for r in rows},
                   kafka_log_bytes(stack))

"""An instance's lead organisation: its pipeline, sources and segments, and leads' stages and tags."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from .common import _j

async def seed_organisation(conn: asyncpg.Connection, instance_id: str, stages: list[tuple[str, str]],
                            sources: list[str]) -> None:
    """A new instance's default pipeline and sources; an instance that has its own keeps them."""
    await conn.execute(
        """WITH s AS (INSERT INTO pipeline_stages (instance_id, stage_id, name, position)
                      SELECT $1, id, name, n FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t (id, name, n)
                      WHERE NOT EXISTS (SELECT 1 FROM pipeline_stages WHERE instance_id = $1)
                      ON CONFLICT DO NOTHING)
           INSERT INTO lead_sources (instance_id, source, position)
           SELECT $1, src, n FROM unnest($4::text[]) WITH ORDINALITY AS t (src, n)
           WHERE NOT EXISTS (SELECT 1 FROM lead_sources WHERE instance_id = $1)
           ON CONFLICT DO NOTHING""",
        instance_id, [s[0] for s in stages], [s[1] for s in stages], sources)


async def actor(conn: asyncpg.Connection, instance_id: str, user_id: str) -> asyncpg.Record | None:
    """The instance (kind, owner) and the user's role in it and standing in its account."""
    return await conn.fetchrow(
        """SELECT i.instance_id, i.account_id, i.kind, i.owner_user_id, i.read_only_until, m.role, s.status,
                  coalesce(s.administers, false) AS administers
           FROM instances i LEFT JOIN members m ON m.instance_id = i.instance_id AND m.user_id = $2
           LEFT JOIN statuses s ON s.account_id = i.account_id AND s.user_id = $2
           WHERE i.instance_id = $1""", instance_id, user_id)


async def pipeline(conn: asyncpg.Connection, instance_id: str) -> list[dict]:
    rows = await conn.fetch(
        """SELECT p.stage_id, p.name, (SELECT count(*) FROM leads l WHERE l.instance_id = p.instance_id
                                                                   AND l.stage_id = p.stage_id) AS leads
           FROM pipeline_stages p WHERE p.instance_id = $1 ORDER BY p.position""", instance_id)
    return [dict(r) for r in rows]


async def replace_pipeline(conn: asyncpg.Connection, instance_id: str, stages: list[tuple[str, str]],
                           moves: dict[str, str]) -> dict[str, int] | list[tuple[str, int]]:
    """Make `stages` the pipeline. Returns the leads moved per removed stage, or — nothing changed —
    the removed stages that still have leads and no stage to move them to.

    Takes the instance's rotation rows first, as every capture into it does, so a lead captured
    meanwhile lands in a stage that still exists; removing a stage row waits for a lead being moved
    into it, so no lead is left in a removed stage."""
    await conn.execute("SELECT 1 FROM rotation WHERE instance_id = $1 FOR UPDATE", instance_id)
    ids = [s[0] for s in stages]
    removed = [r["stage_id"] for r in await conn.fetch(
        "DELETE FROM pipeline_stages WHERE instance_id = $1 AND NOT stage_id = ANY($2::text[]) RETURNING stage_id",
        instance_id, ids)]
    counts = dict(await conn.fetch(
        """SELECT stage_id, count(*) FROM leads WHERE instance_id = $1 AND stage_id = ANY($2::text[])
           GROUP BY stage_id""", instance_id, removed)) if removed else {}
    stuck = [(stage, n) for stage, n in sorted(counts.items()) if stage not in moves]
    if stuck:
        return stuck
    for stage in counts:
        await conn.execute("UPDATE leads SET stage_id = $3, updated_at = now() WHERE instance_id = $1 AND stage_id = $2",
                           instance_id, stage, moves[stage])
    await conn.execute(
        """INSERT INTO pipeline_stages (instance_id, stage_id, name, position)
           SELECT $1, id, name, n FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t (id, name, n)
           ON CONFLICT (instance_id, stage_id) DO UPDATE SET name = EXCLUDED.name, position = EXCLUDED.position""",
        instance_id, ids, [s[1] for s in stages])
    return counts


async def stage_exists(conn: asyncpg.Connection, instance_id: str, stage_id: str) -> bool:
    """FOR SHARE: a pipeline change removing the stage waits until this transaction ends."""
    return bool(await conn.fetchval(
        "SELECT true FROM pipeline_stages WHERE instance_id = $1 AND stage_id = $2 FOR SHARE", instance_id, stage_id))


async def set_stage(conn: asyncpg.Connection, lead_id: str, stage_id: str) -> None:
    await conn.execute("UPDATE leads SET stage_id = $2, updated_at = now() WHERE lead_id = $1", lead_id, stage_id)


async def set_tags(conn: asyncpg.Connection, lead_id: str, tags: list[str]) -> None:
    await conn.execute("UPDATE leads SET tags = $2, updated_at = now() WHERE lead_id = $1", lead_id, tags)


async def update_contact(conn: asyncpg.Connection, lead_id: str, contact: dict[str, str]) -> None:
    await conn.execute("UPDATE leads SET lead = lead || $2::jsonb, updated_at = now() WHERE lead_id = $1",
                       lead_id, json.dumps(contact))


async def sources(conn: asyncpg.Connection, instance_id: str) -> list[str]:
    return [r["source"] for r in await conn.fetch(
        "SELECT source FROM lead_sources WHERE instance_id = $1 ORDER BY position", instance_id)]


async def replace_sources(conn: asyncpg.Connection, instance_id: str, listed: list[str]) -> None:
    await conn.execute(
        """WITH gone AS (DELETE FROM lead_sources WHERE instance_id = $1)
           INSERT INTO lead_sources (instance_id, source, position)
           SELECT $1, src, n FROM unnest($2::text[]) WITH ORDINALITY AS t (src, n)
           ON CONFLICT (instance_id, source) DO UPDATE SET position = EXCLUDED.position""", instance_id, listed)


async def segments(conn: asyncpg.Connection, instance_id: str) -> list[dict]:
    rows = await conn.fetch("SELECT segment_id, name, filter::text, updated_at FROM segments WHERE instance_id = $1 "
                            "ORDER BY segment_id", instance_id)
    return [{**dict(r), "filter": json.loads(r["filter"])} for r in rows]


async def segment(conn: asyncpg.Connection, instance_id: str, segment_id: str) -> dict | None:
    row = await conn.fetchrow("SELECT segment_id, name, filter::text FROM segments WHERE instance_id = $1 "
                              "AND segment_id = $2", instance_id, segment_id)
    return {**dict(row), "filter": json.loads(row["filter"])} if row else None


async def save_segment(conn: asyncpg.Connection, instance_id: str, segment_id: str, name: str,
                       filter_: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO segments (instance_id, segment_id, name, filter) VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (instance_id, segment_id)
           DO UPDATE SET name = EXCLUDED.name, filter = EXCLUDED.filter, updated_at = now()""",
        instance_id, segment_id, name, _j(filter_))


async def remove_segment(conn: asyncpg.Connection, instance_id: str, segment_id: str) -> bool:
    return bool(await conn.fetchval("DELETE FROM segments WHERE instance_id = $1 AND segment_id = $2 RETURNING true",
                                    instance_id, segment_id))


# Each condition of a segment's filter, as SQL over `leads l` taking one parameter.
_CONDITIONS = {
    "stages": "l.stage_id = ANY({}::text[])",
    "sources": "l.source = ANY({}::text[])",
    "tags_any": "l.tags && {}::text[]",
    "tags_all": "l.tags @> {}::text[]",
    "assignees": "l.user_id = ANY({}::text[])",
    "price_min": "(l.lead ->> 'price')::numeric >= {}",
    "price_max": "(l.lead ->> 'price')::numeric <= {}",
    "captured_from": "l.captured_at >= {}::timestamptz",
    "captured_before": "l.captured_at < {}::timestamptz",
}


async def open_lead(conn: asyncpg.Connection, instance_id: str, lead_id: str) -> dict | None:
    """The lead if it is in this instance (another instance's is as unknown as none)."""
    row = await conn.fetchrow(
        f"SELECT {_LEAD_COLUMNS} FROM leads l WHERE l.lead_id = $1 AND l.instance_id = $2", lead_id, instance_id)
    return {**dict(row), "lead": json.loads(row["lead"])} if row else None


_LEAD_COLUMNS = "l.lead_id, l.stage_id, l.source, l.tags, l.user_id, l.state, l.lead::text, l.captured_at"


async def segment_leads(conn: asyncpg.Connection, instance_id: str, filter_: dict[str, Any], *,
                        after: tuple[datetime, str] | None, limit: int) -> list[dict]:
    """The instance's leads the filter matches, newest first, after the keyset `after`."""
    where, args = ["l.instance_id = $1"], list[Any]([instance_id])
    for name, value in filter_.items():
        if value is None or name not in _CONDITIONS:
            continue
        args.append(datetime.fromisoformat(value) if name.startswith("captured_") and isinstance(value, str)
                    else value)
        where.append(_CONDITIONS[name].format(f"${len(args)}"))
    if after is not None:
        args += [after[0], after[1]]
        where.append(f"(l.captured_at, l.lead_id) < (${len(args) - 1}::timestamptz, ${len(args)})")
    args.append(limit)
    rows = await conn.fetch(
        f"""SELECT {_LEAD_COLUMNS}
            FROM leads l WHERE {' AND '.join(where)} ORDER BY l.captured_at DESC, l.lead_id DESC LIMIT ${len(args)}""",
        *args)
    return [{**dict(r), "lead": json.loads(r["lead"])} for r in rows]

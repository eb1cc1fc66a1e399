"""Rules, rotation, leads, their log and claim timers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from crm_contracts import type_of

from ..domain.capture import NewLead, RoutingContext
from ..domain.router import Member
from .common import _decoded, _j


# --- rules and rotation ---------------------------------------------------------------------


async def latest_rules(conn: asyncpg.Connection, instance_id: str) -> dict | None:
    return _decoded(await conn.fetchrow("SELECT version, rules FROM rule_sets WHERE instance_id = $1 "
                                        "ORDER BY version DESC LIMIT 1", instance_id), "rules")


async def rules_version(conn: asyncpg.Connection, instance_id: str, version: int) -> dict | None:
    return _decoded(await conn.fetchrow("SELECT version, rules FROM rule_sets WHERE instance_id = $1 AND version = $2",
                                        instance_id, version), "rules")


async def insert_rules(conn: asyncpg.Connection, instance_id: str, version: int, rules: list[dict[str, Any]],
                       set_by: str | None = None, rolled_back_from: int | None = None) -> None:
    await conn.execute("INSERT INTO rule_sets (instance_id, version, rules, set_by, rolled_back_from) "
                       "VALUES ($1, $2, $3::jsonb, $4, $5)", instance_id, version, _j(rules), set_by, rolled_back_from)


async def rule_versions(conn: asyncpg.Connection, instance_id: str, *, newest_only: bool = False) -> list[dict]:
    """Every version of the instance's rules, oldest first (or only the newest), with who set it and when."""
    rows = await conn.fetch("SELECT * FROM (SELECT version, rules::text, set_at, set_by, rolled_back_from "
                            "FROM rule_sets WHERE instance_id = $1 ORDER BY version DESC LIMIT $2) v ORDER BY version",
                            instance_id, 1 if newest_only else None)
    return [{**dict(r), "rules": json.loads(r["rules"])} for r in rows]


async def lock_rotation(conn: asyncpg.Connection, instance_id: str) -> dict[str, dict[str, Any]]:
    """Every rotation state of the instance, locked: replicas routing the same instance take turns."""
    rows = await conn.fetch("SELECT key, state FROM rotation WHERE instance_id = $1 FOR UPDATE", instance_id)
    return {r["key"]: json.loads(r["state"]) for r in rows}


async def seed_rotation(conn: asyncpg.Connection, instance_id: str, keys: list[str]) -> None:
    """Rotation rows exist before the first lead, so that the first leads' transactions already
    take turns on them (a row lock cannot wait on a row nobody has written yet)."""
    await conn.execute(
        """INSERT INTO rotation (instance_id, key, state) SELECT $1, k, '{}'::jsonb FROM unnest($2::text[]) AS k
           ON CONFLICT (instance_id, key) DO NOTHING""", instance_id, keys)


async def save_rotation(conn: asyncpg.Connection, instance_id: str, key: str, state: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO rotation (instance_id, key, state) VALUES ($1, $2, $3::jsonb)
           ON CONFLICT (instance_id, key) DO UPDATE SET state = EXCLUDED.state""", instance_id, key, _j(state))


# --- leads ----------------------------------------------------------------------------------


async def insert_lead(conn: asyncpg.Connection, lead_id: str, instance_id: str, account_id: str, channel: str,
                      lead: dict[str, Any]) -> bool:
    """False when the lead id was seen before."""
    return bool(await conn.fetchval(
        """INSERT INTO leads (lead_id, instance_id, account_id, channel, lead, state)
           VALUES ($1, $2, $3, $4, $5::jsonb, 'pooled') ON CONFLICT (lead_id) DO NOTHING RETURNING true""",
        lead_id, instance_id, account_id, channel, _j(lead)))


async def lock_lead(conn: asyncpg.Connection, lead_id: str) -> dict | None:
    return _decoded(await conn.fetchrow("SELECT * FROM leads WHERE lead_id = $1 FOR UPDATE", lead_id), "lead")


async def save_lead(conn: asyncpg.Connection, lead_id: str, *, instance_id: str, state: str, user_id: str | None,
                    offered_to: list[str], tried: list[str], rule_id: str | None, step: int | None,
                    rules_version: int | None) -> None:
    # A lead moved to another instance starts its pipeline there, with the tags it was captured
    # with: nothing of one instance's organisation follows it into another.
    await conn.execute(
        """UPDATE leads SET instance_id = $2, state = $3, user_id = $4, offered_to = $5, tried = $6, rule_id = $7,
                  step = $8, rules_version = $9, updated_at = now(),
                  stage_id = CASE WHEN instance_id = $2 THEN stage_id ELSE (
                      SELECT p.stage_id FROM pipeline_stages p WHERE p.instance_id = $2 ORDER BY p.position LIMIT 1) END,
                  tags = CASE WHEN instance_id = $2 THEN tags ELSE ARRAY(
                      SELECT jsonb_array_elements_text(coalesce(lead -> 'tags', '[]'::jsonb))) END
           WHERE lead_id = $1""",
        lead_id, instance_id, state, user_id, offered_to, tried, rule_id, step, rules_version)


async def log(conn: asyncpg.Connection, lead_id: str, instance_id: str, type_: str, data: dict[str, Any]) -> None:
    await conn.execute("INSERT INTO lead_log (lead_id, instance_id, type, data) VALUES ($1, $2, $3, $4::jsonb)",
                       lead_id, instance_id, type_, _j(data))


async def set_timer(conn: asyncpg.Connection, timer_id: str, lead_id: str, due_at: datetime) -> None:
    await conn.execute(
        """INSERT INTO timers (timer_id, lead_id, due_at) VALUES ($1, $2, $3)
           ON CONFLICT (lead_id) DO UPDATE SET timer_id = EXCLUDED.timer_id, due_at = EXCLUDED.due_at""",
        timer_id, lead_id, due_at)


async def take_timer(conn: asyncpg.Connection, lead_id: str, timer_id: str | None = None) -> bool:
    """Remove the lead's timer (only if it is `timer_id`, when given); whether there was one."""
    return bool(await conn.fetchval(
        "DELETE FROM timers WHERE lead_id = $1 AND ($2::text IS NULL OR timer_id = $2) RETURNING true",
        lead_id, timer_id))


async def due_timers(conn: asyncpg.Connection, at: datetime, limit: int = 200,
                     per_instance: int = 20) -> list[asyncpg.Record]:
    """The oldest due timers, at most `per_instance` of any one instance per pass, so an instance
    with many due timers never holds back another's."""
    return await conn.fetch(
        """SELECT timer_id, lead_id, account_id, instance_id FROM (
               SELECT t.timer_id, t.lead_id, t.due_at, l.account_id, l.instance_id,
                      row_number() OVER (PARTITION BY l.instance_id ORDER BY t.due_at) AS nth
               FROM timers t JOIN leads l USING (lead_id) WHERE t.due_at <= $3) due
           WHERE nth <= $2 ORDER BY due_at LIMIT $1""", limit, per_instance, at)


async def lead_with_history(conn: asyncpg.Connection, lead_id: str) -> dict | None:
    lead = await conn.fetchrow("SELECT * FROM leads WHERE lead_id = $1", lead_id)
    if lead is None:
        return None
    history = await conn.fetch("SELECT type, instance_id, data, at FROM lead_log WHERE lead_id = $1 ORDER BY id",
                               lead_id)
    timer = await conn.fetchrow("SELECT timer_id, due_at FROM timers WHERE lead_id = $1", lead_id)
    return {"lead": _decoded(lead, "lead"), "timer": dict(timer) if timer else None,
            "history": [_decoded(h, "data") for h in history]}


async def leads_of(conn: asyncpg.Connection, instance_id: str, limit: int = 500) -> list[dict]:
    rows = await conn.fetch(
        """SELECT lead_id, channel, state, user_id, offered_to, rule_id, rules_version, stage_id, source, tags,
                  captured_at, updated_at
           FROM leads WHERE instance_id = $1 ORDER BY captured_at DESC LIMIT $2""", instance_id, limit)
    return [dict(r) for r in rows]


# --- the capture hot path: two statements a lead ---------------------------------------------


async def routing_context(conn: asyncpg.Connection, instance_id: str, lead_id: str, *,
                          lock: bool = True) -> RoutingContext | None:
    """The instance, its latest rules, its roster (status and pause of each member), its rotation
    state locked for this transaction (read without the lock for a dry run), and whether the lead
    id was seen before, in one round trip. None when there is no such instance."""
    row = await conn.fetchrow(
        (ROUTING_CONTEXT if lock else ROUTING_CONTEXT.replace(" FOR UPDATE", "", 1)), instance_id, lead_id)
    if row is None:
        return None
    return RoutingContext(
        instance_id=row["instance_id"], account_id=row["account_id"], kind=row["kind"],
        owner_user_id=row["owner_user_id"], routing=row["routing"], read_only_until=row["read_only_until"],
        rules_version=row["rules_version"], rules=json.loads(row["rules"]) if row["rules"] else None,
        roster={u: Member(u, status, paused) for u, status, paused in json.loads(row["roster"])},
        rotation=json.loads(row["rotation"]), seen=row["seen"],
        business_hours=json.loads(row["business_hours"]) if row["business_hours"] else None)


async def business_hours(conn: asyncpg.Connection, instance_id: str) -> dict | None:
    raw = await conn.fetchval("SELECT hours::text FROM business_hours WHERE instance_id = $1", instance_id)
    return json.loads(raw) if raw else None


async def set_business_hours(conn: asyncpg.Connection, instance_id: str, hours: dict) -> None:
    await conn.execute("""INSERT INTO business_hours (instance_id, hours) VALUES ($1, $2::jsonb)
                          ON CONFLICT (instance_id) DO UPDATE SET hours = EXCLUDED.hours""", instance_id, _j(hours))


ROUTING_CONTEXT = (
        """WITH rot AS (SELECT key, state FROM rotation WHERE instance_id = $1 FOR UPDATE),
                latest AS (SELECT version, rules FROM rule_sets WHERE instance_id = $1 ORDER BY version DESC LIMIT 1)
           SELECT i.instance_id, i.account_id, i.kind, i.owner_user_id, i.routing, i.read_only_until,
                  (SELECT version FROM latest) AS rules_version, (SELECT rules::text FROM latest) AS rules,
                  (SELECT coalesce(json_agg(json_build_array(m.user_id, s.status, p.user_id IS NOT NULL)), '[]')::text
                   FROM members m LEFT JOIN statuses s ON s.account_id = i.account_id AND s.user_id = m.user_id
                   LEFT JOIN paused p ON p.instance_id = m.instance_id AND p.user_id = m.user_id
                   WHERE m.instance_id = i.instance_id) AS roster,
                  (SELECT coalesce(json_object_agg(key, state), '{}')::text FROM rot) AS rotation,
                  EXISTS (SELECT 1 FROM leads WHERE lead_id = $2) AS seen,
                  (SELECT hours::text FROM business_hours b WHERE b.instance_id = i.instance_id) AS business_hours
           FROM instances i WHERE i.instance_id = $1""")


async def record_new_lead(conn: asyncpg.Connection, new: NewLead) -> bool:
    """The lead with its decision, rotation state, timer and log line, in one statement; False
    (nothing written) when the lead id exists already. The lead starts in the first stage of its
    instance's pipeline, with its own source if the instance lists it, else its channel."""
    decision, outcome, lead = new.decision, new.outcome, new.captured
    return bool(await conn.fetchval(
        """WITH l AS (
               INSERT INTO leads (lead_id, instance_id, account_id, channel, lead, state, user_id, offered_to, tried,
                                  rule_id, step, rules_version, stage_id, source, tags)
               VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, CASE WHEN $7::text IS NULL THEN '{}'::text[]
                       ELSE ARRAY[$7::text] END, $9, $10, $11,
                       (SELECT stage_id FROM pipeline_stages WHERE instance_id = $2 ORDER BY position LIMIT 1),
                       CASE WHEN EXISTS (SELECT 1 FROM lead_sources WHERE instance_id = $2 AND source = $18)
                            THEN $18 ELSE $4 END,
                       $19::text[])
               ON CONFLICT (lead_id) DO NOTHING RETURNING lead_id),
           r AS (INSERT INTO rotation (instance_id, key, state) SELECT $2, $12, $13::jsonb FROM l WHERE $12::text IS NOT NULL
                 ON CONFLICT (instance_id, key) DO UPDATE SET state = EXCLUDED.state),
           t AS (INSERT INTO timers (timer_id, lead_id, due_at) SELECT $14, lead_id, $15 FROM l WHERE $14::text IS NOT NULL),
           g AS (INSERT INTO lead_log (lead_id, instance_id, type, data) SELECT lead_id, $2, $16, $17::jsonb FROM l)
           SELECT count(*) = 1 FROM l""",
        new.lead_id, new.instance_id, new.account_id, new.channel, _j(lead), outcome.state, outcome.user_id,
        outcome.offered_to, decision.rule_id, decision.step, new.rules_version, decision.state_key,
        _j(decision.state) if decision.state is not None else None,
        new.timer.timer_id if new.timer else None, new.timer.due_at if new.timer else None,
        type_of(outcome.event), _j(outcome.event.model_dump(mode="json")), lead.get("source"), lead.get("tags") or []))

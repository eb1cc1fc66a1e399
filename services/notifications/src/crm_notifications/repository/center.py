"""Sessions, the notification center, unread counts and pushes."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import asyncpg

from crm_contracts import CloudEvent

from ..domain.push import Session


async def set_session(conn: asyncpg.Connection, user_id: str, device_id: str, device: str, instance_id: str) -> None:
    await conn.execute(
        """INSERT INTO sessions (user_id, device_id, device, instance_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (user_id, device_id) DO UPDATE SET device = EXCLUDED.device,
               instance_id = EXCLUDED.instance_id, updated_at = now()""",
        user_id, device_id, device, instance_id)


@dataclass(frozen=True)
class Filed:
    """A notification just filed, with what its pushes and the unread event need."""
    notification_id: str
    instance_name: str
    sessions: list[Session]
    unread: dict[str, int]  # the user's unread per instance, this notification counted


async def file_notification(conn: asyncpg.Connection, *, notification_id: str, account_id: str, user_id: str,
                            instance_id: str, kind: str, title: str, body: str, cause: CloudEvent,
                            path: str = "/notifications") -> Filed:
    """File a notification and count it unread, and read the instance's name, the user's sessions
    and unread counts — one statement, one round trip (a lead's notification is on the hot path).
    The reads see the statement's snapshot, from before the insert: the new notification is added
    to its instance's count here."""
    row = await conn.fetchrow(
        """WITH filed AS (
               INSERT INTO notifications (notification_id, account_id, user_id, instance_id, kind, title, body,
                                          cause_event_id, path) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)),
           counted AS (
               INSERT INTO unread_counts (user_id, instance_id, unread) VALUES ($3, $4, 1)
               ON CONFLICT (user_id, instance_id) DO UPDATE SET unread = unread_counts.unread + 1)
           SELECT (SELECT name FROM instances WHERE instance_id = $4) AS instance_name,
                  (SELECT coalesce(json_agg(json_build_object('device_id', device_id, 'device', device,
                                                              'instance_id', instance_id) ORDER BY device_id), '[]')
                   FROM sessions WHERE user_id = $3)::text AS sessions,
                  (SELECT coalesce(json_object_agg(c.instance_id, c.unread), '{}')
                   FROM (""" + UNREAD_COUNTS.replace("$1", "$3") + """) c)::text AS unread""",
        notification_id, account_id, user_id, instance_id, kind, title, body, cause.id, path)
    unread = json.loads(row["unread"])
    unread[instance_id] = unread.get(instance_id, 0) + 1
    return Filed(notification_id, row["instance_name"] or instance_id,
                 [Session(**s) for s in json.loads(row["sessions"])], dict(sorted(unread.items())))


async def queue_pushes(conn: asyncpg.Connection, filed: Filed, sessions: list[Session], *, user_id: str,
                       instance_id: str, title: str, body: str, cause: CloudEvent, path: str) -> None:
    """One push per session, in one statement, each with where it leads and the instance the
    device was in."""
    if not sessions:
        return
    await conn.execute(
        """INSERT INTO pushes (push_id, notification_id, user_id, device_id, device, instance_id, instance_name,
                               title, body, cause, path, device_instance_id)
           SELECT p.push_id, $2, $3, p.device_id, p.device, $4, $5, $6, $7, $8, $11, p.device_instance_id
           FROM unnest($1::text[], $9::text[], $10::text[], $12::text[]) AS p (push_id, device_id, device,
                                                                              device_instance_id)""",
        # Named by the notification and the device: a replay of the same message files the same pushes.
        ["psh_" + uuid.uuid5(uuid.NAMESPACE_OID, f"{filed.notification_id}/{s.device_id}").hex for s in sessions],
        filed.notification_id, user_id, instance_id,
        filed.instance_name, title, body, cause.model_dump_json(),
        [s.device_id for s in sessions], [s.device for s in sessions], path, [s.instance_id for s in sessions])


async def session(conn: asyncpg.Connection, user_id: str, device_id: str) -> Session | None:
    row = await conn.fetchrow("SELECT device_id, device, instance_id FROM sessions WHERE user_id = $1 AND device_id = $2",
                              user_id, device_id)
    return Session(**dict(row)) if row else None


async def pending_pushes(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM pushes WHERE status = 'pending' ORDER BY created_at LIMIT $1 "
                            "FOR UPDATE SKIP LOCKED", limit)


async def mark_push_sent(conn: asyncpg.Connection, push_id: str) -> None:
    await conn.execute("UPDATE pushes SET status = 'sent' WHERE push_id = $1", push_id)


async def mark_read(conn: asyncpg.Connection, user_id: str, notification_ids: list[str]) -> int:
    """Mark the user's unread notifications among `notification_ids` read; how many were."""
    return await conn.fetchval(
        """WITH marked AS (
               UPDATE notifications SET read_at = now()
               WHERE user_id = $1 AND notification_id = ANY($2::text[]) AND read_at IS NULL
               RETURNING instance_id),
           per_instance AS (SELECT instance_id, count(*) AS n FROM marked GROUP BY instance_id),
           counted AS (
               UPDATE unread_counts u SET unread = u.unread - p.n FROM per_instance p
               WHERE u.user_id = $1 AND u.instance_id = p.instance_id)
           SELECT count(*) FROM marked""", user_id, notification_ids)


# From the counts kept as notifications are filed and read (tests EXPLAIN it on 100,000 rows).
UNREAD_COUNTS = """SELECT i.instance_id, coalesce(u.unread, 0) AS unread
                   FROM (SELECT instance_id FROM instance_members WHERE user_id = $1
                         UNION SELECT instance_id FROM unread_counts WHERE user_id = $1) i
                   LEFT JOIN unread_counts u ON u.user_id = $1 AND u.instance_id = i.instance_id
                   ORDER BY i.instance_id"""


async def unread_counts(conn: asyncpg.Connection, user_id: str) -> dict[str, int]:
    """Unread per instance, for every instance the user belongs to or has notifications in."""
    rows = await conn.fetch(UNREAD_COUNTS, user_id)
    return {r["instance_id"]: r["unread"] for r in rows}


async def notification_center(conn: asyncpg.Connection, user_id: str, instance_id: str | None = None,
                              limit: int = 100) -> list[dict]:
    """The user's notifications, newest first (only `instance_id`'s when given), each with its
    `source` (the instance's name) and `destination` (that instance and the path to open)."""
    rows = await conn.fetch(
        """SELECT n.notification_id, n.instance_id, coalesce(i.name, n.instance_id) AS instance_name, n.kind,
                  n.title, n.body, n.cause_event_id, n.read_at IS NOT NULL AS read, n.created_at, n.path
           FROM notifications n LEFT JOIN instances i USING (instance_id)
           WHERE n.user_id = $1 AND ($3::text IS NULL OR n.instance_id = $3)
           ORDER BY n.created_at DESC LIMIT $2""", user_id, limit, instance_id)
    return [{**dict(r), "source": r["instance_name"],
             "destination": {"instance_id": r["instance_id"], "path": r["path"]}} for r in rows]


async def instance_names(conn: asyncpg.Connection, instance_ids: list[str]) -> dict[str, str]:
    rows = await conn.fetch("SELECT instance_id, name FROM instances WHERE instance_id = ANY($1::text[])",
                            instance_ids)
    return {i: n for i, n in rows if n}


async def account_of_notification(conn: asyncpg.Connection, user_id: str, notification_id: str) -> str | None:
    return await conn.fetchval("SELECT account_id FROM notifications WHERE notification_id = $1 AND user_id = $2",
                               notification_id, user_id)


async def account_of_instance(conn: asyncpg.Connection, instance_id: str) -> str | None:
    return await conn.fetchval("SELECT account_id FROM instances WHERE instance_id = $1", instance_id)


async def mark_all_read(conn: asyncpg.Connection, user_id: str, instance_id: str) -> int:
    """Mark every unread notification of the user in the instance read; how many were."""
    ids = [r[0] for r in await conn.fetch(
        "SELECT notification_id FROM notifications WHERE user_id = $1 AND instance_id = $2 AND read_at IS NULL",
        user_id, instance_id)]
    return await mark_read(conn, user_id, ids) if ids else 0


def cause_of(row: asyncpg.Record) -> CloudEvent:
    return CloudEvent.model_validate(json.loads(row["cause"]))


async def deliveries_pending(conn: asyncpg.Connection) -> int:
    """E-mails and pushes not delivered yet, whenever their next attempt is (a lease of a worker
    that died, a retry scheduled for later)."""
    return await conn.fetchval(
        """SELECT (SELECT count(*) FROM emails WHERE status = 'pending')
                + (SELECT count(*) FROM pushes WHERE status = 'pending')""")


async def deliveries_due(conn: asyncpg.Connection) -> int:
    """E-mails and pushes waiting to go out now (not those scheduled for a later retry)."""
    return await conn.fetchval(
        """SELECT (SELECT count(*) FROM emails WHERE status = 'pending' AND next_attempt_at <= now())
                + (SELECT count(*) FROM pushes WHERE status = 'pending')""")

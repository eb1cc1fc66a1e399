"""asyncpg queries for the notifications service's tables."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import asyncpg

from crm_contracts import CloudEvent
from crm_contracts.identity import AccountCreated
from crm_runtime.auth import AccountStanding

from .domain.push import Session
from .domain.templates import DEFAULTS, Template

# --- read models --------------------------------------------------------------------------


async def record_account(conn: asyncpg.Connection, event: AccountCreated) -> None:
    """The account, its enterprise instance and its owner as that instance's member, in one statement."""
    await conn.execute(
        """WITH account AS (
               INSERT INTO accounts (account_id, name, owner_user_id, owner_email, owner_first_name,
                                     enterprise_instance_id) VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (account_id) DO UPDATE SET name = EXCLUDED.name, owner_user_id = EXCLUDED.owner_user_id,
                   owner_email = EXCLUDED.owner_email, owner_first_name = EXCLUDED.owner_first_name,
                   enterprise_instance_id = EXCLUDED.enterprise_instance_id),
           instance AS (
               INSERT INTO instances (instance_id, account_id, name) VALUES ($6, $1, $7)
               ON CONFLICT (instance_id) DO UPDATE SET name = EXCLUDED.name)
           INSERT INTO instance_members (instance_id, user_id) VALUES ($6, $3) ON CONFLICT DO NOTHING""",
        event.account_id, event.name, event.owner_user_id, event.owner_email, event.owner_first_name,
        event.enterprise_instance_id, event.name or event.account_id)


async def record_member(conn: asyncpg.Connection, account_id: str, user_id: str, email: str,
                        first_name: str | None, administers: bool, status: str) -> None:
    await conn.execute(
        """INSERT INTO account_members (account_id, user_id, email, first_name, administers, status)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (account_id, user_id) DO UPDATE SET email = EXCLUDED.email,
               first_name = EXCLUDED.first_name, administers = EXCLUDED.administers, status = EXCLUDED.status""",
        account_id, user_id, email, first_name, administers, status)


async def set_member_status(conn: asyncpg.Connection, account_id: str, user_id: str, status: str) -> None:
    await conn.execute("UPDATE account_members SET status = $3 WHERE account_id = $1 AND user_id = $2",
                       account_id, user_id, status)


async def account_admins(conn: asyncpg.Connection, account_id: str) -> list[asyncpg.Record]:
    """The account's active members who administer it (identity's word, kept from its events)."""
    return await conn.fetch(
        """SELECT user_id, email, first_name FROM account_members
           WHERE account_id = $1 AND status = 'active' AND administers ORDER BY user_id""", account_id)


async def get_account(conn: asyncpg.Connection, account_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM accounts WHERE account_id = $1", account_id)


async def upsert_instance(conn: asyncpg.Connection, instance_id: str, account_id: str, name: str) -> None:
    await conn.execute(
        """INSERT INTO instances (instance_id, account_id, name) VALUES ($1, $2, $3)
           ON CONFLICT (instance_id) DO UPDATE SET name = EXCLUDED.name""",
        instance_id, account_id, name)


async def instance_name(conn: asyncpg.Connection, instance_id: str) -> str:
    return await conn.fetchval("SELECT name FROM instances WHERE instance_id = $1", instance_id) or instance_id


async def instance_member_ids(conn: asyncpg.Connection, instance_id: str) -> list[str]:
    return [r[0] for r in await conn.fetch("SELECT user_id FROM instance_members WHERE instance_id = $1 ORDER BY 1",
                                           instance_id)]


async def add_instance_member(conn: asyncpg.Connection, instance_id: str, user_id: str) -> None:
    await conn.execute("INSERT INTO instance_members (instance_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       instance_id, user_id)


async def remove_instance_member(conn: asyncpg.Connection, instance_id: str, user_id: str) -> None:
    await conn.execute("DELETE FROM instance_members WHERE instance_id = $1 AND user_id = $2", instance_id, user_id)


async def record_upgrade(conn: asyncpg.Connection, causation_id: str, data: dict) -> None:
    await conn.execute("INSERT INTO upgrades (causation_id, data) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       causation_id, json.dumps(data))


async def upgrade_caused_by(conn: asyncpg.Connection, causation_id: str) -> dict | None:
    """The seats.account.upgraded that shares a cause with a charge: the upgrade it pays for."""
    data = await conn.fetchval("SELECT data FROM upgrades WHERE causation_id = $1", causation_id)
    return json.loads(data) if data else None


# --- templates and e-mails ----------------------------------------------------------------


async def template_for(conn: asyncpg.Connection, account_id: str, name: str) -> Template:
    row = await conn.fetchrow("SELECT subject, body FROM templates WHERE account_id = $1 AND template = $2",
                              account_id, name)
    return Template(row["subject"], row["body"]) if row else DEFAULTS[name]


async def set_template(conn: asyncpg.Connection, account_id: str, name: str, template: Template) -> None:
    await conn.execute(
        """INSERT INTO templates (account_id, template, subject, body) VALUES ($1, $2, $3, $4)
           ON CONFLICT (account_id, template) DO UPDATE SET subject = EXCLUDED.subject, body = EXCLUDED.body,
               updated_at = now()""",
        account_id, name, template.subject, template.body)


async def reset_template(conn: asyncpg.Connection, account_id: str, name: str) -> None:
    await conn.execute("DELETE FROM templates WHERE account_id = $1 AND template = $2", account_id, name)


async def custom_templates(conn: asyncpg.Connection, account_id: str) -> dict[str, Template]:
    rows = await conn.fetch("SELECT template, subject, body FROM templates WHERE account_id = $1", account_id)
    return {r["template"]: Template(r["subject"], r["body"]) for r in rows}


async def account_standing(conn: asyncpg.Connection, account_id: str, user_id: str) -> AccountStanding | None:
    """The account's owner and the user's standing in it, from identity's events."""
    row = await conn.fetchrow(
        """SELECT a.owner_user_id, coalesce(m.administers, false) AS administers, m.status FROM accounts a
           LEFT JOIN account_members m ON m.account_id = a.account_id AND m.user_id = $2
           WHERE a.account_id = $1""", account_id, user_id)
    return AccountStanding(row["owner_user_id"], row["administers"], row["status"]) if row else None


def message_id_for(cause_event_id: str, template: str, to: str) -> str:
    """Stable per (cause, template, recipient): a re-send carries the same Message-ID."""
    return f"<{uuid.uuid5(uuid.NAMESPACE_URL, f'{cause_event_id}/{template}/{to}')}@crm.example>"


async def queue_email(conn: asyncpg.Connection, *, account_id: str, template: str, to: str, subject: str,
                      html: str, cause: CloudEvent, sealed_token: str | None = None) -> str:
    """Queue an e-mail. An invitation's token is kept only sealed, beside the body, until it is sent;
    the stored cause loses it too."""
    message_id = message_id_for(cause.id, template, to)
    if isinstance(cause.data, dict) and "sealed_token" in cause.data:
        cause = cause.model_copy(update={"data": {**cause.data, "sealed_token": "(kept with the e-mail until sent)"}})
    await conn.execute(
        """INSERT INTO emails (message_id, account_id, template, to_address, subject, html, cause_event_id, cause,
                               sealed_token)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (message_id) DO NOTHING""",
        message_id, account_id, template, to, subject, html, cause.id, cause.model_dump_json(), sealed_token)
    return message_id


async def claim_due_emails(conn: asyncpg.Connection, limit: int, lease_s: float) -> list[asyncpg.Record]:
    """Take due e-mails for one attempt; the lease keeps other workers off them meanwhile."""
    return await conn.fetch(
        """UPDATE emails SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
           WHERE message_id IN (SELECT message_id FROM emails WHERE status = 'pending' AND next_attempt_at <= now()
                                ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING *""", limit, lease_s)


async def mark_email(conn: asyncpg.Connection, message_id: str, status: str, error: str | None = None) -> None:
    """Sent or given up: either way the sealed token is erased, it has done its one job."""
    await conn.execute(
        "UPDATE emails SET status = $2, last_error = $3, sent_at = CASE WHEN $2 = 'sent' THEN now() END, "
        "sealed_token = NULL WHERE message_id = $1", message_id, status, error)


async def retry_email_at(conn: asyncpg.Connection, message_id: str, at: datetime, error: str) -> None:
    await conn.execute("UPDATE emails SET next_attempt_at = $2, last_error = $3 WHERE message_id = $1",
                       message_id, at, error)


# --- sessions, notifications, pushes ------------------------------------------------------


async def set_session(conn: asyncpg.Connection, user_id: str, device_id: str, device: str, instance_id: str) -> None:
    await conn.execute(
        """INSERT INTO sessions (user_id, device_id, device, instance_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (user_id, device_id) DO UPDATE SET device = EXCLUDED.device,
               instance_id = EXCLUDED.instance_id, updated_at = now()""",
        user_id, device_id, device, instance_id)


async def sessions_of(conn: asyncpg.Connection, user_id: str) -> list[Session]:
    rows = await conn.fetch("SELECT device_id, device, instance_id FROM sessions WHERE user_id = $1 ORDER BY device_id",
                            user_id)
    return [Session(**dict(r)) for r in rows]


async def insert_notification(conn: asyncpg.Connection, *, account_id: str, user_id: str, instance_id: str,
                              kind: str, title: str, body: str, cause: CloudEvent) -> str:
    notification_id = "ntf_" + uuid.uuid4().hex
    await conn.execute(
        """WITH filed AS (
               INSERT INTO notifications (notification_id, account_id, user_id, instance_id, kind, title, body,
                                          cause_event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8))
           INSERT INTO unread_counts (user_id, instance_id, unread) VALUES ($3, $4, 1)
           ON CONFLICT (user_id, instance_id) DO UPDATE SET unread = unread_counts.unread + 1""",
        notification_id, account_id, user_id, instance_id, kind, title, body, cause.id)
    return notification_id


async def queue_push(conn: asyncpg.Connection, *, notification_id: str, user_id: str, session: Session,
                     instance_id: str, instance_name: str, title: str, body: str, cause: CloudEvent) -> None:
    await conn.execute(
        """INSERT INTO pushes (push_id, notification_id, user_id, device_id, device, instance_id, instance_name,
                               title, body, cause) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        "psh_" + uuid.uuid4().hex, notification_id, user_id, session.device_id, session.device, instance_id,
        instance_name, title, body, cause.model_dump_json())


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


async def notification_center(conn: asyncpg.Connection, user_id: str, limit: int = 100) -> list[dict]:
    rows = await conn.fetch(
        """SELECT n.notification_id, n.instance_id, coalesce(i.name, n.instance_id) AS instance_name, n.kind,
                  n.title, n.body, n.cause_event_id, n.read_at IS NOT NULL AS read, n.created_at
           FROM notifications n LEFT JOIN instances i USING (instance_id)
           WHERE n.user_id = $1 ORDER BY n.created_at DESC LIMIT $2""", user_id, limit)
    return [dict(r) for r in rows]


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

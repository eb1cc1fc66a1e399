"""Templates, and e-mails queued, claimed and marked."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from crm_contracts import CloudEvent
from crm_runtime.auth import AccountStanding

from ..domain.templates import DEFAULTS, Template


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


async def best_status(conn: asyncpg.Connection, user_id: str) -> str | None:
    """The person's status where it is best (`active` if they own an account or are active in
    one); None when no account knows them."""
    return await conn.fetchval(
        """SELECT status FROM (SELECT 'active' AS status, 0 AS rank FROM accounts WHERE owner_user_id = $1
                               UNION ALL
                               SELECT status, CASE WHEN status = 'active' THEN 0 ELSE 1 END FROM account_members
                               WHERE user_id = $1) s ORDER BY rank LIMIT 1""", user_id)

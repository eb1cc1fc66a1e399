"""asyncpg queries for the seats service's tables."""

from __future__ import annotations

import asyncpg

from crm_contracts import CloudEvent

from .domain.ledger import Subscription

_COLUMNS = "account_id, seats_total, seats_used, seat_price_cents, currency, period_start, period_end"


async def lock_subscription(conn: asyncpg.Connection, account_id: str) -> Subscription:
    """The account's subscription, row-locked for this transaction (created empty if new).

    The lock is what keeps two acceptances racing for the last seat from both getting it.
    """
    await conn.execute("INSERT INTO subscriptions (account_id) VALUES ($1) ON CONFLICT DO NOTHING",
                       account_id)
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM subscriptions WHERE account_id = $1 FOR UPDATE",
                              account_id)
    return Subscription(**dict(row))


async def get_subscription(conn: asyncpg.Connection, account_id: str) -> Subscription | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM subscriptions WHERE account_id = $1", account_id)
    return Subscription(**dict(row)) if row else None


async def save_subscription(conn: asyncpg.Connection, sub: Subscription) -> None:
    await conn.execute(
        """UPDATE subscriptions SET seats_total = $2, seats_used = $3, seat_price_cents = $4,
                  currency = $5, period_start = $6, period_end = $7, updated_at = now()
           WHERE account_id = $1""",
        sub.account_id, sub.seats_total, sub.seats_used, sub.seat_price_cents, sub.currency,
        sub.period_start, sub.period_end,
    )


async def record_owner(conn: asyncpg.Connection, account_id: str, tier: str, owner_user_id: str,
                       owner_email: str | None) -> None:
    await conn.execute(
        "UPDATE subscriptions SET tier = $2, owner_user_id = $3, owner_email = $4 WHERE account_id = $1",
        account_id, tier, owner_user_id, owner_email,
    )


async def append_ledger(conn: asyncpg.Connection, sub: Subscription, *, change: str, cause: CloudEvent,
                        user_id: str | None = None, charge_id: str | None = None) -> None:
    await conn.execute(
        """INSERT INTO seat_ledger (account_id, change, user_id, seats_total, seats_used,
                                    cause_event_id, cause_type, actor, charge_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        sub.account_id, change, user_id, sub.seats_total, sub.seats_used, cause.id, cause.type,
        cause.source, charge_id,
    )


async def history(conn: asyncpg.Connection, account_id: str) -> list[dict]:
    rows = await conn.fetch(
        """SELECT change, user_id, seats_total, seats_used, cause_event_id, cause_type, actor,
                  charge_id, at
           FROM seat_ledger WHERE account_id = $1 ORDER BY id""",
        account_id,
    )
    return [dict(r) for r in rows]


def summary(sub: Subscription) -> dict:
    return {"account_id": sub.account_id, "seats_total": sub.seats_total, "seats_used": sub.seats_used,
            "seats_available": sub.available, "seat_price_cents": sub.seat_price_cents,
            "currency": sub.currency, "period_start": sub.period_start, "period_end": sub.period_end}



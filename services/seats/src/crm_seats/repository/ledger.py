"""The subscription, its billing periods and ledger, seat holders, members' standing and charges."""

from __future__ import annotations

from datetime import date

import asyncpg

from crm_contracts import CloudEvent
from crm_runtime.auth import AccountStanding

from ..domain.ledger import Subscription, acted_by


_COLUMNS = ("account_id, seats_total, seats_used, seat_price_cents, currency, period_start, period_end, anchor, "
            "billing_interval AS interval, auto_upgrade_mode, auto_upgrade_max, scheduled_seats_total, time_zone, owner_user_id")


async def lock_subscription(conn: asyncpg.Connection, account_id: str) -> Subscription:
    """The account's subscription, row-locked for this transaction (created empty if new).

    The lock is what keeps two acceptances racing for the last seat from both getting it.
    """
    # ON CONFLICT DO UPDATE takes the row lock as FOR UPDATE would, in the same round trip.
    row = await conn.fetchrow(
        f"""INSERT INTO subscriptions (account_id) VALUES ($1)
            ON CONFLICT (account_id) DO UPDATE SET account_id = EXCLUDED.account_id RETURNING {_COLUMNS}""",
        account_id)
    return Subscription(**dict(row))


async def open_account(conn: asyncpg.Connection, account_id: str, tier: str, owner_user_id: str,
                       owner_email: str | None) -> Subscription:
    """`lock_subscription`, recording the account's tier and owner on the way."""
    row = await conn.fetchrow(
        f"""INSERT INTO subscriptions (account_id, tier, owner_user_id, owner_email) VALUES ($1, $2, $3, $4)
            ON CONFLICT (account_id) DO UPDATE SET tier = EXCLUDED.tier, owner_user_id = EXCLUDED.owner_user_id,
                owner_email = EXCLUDED.owner_email
            RETURNING {_COLUMNS}""",
        account_id, tier, owner_user_id, owner_email)
    return Subscription(**dict(row))


async def get_subscription(conn: asyncpg.Connection, account_id: str) -> Subscription | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM subscriptions WHERE account_id = $1", account_id)
    return Subscription(**dict(row)) if row else None


async def save_subscription(conn: asyncpg.Connection, sub: Subscription) -> None:
    await conn.execute(
        """UPDATE subscriptions SET seats_total = $2, seats_used = $3, seat_price_cents = $4,
                  currency = $5, period_start = $6, period_end = $7, anchor = $8, billing_interval = $9,
                  auto_upgrade_mode = $10, auto_upgrade_max = $11, scheduled_seats_total = $12, time_zone = $13,
                  updated_at = now()
           WHERE account_id = $1""",
        sub.account_id, sub.seats_total, sub.seats_used, sub.seat_price_cents, sub.currency,
        sub.period_start, sub.period_end, sub.anchor, sub.interval, sub.auto_upgrade_mode, sub.auto_upgrade_max,
        sub.scheduled_seats_total, sub.time_zone,
    )


async def record_period(conn: asyncpg.Connection, sub: Subscription, cause: CloudEvent) -> None:
    """The period `sub` is in, with the seats paid for at its start. The first record of a period
    stands: seats billing sets later in the period are billing's own change, and seats bought
    automatically in it are its pro-rated charges."""
    await conn.execute(
        """INSERT INTO billing_periods (account_id, period_start, period_end, seats_total, seat_price_cents,
                                        currency, cause_event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, period_start) DO NOTHING""",
        sub.account_id, sub.period_start, sub.period_end, sub.seats_total, sub.seat_price_cents, sub.currency,
        cause.id)


async def billing_periods(conn: asyncpg.Connection, account_id: str) -> list[dict]:
    rows = await conn.fetch(
        """SELECT period_start, period_end, seats_total, seat_price_cents, currency FROM billing_periods
           WHERE account_id = $1 ORDER BY period_start""", account_id)
    return [dict(r) for r in rows]


async def append_ledger(conn: asyncpg.Connection, sub: Subscription, *, change: str, cause: CloudEvent,
                        user_id: str | None = None, charge_id: str | None = None) -> None:
    await conn.execute(
        """INSERT INTO seat_ledger (account_id, change, user_id, seats_total, seats_used,
                                    cause_event_id, cause_type, actor, charge_id, by_user_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        sub.account_id, change, user_id, sub.seats_total, sub.seats_used, cause.id, cause.type,
        cause.source, charge_id, acted_by(cause.type, cause.data),
    )


async def history(conn: asyncpg.Connection, account_id: str) -> list[dict]:
    rows = await conn.fetch(
        """SELECT l.change, l.user_id, (l.user_id = s.owner_user_id) IS TRUE AS account_owner, l.seats_total,
                  l.seats_used, l.cause_event_id, l.cause_type, l.actor, l.by_user_id, l.charge_id, l.at
           FROM seat_ledger l JOIN subscriptions s USING (account_id) WHERE l.account_id = $1 ORDER BY l.id""",
        account_id,
    )
    return [dict(r) for r in rows]


def summary(sub: Subscription, pending_opt_in: int, holders: list[dict]) -> dict:
    """The counts, and the owner named with whether they sit in one of the seats counted."""
    owner = {"user_id": sub.owner_user_id, "holds_seat": any(h["account_owner"] for h in holders)}
    return {"account_id": sub.account_id, "owner": owner, "seats_total": sub.seats_total, "seats_used": sub.seats_used,
            "seats_pending_opt_in": pending_opt_in, "seats_available": sub.available,
            "seat_price_cents": sub.seat_price_cents,
            "currency": sub.currency, "period_start": sub.period_start, "period_end": sub.period_end,
            "interval": sub.interval, "anchor": sub.anchor,
            "auto_upgrade": {"mode": sub.auto_upgrade_mode, "max_seats": sub.auto_upgrade_max},
            "scheduled_seats_total": sub.scheduled_seats_total}


async def holds_seat(conn: asyncpg.Connection, account_id: str, user_id: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT true FROM seat_holders WHERE account_id = $1 AND user_id = $2", account_id, user_id))


async def add_holder(conn: asyncpg.Connection, account_id: str, user_id: str, *, auto_upgraded: bool,
                     cause: CloudEvent, on: date) -> None:
    await conn.execute(
        """INSERT INTO seat_holders (account_id, user_id, auto_upgraded, cause_event_id, reserved_on)
           VALUES ($1, $2, $3, $4, $5)""",
        account_id, user_id, auto_upgraded, cause.id, on)


async def dormant_holders(conn: asyncpg.Connection, account_id: str, held_since: date) -> list[dict]:
    """Holders who got their seat on or before `held_since` and are not active (the owner always is)."""
    rows = await conn.fetch(
        """SELECT h.user_id, h.reserved_on, coalesce(m.status, 'unknown') AS status FROM seat_holders h
           JOIN subscriptions s ON s.account_id = h.account_id
           LEFT JOIN member_statuses m ON m.account_id = h.account_id AND m.user_id = h.user_id
           WHERE h.account_id = $1 AND h.reserved_on <= $2 AND m.status IS DISTINCT FROM 'active'
             AND h.user_id IS DISTINCT FROM s.owner_user_id
           ORDER BY h.reserved_on, h.user_id""", account_id, held_since)
    return [dict(r) for r in rows]


async def remove_holder(conn: asyncpg.Connection, account_id: str, user_id: str) -> None:
    await conn.execute("DELETE FROM seat_holders WHERE account_id = $1 AND user_id = $2", account_id, user_id)


async def holders(conn: asyncpg.Connection, account_id: str) -> list[dict]:
    rows = await conn.fetch(
        """SELECT h.user_id, (h.user_id = s.owner_user_id) IS TRUE AS account_owner, h.auto_upgraded,
                  h.cause_event_id, h.reserved_at
           FROM seat_holders h JOIN subscriptions s USING (account_id)
           WHERE h.account_id = $1 ORDER BY h.reserved_at, h.user_id""", account_id)
    return [dict(r) for r in rows]


async def set_member_status(conn: asyncpg.Connection, account_id: str, user_id: str, status: str,
                            administers: bool | None = None) -> None:
    """The member's status, and whether they administer the account when identity says (None: keep)."""
    await conn.execute(
        """INSERT INTO member_statuses (account_id, user_id, status, administers)
           VALUES ($1, $2, $3, coalesce($4, false))
           ON CONFLICT (account_id, user_id) DO UPDATE SET status = EXCLUDED.status,
               administers = coalesce($4, member_statuses.administers)""",
        account_id, user_id, status, administers)


async def set_administers(conn: asyncpg.Connection, account_id: str, user_id: str, administers: bool) -> None:
    await conn.execute("UPDATE member_statuses SET administers = $3 WHERE account_id = $1 AND user_id = $2",
                       account_id, user_id, administers)


async def account_standing(conn: asyncpg.Connection, account_id: str, user_id: str) -> AccountStanding | None:
    """The account's owner and the user's standing in it, for deciding what they may read."""
    row = await conn.fetchrow(
        """SELECT s.owner_user_id, coalesce(m.administers, false) AS administers, m.status FROM subscriptions s
           LEFT JOIN member_statuses m ON m.account_id = s.account_id AND m.user_id = $2
           WHERE s.account_id = $1""", account_id, user_id)
    return AccountStanding(row["owner_user_id"], row["administers"], row["status"]) if row else None


async def pending_opt_in(conn: asyncpg.Connection, account_id: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM member_statuses WHERE account_id = $1 AND status = 'pending_opt_in'", account_id)


async def insert_charge(conn: asyncpg.Connection, *, charge_id: str, account_id: str, user_id: str,
                        amount_cents: int, currency: str, description: str, days_remaining: int,
                        days_in_period: int, period_start: date, period_end: date, charged_on: date,
                        cause: CloudEvent, item: str | None = None, instance_id: str | None = None) -> bool:
    """False (nothing written) when the instance's package was charged already in that period."""
    return bool(await conn.fetchval(
        """INSERT INTO charges (charge_id, account_id, user_id, amount_cents, currency, description,
                                days_remaining, days_in_period, period_end, cause_event_id, item, instance_id,
                                period_start, charged_on)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (instance_id, period_start) WHERE item LIKE 'package:%' DO NOTHING RETURNING true""",
        charge_id, account_id, user_id, amount_cents, currency, description, days_remaining, days_in_period,
        period_end, cause.id, item, instance_id, period_start, charged_on))


async def charges(conn: asyncpg.Connection, account_id: str) -> list[dict]:
    rows = await conn.fetch("SELECT charge_id, user_id, amount_cents, currency, description, days_remaining, "
                            "days_in_period, period_start, period_end, charged_on, cause_event_id, item, instance_id, "
                            "created_at FROM charges "
                            "WHERE account_id = $1 ORDER BY created_at, charge_id", account_id)
    return [dict(r) for r in rows]

"""Prices, private instances and their members (identity's facts), and what is bought for them."""

from __future__ import annotations

from datetime import date

import asyncpg

from ..domain.entitlements import CallingPurchase
from ..domain.prices import PriceList


# --- prices ---------------------------------------------------------------------------------


async def price_list(conn: asyncpg.Connection, account_id: str) -> PriceList:
    rows = await conn.fetch("SELECT item, price_cents, currency FROM prices WHERE account_id = $1", account_id)
    return PriceList.of({r["item"]: r["price_cents"] for r in rows}, rows[0]["currency"] if rows else None)


async def save_price_list(conn: asyncpg.Connection, account_id: str, prices: PriceList) -> None:
    await conn.execute(
        """INSERT INTO prices (account_id, item, price_cents, currency)
           SELECT $1, item, cents, $4 FROM unnest($2::text[], $3::int[]) AS p(item, cents)
           ON CONFLICT (account_id, item) DO UPDATE SET price_cents = EXCLUDED.price_cents,
               currency = EXCLUDED.currency, updated_at = now()""",
        account_id, list(prices.prices), list(prices.prices.values()), prices.currency)


# --- instances and their members (identity's facts) ----------------------------------------


async def upsert_instance(conn: asyncpg.Connection, instance_id: str, account_id: str, kind: str,
                          owner_user_id: str, package: str | None, name: str | None, mls_id: str | None = None) -> bool:
    """True the first time the instance is seen."""
    return bool(await conn.fetchval(
        """INSERT INTO instances (instance_id, account_id, kind, owner_user_id, package, name, mls_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (instance_id) DO NOTHING RETURNING true""",
        instance_id, account_id, kind, owner_user_id, package, name, mls_id))


async def join_instance(conn: asyncpg.Connection, instance_id: str, account_id: str, user_id: str,
                        role: str) -> None:
    await conn.execute(
        """INSERT INTO instance_members (instance_id, account_id, user_id, role) VALUES ($1, $2, $3, $4)
           ON CONFLICT (instance_id, user_id) DO UPDATE SET role = EXCLUDED.role""",
        instance_id, account_id, user_id, role)


async def leave_instance(conn: asyncpg.Connection, instance_id: str, user_id: str) -> None:
    await conn.execute("DELETE FROM instance_members WHERE instance_id = $1 AND user_id = $2", instance_id, user_id)


async def membership(conn: asyncpg.Connection, account_id: str, instance_id: str,
                     user_ids: list[str]) -> dict[str, bool]:
    """Whether each user belongs to the instance: its owner always (a private instance's owner
    from its creation, before the roster's `member_joined` — another topic — reaches seats); others
    of a private instance by its roster; of the account's own (enterprise) instance by being a
    member who is not deactivated or display-only."""
    rows = await conn.fetch(
        """SELECT u.user_id,
                  EXISTS (SELECT 1 FROM instance_members m WHERE m.instance_id = $2 AND m.user_id = u.user_id)
                  OR EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = $2 AND i.account_id = $1
                             AND (i.owner_user_id = u.user_id OR i.kind = 'enterprise' AND EXISTS (
                                 SELECT 1 FROM member_statuses s WHERE s.account_id = $1 AND s.user_id = u.user_id
                                 AND s.status NOT IN ('inactive', 'display_only')))) AS member
           FROM unnest($3::text[]) AS u(user_id)""", account_id, instance_id, user_ids)
    return {r["user_id"]: r["member"] for r in rows}


async def instance_account(conn: asyncpg.Connection, instance_id: str) -> asyncpg.Record | None:
    """The instance's account, whether it was cancelled, and its MLS."""
    return await conn.fetchrow("SELECT account_id, cancelled_at IS NOT NULL AS cancelled, mls_id FROM instances "
                               "WHERE instance_id = $1", instance_id)


async def close_instance(conn: asyncpg.Connection, instance_id: str, owner_user_id: str | None = None,
                         cancelled_on: date | None = None) -> None:
    """A new owner, or the instance cancelled on the account's billing day `cancelled_on` (nothing
    more is bought for it, and it is not renewed after)."""
    await conn.execute(
        """UPDATE instances SET owner_user_id = coalesce($2, owner_user_id),
                                cancelled_at = CASE WHEN $3::date IS NOT NULL THEN coalesce(cancelled_at, now())
                                               ELSE cancelled_at END,
                                cancelled_on = coalesce(cancelled_on, $3)
           WHERE instance_id = $1""", instance_id, owner_user_id, cancelled_on)


# --- purchases ------------------------------------------------------------------------------


async def addon(conn: asyncpg.Connection, instance_id: str, addon: str) -> asyncpg.Record | None:
    """The add-on's row on the instance (bought once, perhaps cancelled: `ends_on`), if ever bought."""
    return await conn.fetchrow("SELECT account_id, buyer_user_id, charge_id, ends_on FROM addons "
                               "WHERE instance_id = $1 AND addon = $2", instance_id, addon)


async def put_addon(conn: asyncpg.Connection, account_id: str, instance_id: str, addon: str, buyer: str,
                    charge_id: str) -> None:
    """The add-on bought: a new row, or one whose cancellation has taken effect bought anew."""
    await conn.execute(
        """INSERT INTO addons (instance_id, addon, account_id, buyer_user_id, charge_id) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (instance_id, addon) DO UPDATE SET buyer_user_id = EXCLUDED.buyer_user_id,
               charge_id = EXCLUDED.charge_id, ends_on = NULL, purchased_at = now()""",
        instance_id, addon, account_id, buyer, charge_id)


async def end_addon(conn: asyncpg.Connection, instance_id: str, addon: str, ends_on: date | None) -> None:
    """Set (a cancellation) or clear (bought again before it took effect) the day the add-on stops."""
    await conn.execute("UPDATE addons SET ends_on = $3 WHERE instance_id = $1 AND addon = $2",
                       instance_id, addon, ends_on)


async def insert_calling_package(conn: asyncpg.Connection, account_id: str, p: CallingPurchase,
                                 charge_id: str) -> None:
    await conn.execute(
        """INSERT INTO calling_packages (purchase_id, account_id, package_id, buyer_user_id, assigned_user_id,
                                         instance_id, number_kind, charge_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        p.purchase_id, account_id, p.package_id, p.buyer_user_id, p.assigned_user_id, p.instance_id,
        p.number_kind, charge_id)


async def owns_calling_package(conn: asyncpg.Connection, account_id: str, instance_id: str, package_id: str,
                               user_id: str) -> bool:
    return bool(await conn.fetchval(
        """SELECT true FROM calling_packages
           WHERE account_id = $1 AND instance_id = $2 AND package_id = $3 AND assigned_user_id = $4""",
        account_id, instance_id, package_id, user_id))


async def set_integration(conn: asyncpg.Connection, account_id: str, user_id: str, integration: str,
                          connected: bool) -> None:
    if connected:
        await conn.execute("INSERT INTO integrations (account_id, user_id, integration) VALUES ($1, $2, $3) "
                           "ON CONFLICT DO NOTHING", account_id, user_id, integration)
    else:
        await conn.execute("DELETE FROM integrations WHERE account_id = $1 AND user_id = $2 AND integration = $3",
                           account_id, user_id, integration)


async def entitlement_facts(conn: asyncpg.Connection, account_id: str, user_id: str, instance_id: str,
                            today: date) -> tuple[dict[str, str], list[CallingPurchase], set[str]]:
    """What the user has on the instance `today`: its add-ons not yet stopped, their calling
    packages and integrations."""
    addons = await conn.fetch("SELECT addon, buyer_user_id FROM addons WHERE instance_id = $1 "
                              "AND (ends_on IS NULL OR ends_on > $2)", instance_id, today)
    calling = await conn.fetch(
        """SELECT purchase_id, package_id, buyer_user_id, assigned_user_id, instance_id, number_kind
           FROM calling_packages WHERE account_id = $1 AND assigned_user_id = $2 ORDER BY purchased_at""",
        account_id, user_id)
    integrations = await conn.fetch("SELECT integration FROM integrations WHERE account_id = $1 AND user_id = $2",
                                    account_id, user_id)
    return ({r["addon"]: r["buyer_user_id"] for r in addons}, [CallingPurchase(**dict(r)) for r in calling],
            {r["integration"] for r in integrations})


async def recurring_items(conn: asyncpg.Connection, account_id: str, period_start: date) -> list[dict]:
    """What the account is billed for again in the period starting `period_start`: every package,
    add-on and calling package bought in an earlier period (its purchase charge ends by then) on an
    instance not cancelled before that day. `renews` names the item; `user_id` pays."""
    rows = await conn.fetch(
        """SELECT 'package:' || i.instance_id AS renews, 'package:' || i.package AS item,
                  i.owner_user_id AS user_id, i.instance_id
           FROM instances i
           WHERE i.account_id = $1 AND i.kind = 'private' AND i.package IS NOT NULL
             AND (i.cancelled_on IS NULL OR i.cancelled_on >= $2)
             AND EXISTS (SELECT 1 FROM charges c WHERE c.instance_id = i.instance_id AND c.item LIKE 'package:%'
                         AND c.renews IS NULL AND c.period_end <= $2)
           UNION ALL
           SELECT 'addon:' || a.instance_id || ':' || a.addon, 'addon:' || a.addon, a.buyer_user_id, a.instance_id
           FROM addons a JOIN charges c ON c.charge_id = a.charge_id
                LEFT JOIN instances i ON i.instance_id = a.instance_id
           WHERE a.account_id = $1 AND c.period_end <= $2 AND (i.cancelled_on IS NULL OR i.cancelled_on >= $2)
             AND (a.ends_on IS NULL OR a.ends_on > $2)
           UNION ALL
           SELECT 'calling:' || p.purchase_id, 'calling:' || p.package_id, p.buyer_user_id, p.instance_id
           FROM calling_packages p JOIN charges c ON c.charge_id = p.charge_id
                LEFT JOIN instances i ON i.instance_id = p.instance_id
           WHERE p.account_id = $1 AND c.period_end <= $2 AND (i.cancelled_on IS NULL OR i.cancelled_on >= $2)
           ORDER BY renews""", account_id, period_start)
    return [dict(r) for r in rows]


async def insert_renewal_charges(conn: asyncpg.Connection, account_id: str, rows: list[dict], *,
                                 period_start: date, period_end: date, cause_id: str) -> list[str]:
    """One statement for a renewal's charges; the ids written (a period's renewal of an item is
    written once, whatever redelivers it)."""
    if not rows:
        return []
    days = (period_end - period_start).days
    written = await conn.fetch(
        """INSERT INTO charges (charge_id, account_id, user_id, amount_cents, currency, description, days_remaining,
                                days_in_period, period_end, cause_event_id, item, instance_id, period_start,
                                charged_on, renews)
           SELECT r.charge_id, $1, r.user_id, r.amount_cents, r.currency, r.description, $2, $2, $3, $4, r.item,
                  r.instance_id, $5, $5, r.renews
           FROM unnest($6::text[], $7::text[], $8::int[], $9::text[], $10::text[], $11::text[], $12::text[],
                       $13::text[]) AS r(charge_id, user_id, amount_cents, currency, description, item, instance_id,
                                          renews)
           ON CONFLICT DO NOTHING RETURNING charge_id""",
        account_id, days, period_end, cause_id, period_start,
        [r["charge_id"] for r in rows], [r["user_id"] for r in rows], [r["amount_cents"] for r in rows],
        [r["currency"] for r in rows], [r["description"] for r in rows], [r["item"] for r in rows],
        [r["instance_id"] for r in rows], [r["renews"] for r in rows])
    return [r["charge_id"] for r in written]

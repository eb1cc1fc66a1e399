"""Prices, private instances and their members (identity's facts), and what is bought for them."""

from __future__ import annotations

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
    """Whether each user belongs to the instance: a private one by its roster; the account's own
    (enterprise) instance by being its owner or a member who is not deactivated or display-only."""
    rows = await conn.fetch(
        """SELECT u.user_id,
                  EXISTS (SELECT 1 FROM instance_members m WHERE m.instance_id = $2 AND m.user_id = u.user_id)
                  OR EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = $2 AND i.kind = 'enterprise'
                             AND i.account_id = $1
                             AND (i.owner_user_id = u.user_id OR EXISTS (
                                 SELECT 1 FROM member_statuses s WHERE s.account_id = $1 AND s.user_id = u.user_id
                                 AND s.status NOT IN ('inactive', 'display_only')))) AS member
           FROM unnest($3::text[]) AS u(user_id)""", account_id, instance_id, user_ids)
    return {r["user_id"]: r["member"] for r in rows}


async def instance_account(conn: asyncpg.Connection, instance_id: str) -> asyncpg.Record | None:
    """The instance's account, whether it was cancelled, and its MLS."""
    return await conn.fetchrow("SELECT account_id, cancelled_at IS NOT NULL AS cancelled, mls_id FROM instances "
                               "WHERE instance_id = $1", instance_id)


async def close_instance(conn: asyncpg.Connection, instance_id: str, owner_user_id: str | None = None,
                         cancelled: bool = False) -> None:
    """A new owner, or the instance cancelled (nothing more is bought for it)."""
    await conn.execute(
        """UPDATE instances SET owner_user_id = coalesce($2, owner_user_id),
                                cancelled_at = CASE WHEN $3 THEN coalesce(cancelled_at, now()) ELSE cancelled_at END
           WHERE instance_id = $1""", instance_id, owner_user_id, cancelled)


# --- purchases ------------------------------------------------------------------------------


async def insert_addon(conn: asyncpg.Connection, account_id: str, instance_id: str, addon: str, buyer: str,
                       charge_id: str) -> bool:
    return bool(await conn.fetchval(
        """INSERT INTO addons (instance_id, addon, account_id, buyer_user_id, charge_id) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING RETURNING true""", instance_id, addon, account_id, buyer, charge_id))


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


async def entitlement_facts(conn: asyncpg.Connection, account_id: str, user_id: str,
                            instance_id: str) -> tuple[dict[str, str], list[CallingPurchase], set[str]]:
    addons = await conn.fetch("SELECT addon, buyer_user_id FROM addons WHERE instance_id = $1", instance_id)
    calling = await conn.fetch(
        """SELECT purchase_id, package_id, buyer_user_id, assigned_user_id, instance_id, number_kind
           FROM calling_packages WHERE account_id = $1 AND assigned_user_id = $2 ORDER BY purchased_at""",
        account_id, user_id)
    integrations = await conn.fetch("SELECT integration FROM integrations WHERE account_id = $1 AND user_id = $2",
                                    account_id, user_id)
    return ({r["addon"]: r["buyer_user_id"] for r in addons}, [CallingPurchase(**dict(r)) for r in calling],
            {r["integration"] for r in integrations})

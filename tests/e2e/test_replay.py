"""Replay: a service's input topics read from their beginning into a fresh database rebuild the
same state. Seats is replayed here, for accounts whose whole story this test tells: every table
that holds their rows is compared, column by column (timestamps of when a row was written aside)."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from crm_contracts import identity, seats
from crm_testing.databases import scratch_database
from crm_testing.topics import feed_in_order, read_all

pytestmark = pytest.mark.stack
MACHINERY = {"inbox", "outbox", "outbox_dead", "schema_migrations"}


async def story(platform, acc: str) -> None:
    """Seats, upgrades, releases, a private instance, a price change, add-ons, calling, integrations."""
    await platform.enterprise(acc, seats_total=2)  # the owner's and ann's
    await platform.active(acc, "ann")
    invited = await platform.answer(await platform.add(acc, "bob", activation="opt_in"), "identity.invitation.issued")
    await platform.click(platform.stack.auth.invitation_link(invited))  # no seat free: the account is upgraded
    await platform.bus.wait_event("seats.seat.reserved", where=lambda e: e.accountid == acc
                                  and e.data["user_id"] == "bob")
    await platform.answer(await platform.send(acc, identity.CompleteOnboarding(user_id="bob")),
                          "identity.member.status_changed")
    await platform.answer(await platform.send(acc, seats.SetPriceList(prices={"addon:cma": 700}, currency="USD")),
                          "seats.price_list.changed")
    ins = (await platform.bought(acc, "ann")).data["instance_id"]
    await platform.join(acc, ins, "bob", by="ann")
    for data, answer in (
            (seats.PurchaseAddon(instance_id=ins, addon="cma", buyer_user_id="ann"), "seats.addon.purchased"),
            (seats.PurchaseCallingPackage(package_id="texting", buyer_user_id="ann", assigned_user_id="bob",
                                          instance_id=ins), "seats.calling_package.purchased"),
            (seats.ConnectIntegration(user_id="bob", integration="gmail"), "seats.integration.changed"),
            (identity.DeactivateMember(user_id="ann", by_user_id=f"{acc}_owner"), "seats.seat.released")):
        await platform.answer(await platform.send(acc, data), answer)


async def rows(conn: asyncpg.Connection, accounts: list[str]) -> dict[str, list[tuple]]:
    """Each table with an account_id: its rows of `accounts`, without write times and serial ids."""
    tables = [r["table_name"] for r in await conn.fetch(
        """SELECT table_name FROM information_schema.columns
           WHERE table_schema = 'public' AND column_name = 'account_id' ORDER BY table_name""")]
    out = {}
    for table in tables:
        if table in MACHINERY:
            continue
        columns = [r["column_name"] for r in await conn.fetch(
            """SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'
               AND table_name = $1 AND data_type NOT LIKE 'timestamp%' AND column_name <> 'id'
               ORDER BY column_name""", table)]
        found = await conn.fetch(f"SELECT {', '.join(columns)} FROM {table} WHERE account_id = ANY($1)", accounts)
        out[table] = sorted((tuple(None if set_by_arrival_order(table, r, c) else r[c] for c in columns) for r in found),
                            key=repr)
    return out


def set_by_arrival_order(table: str, row, column: str) -> bool:
    """The owner's seat is taken by whichever of the account's creation (identity's topic) and its
    plan (seats' commands) reaches seats last, and names it as its cause: live, that is the order
    of arrival across two topics, which a replay in time order need not repeat."""
    return table == "seat_holders" and column == "cause_event_id" and row["user_id"].endswith("_owner")


async def test_seats_replayed_into_a_fresh_database_rebuilds_the_same_state(platform, stack, producer):
    from crm_seats.app import service

    accounts = ["acc_" + uuid.uuid4().hex[:12] for _ in range(2)]
    for acc in accounts:
        await story(platform, acc)
    await stack.settled()

    seats_service = service()
    async with scratch_database(stack, "crm_seats_replay", [("seats", seats_service.migrations)]) as pool:
        seats_service.processor.pool, seats_service.processor.producer = pool, producer
        mine = {a.encode() for a in accounts}
        records = await read_all(seats_service.consumes, stack.kafka.args(), keep=lambda r: r.key in mine)
        assert len(records) > 20
        await feed_in_order(seats_service.processor, records)

        original = await asyncpg.connect(stack.database_url("seats"))
        try:
            before = await rows(original, accounts)
        finally:
            await original.close()
        async with pool.acquire() as conn:
            after = await rows(conn, accounts)
    assert {t: len(r) for t, r in before.items()} == {t: len(r) for t, r in after.items()}
    assert all(before[t] for t in ("charges", "seat_ledger", "seat_holders", "subscriptions", "addons",
                                   "calling_packages", "integrations", "instance_members", "prices"))
    for table in before:
        assert before[table] == after[table], table
    async with httpx.AsyncClient(timeout=5) as client:  # and the read side agrees with itself
        summary = (await client.get(f"{stack.http('seats')}/v1/seats", params={"account_id": accounts[0]},
                                     headers=stack.auth.as_operator())).json()
    # The owner's, ann's (released) and bob's (bought): three paid for, two held.
    assert summary["summary"]["seats_total"] == 3 and summary["summary"]["seats_used"] == 2

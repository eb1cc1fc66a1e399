"""AO9 end to end: many acceptances at once for fewer free seats, with one and two seats processes.

Every record of one account lands on one partition and is handled in order, so these show the
outcome through the whole system (no seat given twice, one upgrade per missing seat), not the
subscription lock: `services/seats/tests/test_seat_lock.py` races two transactions for one
account and fails without the lock."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlparse

import asyncpg
import pytest

from crm_contracts import event_caused_by, identity, seats

pytestmark = pytest.mark.stack

N, K = 50, 10  # acceptances, and seats free for them (the plan has one more: the owner's)


async def race(platform, account_id: str) -> None:
    await platform.enterprise(account_id, seats_total=K + 1)
    users = [f"agent{i:02d}" for i in range(N)]
    await asyncio.gather(*(platform.add(account_id, u) for u in users))
    invitations = await asyncio.gather(*(platform.invitation(account_id, u) for u in users))
    # Half click the e-mail link, half accept through the command topic, all at once.
    clicks = [platform.click(platform.stack.auth.invitation_link(inv)) for inv in invitations[::2]]
    commands = [platform.send(account_id, identity.AcceptInvitation(
        token=parse_qs(urlparse(platform.stack.auth.invitation_link(inv)).query)["token"][0])) for inv in invitations[1::2]]
    results = await asyncio.gather(*clicks, *commands)
    assert all(r.status_code == 200 for r in results[:len(clicks)])
    await platform.bus.wait_event("seats.seat.reserved", count=N, timeout=120,
                                  where=lambda e: e.accountid == account_id and not e.data["account_owner"])


async def check_ledger(platform, account_id: str) -> None:
    owner = f"{account_id}_owner"
    reserved = [e for e in platform.events(account_id, "seats.seat.reserved") if e.data["user_id"] != owner]
    by_user = {e.data["user_id"]: e for e in reserved}
    assert len(by_user) == N == len({e.id for e in reserved})
    assert sum(not e.data["auto_upgraded"] for e in by_user.values()) == K
    assert sum(e.data["auto_upgraded"] for e in by_user.values()) == N - K
    upgrades = {e.id: e for e in platform.events(account_id, "seats.account.upgraded")}
    charges = {e.id: e for e in platform.events(account_id, "seats.charge.created")}
    assert len(upgrades) == len(charges) == N - K
    assert sorted(e.data["to_total"] for e in upgrades.values()) == list(range(K + 2, N + 2))
    assert all(e.data["unit_price_cents"] == 4900 for e in upgrades.values())
    assert all(e.data["seats_used"] <= e.data["seats_total"] for e in reserved)

    ledger = await platform.seats(account_id)
    summary = ledger["summary"]
    assert (summary["seats_total"], summary["seats_used"], summary["seats_available"]) == (N + 1, N + 1, 0)
    assert summary["seats_pending_opt_in"] == 0
    # Reconcile the summary with the ledger: holders, history and charges tell the same story.
    assert len(ledger["holders"]) == summary["seats_used"]
    changes = [h["change"] for h in ledger["history"]]
    assert changes.count("reserved") - changes.count("released") == summary["seats_used"]
    # Each reservation's line names whom it seated and the count after it: 1 (the owner), 2, … N + 1.
    lines = [h for h in ledger["history"] if h["change"] == "reserved"]
    assert [h["seats_used"] for h in lines] == list(range(1, N + 2))
    assert (lines[0]["user_id"], lines[0]["account_owner"]) == (owner, True)
    assert {h["user_id"] for h in lines[1:]} == set(by_user)
    assert K + 1 + changes.count("upgraded") == summary["seats_total"]
    assert {h["charge_id"] for h in ledger["history"] if h["change"] == "upgraded"} == {
        c["charge_id"] for c in ledger["charges"]}
    assert all(h["seats_used"] <= h["seats_total"] for h in ledger["history"])
    for user in ("agent00", "agent49"):
        await platform.status(account_id, user, "pending_activation")


async def test_fifty_acceptances_for_ten_free_seats(platform, account_id):
    await race(platform, account_id)
    await check_ledger(platform, account_id)


@pytest.mark.local_stack
async def test_the_same_race_with_two_seats_processes_in_one_group(platform, stack, new_account_id):
    stack.services.start("seats", replica=2)
    try:
        await stack.health.wait("seats", replica=2)
        accounts = [new_account_id() for _ in range(3)]  # spread over partitions, so both work
        await asyncio.gather(*(race(platform, acc) for acc in accounts))
        for acc in accounts:
            await check_ledger(platform, acc)
    finally:
        stack.services.stop("seats", replica=2)


async def test_a_seat_answer_does_not_wait_for_the_accounts_commands(platform, stack, account_id):
    """While a batch of the account's commands holds the account row, a seat answer for one of its
    members is still handled: here a reservation that arrives after the member was deactivated."""
    await platform.enterprise(account_id, seats_total=2)
    added = await platform.add(account_id, "late", activation="immediate")
    await platform.status(account_id, "late", "pending_activation")
    await platform.send(account_id, identity.DeactivateMember(by_user_id=f"{account_id}_owner", user_id="late"))
    await platform.status(account_id, "late", "inactive")
    conn = await asyncpg.connect(stack.database_url("identity"))
    try:
        async with conn.transaction():
            await conn.execute("SELECT FROM accounts WHERE account_id = $1 FOR UPDATE", account_id)
            late = await platform.bus.send(event_caused_by(
                added, seats.SeatReserved(user_id="late", seats_used=1, seats_total=2, auto_upgraded=False),
                source="seats"))
            (again,) = await platform.bus.wait_event("identity.member.status_changed", correlationid=late.correlation,
                                                     where=lambda e: e.data["reason"] == "seat_not_needed", timeout=15)
    finally:
        await conn.close()
    assert again.data["to_status"] == "inactive" and again.causationid == late.id

"""Members end to end: import (AO5), groups and display-only conversion (AO2, AO3, AO6), duplicates (Q2)."""

from __future__ import annotations

import httpx
import pytest
from crm_contracts import identity
from invitation_steps import token_of

pytestmark = pytest.mark.stack

# --- AO5: import ------------------------------------------------------------------------------------


async def test_import_answers_every_row(platform, account_id):
    await platform.enterprise(account_id, seats_total=5)
    rows = [
        platform.member_row("i1", activation="immediate"),
        platform.member_row("o1", activation="opt_in"),
        platform.member_row("bad", activation="immediate", email="not-an-email"),
        platform.member_row("dup", activation="immediate", email="i1@example.com"),
        platform.member_row("d1", activation=None, user_type="display_only"),
    ]
    cmd = await platform.send(account_id, identity.ImportMembers(by_user_id=f"{account_id}_owner", rows=rows))
    done = await platform.answer(cmd, "identity.member.import_completed")
    results = {r["row"]: r for r in done.data["results"]}
    assert [results[n]["outcome"] for n in range(1, 6)] == ["added", "rejected", "rejected", "rejected", "added"]
    assert results[2]["reason"] == "opt_in_not_available_for_import"
    assert results[3]["reason"] == "invalid_row" and "email" in results[3]["message"]
    assert results[4]["reason"] == "duplicate_email"
    await platform.status(account_id, "i1", "pending_activation")
    members = {m["user_id"]: m["status"] for m in await platform.members(account_id)}
    assert members == {"i1": "pending_activation", "d1": "display_only"}


# --- AO2, AO3, AO6: groups and converting display-only members ----------------------------------------


async def test_groups_and_converting_display_only_members(platform, account_id):
    await platform.enterprise(account_id, seats_total=2)
    office = await platform.send(account_id, identity.CreateGroup(group_id="north", name="North Office",
                                                                   parent_group_id=None))
    await platform.answer(office, "identity.group.created")
    team = await platform.send(account_id, identity.CreateGroup(group_id="north-a", name="Team A",
                                                                 parent_group_id="north"))
    await platform.answer(team, "identity.group.created")
    orphan = await platform.send(account_id, identity.CreateGroup(group_id="x", name="X", parent_group_id="nope"))
    assert await platform.rejected(orphan) == "unknown_group"
    unknown = await platform.add(account_id, "u0", activation="immediate", group_id="nowhere")
    assert await platform.rejected(unknown) == "unknown_group"

    for user in ("shown1", "shown2"):
        added = await platform.add(account_id, user, activation=None, user_type="display_only", group_id="north")
        assert (await platform.answer(added, "identity.member.added")).data["status"] == "display_only"
    await platform.stack.settled()
    assert (await platform.seats(account_id))["summary"]["seats_used"] == 1  # the owner's; display-only holds none

    now_platform = await platform.send(account_id, identity.ConvertMember(by_user_id=f"{account_id}_owner", user_id="shown1", activation="immediate",
                                                                          group_id="north-a"))
    assert (await platform.answer(now_platform, "seats.seat.reserved")).data["user_id"] == "shown1"
    member = await platform.status(account_id, "shown1", "pending_activation")
    assert member["group_id"] == "north-a" and member["user_type"] == "platform"

    opt = await platform.send(account_id, identity.ConvertMember(by_user_id=f"{account_id}_owner", user_id="shown2", activation="opt_in"))
    assert (await platform.answer(opt, "identity.invitation.issued")).data["kind"] == "opt_in"
    await platform.status(account_id, "shown2", "pending_opt_in")
    twice = await platform.send(account_id, identity.ConvertMember(by_user_id=f"{account_id}_owner", user_id="shown2", activation="opt_in"))
    assert await platform.rejected(twice) == "invalid_status"


async def test_a_conversion_offers_every_choice_of_adding_a_new_member(platform, account_id):
    """"The exact same options as if you were adding a brand new user": role, group and personal
    details too. The new details reach the other services (an admin by role is told as one)."""
    await platform.enterprise(account_id, seats_total=2)
    owner = f"{account_id}_owner"
    await platform.answer(await platform.add(account_id, "kim", activation=None, user_type="display_only"),
                          "identity.member.added")
    await platform.answer(await platform.add(account_id, "lee", activation=None, user_type="display_only",
                                             email="lee@example.com"), "identity.member.added")
    taken = await platform.send(account_id, identity.ConvertMember(by_user_id=owner, user_id="kim",
                                                                   activation="immediate", email="lee@example.com"))
    assert await platform.rejected(taken) == "duplicate_email"

    convert = await platform.send(account_id, identity.ConvertMember(
        by_user_id=owner, user_id="kim", activation="immediate", role="admin", first_name="Kimberly",
        last_name="Stone", email="kim.stone@example.com"))
    details = await platform.answer(convert, "identity.member.details_changed")
    assert {k: details.data[k] for k in ("email", "first_name", "last_name", "role", "administers_account")} == {
        "email": "kim.stone@example.com", "first_name": "Kimberly", "last_name": "Stone", "role": "admin",
        "administers_account": True}
    await platform.answer(convert, "seats.seat.reserved")
    member = await platform.status(account_id, "kim", "pending_activation")
    assert (member["first_name"], member["last_name"], member["email"], member["role"]) == (
        "Kimberly", "Stone", "kim.stone@example.com", "admin")
    done = await platform.send(account_id, identity.CompleteOnboarding(user_id="kim", phone="+15550102030"))
    await platform.answer(done, "identity.member.status_changed")
    await platform.stack.settled()
    async with httpx.AsyncClient(timeout=5) as client:  # seats now knows her for an admin: she reads the seats
        seats_read = await client.get(f"{platform.stack.http('seats')}/v1/seats", params={"account_id": account_id},
                                      headers=platform.stack.auth.as_user("kim"))
    assert seats_read.status_code == 200, seats_read.text


# --- Q2: duplicates of every command and event in these flows --------------------------------------------


async def test_duplicated_commands_and_events_change_nothing_twice(platform, bus, account_id):
    await platform.enterprise(account_id, seats_total=0)
    add = await platform.add(account_id, "u1")
    await bus.send(add)  # the same command again
    invitation = await platform.invitation(account_id, "u1")
    accept = await platform.send(account_id, identity.AcceptInvitation(token=token_of(platform, invitation)))
    await bus.send(accept)
    reserved = await platform.answer(accept, "seats.seat.reserved")
    await platform.status(account_id, "u1", "pending_activation")
    # Redeliver the events the flow consisted of, as a replay or a producer retry would.
    for type_ in ("identity.member.added", "identity.invitation.accepted", "identity.member.status_changed",
                  "seats.account.upgraded", "seats.charge.created", "seats.seat.reserved"):
        for event in platform.events(account_id, type_):
            await bus.send(event)
    await platform.stack.settled()

    ledger = await platform.seats(account_id)
    assert ledger["summary"]["seats_total"] == 2 and ledger["summary"]["seats_used"] == 2
    # With no seat in the plan, the owner's was bought too: two of each, never more.
    assert len(ledger["charges"]) == 2 and len(ledger["holders"]) == 2
    # account_opened and subscription_set come from two topics, so either may be first.
    assert sorted(h["change"] for h in ledger["history"]) == [
        "account_opened", "reserved", "reserved", "subscription_set", "upgraded", "upgraded"]
    assert len({e.id for e in platform.events(account_id, "identity.invitation.issued")}) == 1
    assert len({e.id for e in platform.events(account_id, "seats.seat.reserved")}) == 2
    changes = {e.id for e in platform.events(account_id, "identity.member.status_changed", "u1")}
    assert len(changes) == 2  # pending_opt_in -> pending_seat -> pending_activation, once each
    assert reserved.data["auto_upgraded"] is True
    answers = platform.bus.events(lambda e: e.correlationid == add.id and e.type == "identity.member.added")
    assert len({e.id for e in answers}) == 1

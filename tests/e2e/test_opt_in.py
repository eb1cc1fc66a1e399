"""Agent opt-in end to end (AO1–AO12) through the real broker, databases and HTTP endpoints."""

from __future__ import annotations


import asyncpg
import pytest

from crm_contracts import identity
from money import this_month_price

from invitation_steps import token_of

pytestmark = pytest.mark.stack


# --- AO1: the opt-in setting ---------------------------------------------------------------------


async def test_opt_in_requests_need_the_setting_and_the_setting_needs_enterprise(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, opt_in=False)
    cmd = await platform.add(acc, "u1", activation="opt_in")
    assert await platform.rejected(cmd) == "opt_in_not_enabled"
    assert await platform.members(acc) == []

    team = new_account_id()
    await platform.enterprise(team, opt_in=False, tier="team")
    cmd = await platform.send(team, identity.SetOptIn(enabled=True))
    assert await platform.rejected(cmd) == "opt_in_requires_enterprise"


# --- AO4, AO10: immediate activation ----------------------------------------------------------------


async def test_immediate_add_with_a_free_seat(platform, account_id):
    await platform.enterprise(account_id, seats_total=2)
    cmd = await platform.add(account_id, "u1", activation="immediate")
    added = await platform.answer(cmd, "identity.member.added")
    assert added.data["status"] == "pending_seat"
    reserved = await platform.answer(cmd, "seats.seat.reserved")
    assert reserved.data == {"user_id": "u1", "seats_used": 2, "seats_total": 2, "auto_upgraded": False,
                             "account_owner": False}
    invitation = await platform.answer(cmd, "identity.invitation.issued")
    assert invitation.data["kind"] == "standard"
    await platform.status(account_id, "u1", "pending_activation")


async def test_immediate_add_without_a_free_seat_keeps_the_member_and_tells_the_owner(platform, account_id):
    await platform.enterprise(account_id, seats_total=2)
    first = await platform.add(account_id, "u1", activation="immediate")
    await platform.answer(first, "seats.seat.reserved")
    second = await platform.add(account_id, "u2", activation="immediate")
    denied = await platform.answer(second, "seats.seat.denied")
    assert denied.data == {"user_id": "u2", "reason": "no_seat_available", "seats_used": 2, "seats_total": 2}
    alert = await platform.answer(second, "identity.account.owner_alerted")
    assert alert.data["owner_user_id"] == f"{account_id}_owner" and alert.data["user_id"] == "u2"
    await platform.status(account_id, "u2", "seat_unavailable")
    assert (await platform.seats(account_id))["summary"]["seats_used"] == 2

    await platform.subscription(account_id, 3)  # billing bought one more seat
    again = await platform.send(account_id, identity.ReactivateMember(by_user_id=f"{account_id}_owner", user_id="u2"))
    reserved = await platform.answer(again, "seats.seat.reserved")
    assert reserved.data["seats_used"] == 3 and reserved.data["auto_upgraded"] is False
    invitation = await platform.answer(again, "identity.invitation.issued")
    assert invitation.data["kind"] == "standard"
    await platform.status(account_id, "u2", "pending_activation")


# --- AO4, AO8, AO9: opt-in and acceptance --------------------------------------------------------------


async def test_opt_in_add_uses_no_seat_and_sends_a_link(platform, account_id):
    await platform.enterprise(account_id, seats_total=3)
    cmd = await platform.add(account_id, "u1", activation="opt_in")
    added = await platform.answer(cmd, "identity.member.added")
    assert added.data["status"] == "pending_opt_in"
    invitation = await platform.answer(cmd, "identity.invitation.issued")
    assert invitation.data["kind"] == "opt_in"
    assert platform.stack.auth.invitation_link(invitation).startswith(platform.stack.http("identity") + "/invitations/accept?token=")
    summary = (await platform.seats(account_id))["summary"]
    assert (summary["seats_used"], summary["seats_pending_opt_in"], summary["seats_available"]) == (1, 1, 2)  # the owner's seat
    assert not platform.events(account_id, "seats.seat.reserved", "u1")


async def test_clicking_the_link_reserves_a_free_seat(platform, account_id):
    await platform.enterprise(account_id, seats_total=2)
    await platform.add(account_id, "u1")
    invitation = await platform.invitation(account_id, "u1")
    page = await platform.click(platform.stack.auth.invitation_link(invitation))
    assert page.status_code == 200 and "Welcome to" in page.text and "text/html" in page.headers["content-type"]
    [accepted] = await platform.bus.wait_event("identity.invitation.accepted",
                                               where=lambda e: e.accountid == account_id)
    reserved = await platform.answer(accepted, "seats.seat.reserved")
    assert reserved.data["auto_upgraded"] is False and reserved.causationid == accepted.id
    await platform.status(account_id, "u1", "pending_activation")
    assert not platform.events(account_id, "seats.account.upgraded")


async def test_accepting_with_no_free_seat_upgrades_the_account_then_reserves(platform, account_id):
    await platform.enterprise(account_id, seats_total=2)
    taken = await platform.add(account_id, "u0", activation="immediate")
    await platform.answer(taken, "seats.seat.reserved")
    await platform.add(account_id, "u1")
    invitation = await platform.invitation(account_id, "u1")
    accept = await platform.send(account_id, identity.AcceptInvitation(token=token_of(platform, invitation)))

    upgraded = await platform.answer(accept, "seats.account.upgraded")
    assert upgraded.data == {"from_total": 2, "to_total": 3, "unit_price_cents": 4900,
                             "reason": "opt_in_accepted", "user_id": "u1"}
    charge = await platform.answer(accept, "seats.charge.created")
    assert charge.data["amount_cents"] == this_month_price(4900)
    reserved = await platform.answer(accept, "seats.seat.reserved")
    assert reserved.data == {"user_id": "u1", "seats_used": 3, "seats_total": 3, "auto_upgraded": True,
                             "account_owner": False}
    order = [e.type for e in platform.bus.events(lambda e: e.correlationid == accept.id
                                                 and e.type.startswith("seats."))]
    assert order == ["seats.account.upgraded", "seats.charge.created", "seats.seat.reserved"]
    await platform.status(account_id, "u1", "pending_activation")

    ledger = await platform.seats(account_id)
    assert [c["charge_id"] for c in ledger["charges"]] == [charge.data["charge_id"]]
    upgrade_row = next(h for h in ledger["history"] if h["change"] == "upgraded")
    assert upgrade_row["charge_id"] == charge.data["charge_id"] and upgrade_row["user_id"] == "u1"


# --- AO8: bad links ----------------------------------------------------------------------------------


async def test_every_kind_of_bad_link_is_refused_with_its_own_reason_and_changes_nothing(
        platform, stack, account_id):
    await platform.enterprise(account_id, seats_total=6)
    for user in ("used", "expired", "resent"):
        await platform.add(account_id, user)
    used = await platform.invitation(account_id, "used")
    expired = await platform.invitation(account_id, "expired")
    first = await platform.invitation(account_id, "resent")

    assert (await platform.click(platform.stack.auth.invitation_link(used))).status_code == 200
    await platform.status(account_id, "used", "pending_activation")
    again = await platform.click(platform.stack.auth.invitation_link(used))
    assert again.status_code == 409 and "already used" in again.text
    cmd = await platform.send(account_id, identity.AcceptInvitation(token=token_of(platform, used)))
    assert await platform.rejected(cmd) == "invitation_already_used"

    conn = await asyncpg.connect(stack.database_url("identity"))
    try:
        await conn.execute("UPDATE invitations SET expires_at = now() - interval '1 minute' "
                           "WHERE invitation_id = $1", expired.data["invitation_id"])
    finally:
        await conn.close()
    page = await platform.click(platform.stack.auth.invitation_link(expired))
    assert page.status_code == 410 and "expired" in page.text

    resend = await platform.send(account_id, identity.ResendInvitation(by_user_id=f"{account_id}_owner", user_id="resent"))
    second = await platform.answer(resend, "identity.invitation.issued")
    assert platform.stack.auth.invitation_link(second) != platform.stack.auth.invitation_link(first)
    page = await platform.click(platform.stack.auth.invitation_link(first))
    assert page.status_code == 410 and "newer invitation" in page.text
    cmd = await platform.send(account_id, identity.AcceptInvitation(token=token_of(platform, first)))
    assert await platform.rejected(cmd) == "invitation_superseded"

    garbage = await platform.click(platform.stack.http("identity") + "/invitations/accept?token=nonsense")
    assert garbage.status_code == 404 and "not valid" in garbage.text
    assert (await platform.click(platform.stack.http("identity") + "/invitations/accept")).status_code == 404
    cmd = await platform.send(account_id, identity.AcceptInvitation(token="nonsense"))
    assert await platform.rejected(cmd) == "invitation_not_found"

    members = {m["user_id"]: m["status"] for m in await platform.members(account_id)}
    assert members == {"used": "pending_activation", "expired": "pending_opt_in", "resent": "pending_opt_in"}
    assert (await platform.seats(account_id))["summary"]["seats_used"] == 2
    # The resent link still works.
    assert (await platform.click(platform.stack.auth.invitation_link(second))).status_code == 200
    await platform.status(account_id, "resent", "pending_activation")


# --- AO7, AO11: lifecycle ------------------------------------------------------------------------------


async def test_onboarding_deactivation_and_reactivation_in_both_modes(platform, account_id):
    await platform.enterprise(account_id, seats_total=3)
    await platform.add(account_id, "opt")
    await platform.click(platform.stack.auth.invitation_link(await platform.invitation(account_id, "opt")))
    await platform.status(account_id, "opt", "pending_activation")
    imm = await platform.add(account_id, "imm", activation="immediate")
    await platform.answer(imm, "seats.seat.reserved")

    done = await platform.send(account_id, identity.CompleteOnboarding(user_id="opt"))
    changed = await platform.answer(done, "identity.member.status_changed")
    assert (changed.data["from_status"], changed.data["to_status"]) == ("pending_activation", "active")
    not_ready = await platform.send(account_id, identity.CompleteOnboarding(user_id="opt"))
    assert await platform.rejected(not_ready) == "invalid_status"

    for user in ("opt", "imm"):
        off = await platform.send(account_id, identity.DeactivateMember(by_user_id=f"{account_id}_owner", user_id=user))
        released = await platform.answer(off, "seats.seat.released")
        assert released.data["user_id"] == user
        await platform.status(account_id, user, "inactive")
    assert (await platform.seats(account_id))["summary"]["seats_used"] == 1  # the owner's

    back = await platform.send(account_id, identity.ReactivateMember(by_user_id=f"{account_id}_owner", user_id="opt"))
    await platform.status(account_id, "opt", "pending_opt_in")
    fresh = await platform.answer(back, "identity.invitation.issued")
    assert fresh.data["kind"] == "opt_in"
    await platform.stack.settled()
    assert not platform.bus.events(lambda e: e.correlationid == back.id and e.type == "seats.seat.reserved")

    back = await platform.send(account_id, identity.ReactivateMember(by_user_id=f"{account_id}_owner", user_id="imm"))
    assert (await platform.answer(back, "seats.seat.reserved")).data["user_id"] == "imm"
    await platform.status(account_id, "imm", "pending_activation")
    assert (await platform.seats(account_id))["summary"]["seats_used"] == 2


async def test_an_opt_in_member_is_reactivated_after_the_account_turned_opt_in_off(platform, account_id):
    """"The same process as when they were first invited" while it exists; once the account's
    opt-in is off, the refusal names the way out, and the admin's chosen activation takes it."""
    await platform.enterprise(account_id, seats_total=2)
    owner = f"{account_id}_owner"
    await platform.answer(await platform.add(account_id, "opt", activation="opt_in"), "identity.invitation.issued")
    await platform.answer(await platform.send(account_id, identity.DeactivateMember(by_user_id=owner, user_id="opt")),
                          "identity.member.status_changed")
    await platform.answer(await platform.send(account_id, identity.SetOptIn(enabled=False)),
                          "identity.account.opt_in_changed")

    as_before = await platform.send(account_id, identity.ReactivateMember(by_user_id=owner, user_id="opt"))
    refused = await platform.answer(as_before, "identity.command.rejected")
    assert refused.data["reason"] == "opt_in_not_enabled" and "activation=immediate" in refused.data["message"]
    opt_in_again = await platform.send(account_id, identity.ReactivateMember(by_user_id=owner, user_id="opt",
                                                                             activation="opt_in"))
    assert await platform.rejected(opt_in_again) == "opt_in_not_enabled"

    chosen = await platform.send(account_id, identity.ReactivateMember(by_user_id=owner, user_id="opt",
                                                                       activation="immediate"))
    assert (await platform.answer(chosen, "seats.seat.reserved")).data["user_id"] == "opt"
    await platform.status(account_id, "opt", "pending_activation")
    await platform.stack.settled()
    # Immediate now: seated at once, then the standard invitation; no opt-in link to accept first.
    issued = platform.bus.events(lambda e: e.correlationid == chosen.id and e.type == "identity.invitation.issued")
    assert [e.data["kind"] for e in issued] == ["standard"]

"""Seats answers a member's move to `pending_seat` by what moved them (the contract's `MemberMove`),
never by the free reason code: an accepted opt-in waits for `invitation.accepted`, which may buy a
seat; a reactivation is seated at once from the seats free."""

from __future__ import annotations

from datetime import date

import pytest

from crm_contracts import identity, seats

pytestmark = pytest.mark.stack

YEAR = date.today().year + 1


def pending_seat(user_id: str, *, move: identity.MemberMove | None, reason: str) -> identity.MemberStatusChanged:
    return identity.MemberStatusChanged(user_id=user_id, instance_id="ins_e", from_status="pending_opt_in",
                                        to_status="pending_seat", reason=reason, move=move)


async def test_an_opt_in_waits_for_the_acceptance_and_a_reactivation_takes_a_free_seat(account, clock, published):
    clock.day = date(YEAR, 1, 5)
    await account.fact(identity.AccountCreated(account_id=account.id, tier="enterprise",
                                               enterprise_instance_id="ins_e", owner_user_id="olive"))
    await account(seats.SetSubscription(seats_total=3, seat_price_cents=3100, currency="USD",
                                        period_start=date(YEAR, 1, 1), period_end=date(YEAR, 2, 1)))

    await account.fact(pending_seat("ann", move=identity.MemberMove.OPT_IN_ACCEPTED, reason="invitation_accepted"))
    # Published before `move` was added: the reason still names the move.
    await account.fact(pending_seat("ben", move=None, reason="invitation_accepted"))
    await account.fact(pending_seat("cy", move=identity.MemberMove.REACTIVATED, reason="reactivated"))

    assert [e["user_id"] for e in await published(account.id, "seats.seat.reserved")] == ["olive", "cy"]


def test_moved_by_reads_the_move_else_a_reason_that_names_one():
    assert pending_seat("a", move=identity.MemberMove.REACTIVATED, reason="anything").moved_by \
        is identity.MemberMove.REACTIVATED
    assert pending_seat("a", move=None, reason="invitation_accepted").moved_by is identity.MemberMove.OPT_IN_ACCEPTED
    assert pending_seat("a", move=None, reason="auto_upgrade_off").moved_by is None

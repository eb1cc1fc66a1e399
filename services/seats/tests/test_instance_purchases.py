"""Seats learns of a private instance from `identity.instance.created` and of its roster from the
`identity.instance.member_joined` events that follow it. The instance's owner belongs to it from
the first: a purchase the owner sends on reading `instance.created` is not refused because it
reached seats before the owner's `member_joined` (they travel on different topics)."""

from __future__ import annotations

from datetime import date

import pytest

from crm_contracts import identity, seats

pytestmark = pytest.mark.stack

YEAR = date.today().year + 1


async def test_the_owner_may_buy_for_an_instance_before_its_roster_reaches_seats(account, clock, published):
    clock.day = date(YEAR, 1, 5)
    await account.fact(identity.AccountCreated(account_id=account.id, tier="enterprise",
                                               enterprise_instance_id=f"ins_{account.id}", owner_user_id="olive"))
    await account(seats.SetSubscription(seats_total=2, seat_price_cents=3100, currency="USD",
                                        period_start=date(YEAR, 1, 1), period_end=date(YEAR, 2, 1)))
    team = f"ins_team_{account.id}"
    await account.fact(identity.InstanceCreated(instance_id=team, owner_user_id="olive", package="crm_only",
                                                name="Team", parsing_email=f"leads+{team}@parse.crm.example",
                                                website_id=None))

    await account(seats.PurchaseAddon(instance_id=team, addon="cma", buyer_user_id="olive"))
    [bought] = await published(account.id, "seats.addon.purchased")
    assert (bought["instance_id"], bought["addon"], bought["buyer_user_id"]) == (team, "cma", "olive")
    # The owner's member_joined arriving after changes nothing: still one add-on, bought once.
    await account.fact(identity.InstanceMemberJoined(instance_id=team, user_id="olive", role="owner"))
    await account(seats.PurchaseAddon(instance_id=team, addon="cma", buyer_user_id="olive"),
                  rejected="addon_already_active")

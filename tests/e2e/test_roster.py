"""The account's public roster for its website (AO3: display-only users "can be displayed on your
website"): display-only users and active agents, with names, roles and offices, and nothing a
website should not show."""

from __future__ import annotations

import httpx
import pytest

from crm_contracts import identity

pytestmark = pytest.mark.stack


async def test_the_website_reads_whom_the_account_shows_and_nothing_private(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=3)
    owner = platform.owner_of(acc)
    await platform.answer(await platform.send(acc, identity.CreateGroup(group_id="north", name="North Office",
                                                                        parent_group_id=None)),
                          "identity.group.created")
    await platform.answer(await platform.add(acc, "dora", activation=None, user_type="display_only",
                                             group_id="north", role="Listing coordinator"), "identity.member.added")
    await platform.active(acc, "ava", group_id="north", role="agent")
    await platform.active(acc, "ivo")
    await platform.answer(await platform.send(acc, identity.DeactivateMember(by_user_id=owner, user_id="ivo")),
                          "identity.member.status_changed")
    await platform.answer(await platform.add(acc, "pia", activation="opt_in"), "identity.invitation.issued")

    url = f"{platform.stack.http('identity')}/v1/accounts/{acc}/roster"
    async with httpx.AsyncClient(timeout=10) as client:
        shown = await client.get(url)  # no token: a website reads it
        first = (await client.get(url, params={"limit": 1})).json()
        rest = (await client.get(url, params={"limit": 1, "after": first["next"]})).json()
        after_last = (await client.get(url, params={"limit": 1, "after": rest["next"]})).json()
        missing = await client.get(f"{platform.stack.http('identity')}/v1/accounts/acc_nobody_here/roster")
    assert shown.status_code == 200 and shown.headers["cache-control"] == "public, max-age=60"
    assert shown.json()["people"] == [
        {"user_id": "ava", "first_name": "Agent", "last_name": "ava", "role": "agent", "office": "North Office",
         "display_only": False},
        {"user_id": "dora", "first_name": "Agent", "last_name": "dora", "role": "Listing coordinator",
         "office": "North Office", "display_only": True},
    ]  # not ivo (deactivated) nor pia (has not opted in)
    assert "@" not in shown.text and "status" not in shown.text
    assert [p["user_id"] for p in first["people"] + rest["people"]] == ["ava", "dora"]
    assert (after_last["people"], after_last["next"]) == ([], None)
    assert missing.status_code == 404

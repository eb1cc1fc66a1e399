"""A private instance's life after purchase, end to end: frozen when its owner is deactivated
(routing goes on for its members, invitations are refused, the account's admins are told), handed
to another member, cancelled (nothing new comes in or is bought, its leads stay readable, its
members are told)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crm_contracts import identity, organisation, seats
from routing_steps import capture, outcome

pytestmark = pytest.mark.stack


async def notified(platform, user: str, kind: str) -> list[dict]:
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.get(f"{platform.stack.http('notifications')}/v1/notifications",
                             headers=platform.stack.auth.as_user(user))
    return [i for i in r.json()["items"] if i["kind"] == kind]


async def test_a_deactivated_owners_instance_is_frozen_handed_over_and_cancelled(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=7)
    await platform.active(acc, "ada", role="admin")
    for user in ("ann", "bob", "cy", "dee", "eve"):
        await platform.active(acc, user)
    ins = (await platform.bought(acc, "ann")).data["instance_id"]
    await platform.join(acc, ins, "bob", by="ann")
    await platform.join(acc, ins, "cy", by="ann", role="admin")
    pending = await platform.answer(await platform.invite(acc, ins, "dee"), "identity.invitation.issued")

    # Frozen: the owner deactivated.
    await platform.send(acc, identity.DeactivateMember(by_user_id=f"{acc}_owner", user_id="ann"))
    [frozen] = await platform.bus.wait_event("identity.instance.frozen", where=lambda e: e.instanceid == ins)
    assert frozen.data == {"instance_id": ins, "owner_user_id": "ann", "reason": "owner_deactivated"}
    await platform.stack.settled()
    assert await platform.rejected(await platform.invite(acc, ins, "eve", by="cy")) == "instance_frozen"
    assert (await platform.click(platform.stack.auth.invitation_link(pending))).status_code != 200
    lid, _ = await capture(platform, acc, channel="manual", instance_id=ins)
    assert (await outcome(platform, lid)).data["user_id"] in {"bob", "cy"}  # routing goes on, not to ann
    assert await notified(platform, "ada", "instance_frozen")
    # The deactivated owner runs nothing of it: not its keys, its name, its members or its roster.
    keys = f"{platform.stack.http('identity')}/v1/instances/{ins}/api-keys"
    async with httpx.AsyncClient(timeout=5) as client:
        for method, url in (("GET", keys), ("POST", keys), ("GET", keys.replace("api-keys", "candidates")),
                            ("GET", keys.replace("api-keys", "members"))):
            r = await client.request(method, url, json={"name": "k"}, headers=platform.stack.auth.as_user("ann"))
            assert (r.status_code, r.json()["error"]) == (403, "member_inactive"), (method, url, r.text)
    for data in (identity.RenameInstance(instance_id=ins, name="Mine still", by_user_id="ann"),
                 identity.RemoveInstanceMember(instance_id=ins, user_id="bob", by_user_id="ann"),
                 identity.SetInstanceRole(instance_id=ins, user_id="bob", role="admin", by_user_id="ann")):
        assert await platform.rejected(await platform.send(acc, data)) == "member_inactive"

    # Handed over by an account admin, not by a member; not to someone who owns one already.
    await platform.bought(acc, "eve", "crm_only", name="Eve's")
    transfer = identity.TransferInstanceOwnership
    assert await platform.rejected(await platform.send(acc, transfer(instance_id=ins, to_user_id="cy",
                                                                     by_user_id="bob"))) == "not_instance_owner"
    assert await platform.rejected(await platform.send(acc, transfer(instance_id=ins, to_user_id="eve",
                                                                     by_user_id="ada"))) == "instance_already_owned"
    handed = await platform.answer(await platform.send(acc, transfer(instance_id=ins, to_user_id="cy",
                                                                     by_user_id="ada")),
                                   "identity.instance.ownership_transferred")
    assert (handed.data["from_user_id"], handed.data["to_user_id"]) == ("ann", "cy")
    [left] = await platform.bus.wait_event("identity.instance.member_removed",
                                           where=lambda e: e.instanceid == ins and e.data["user_id"] == "ann")
    assert left.data["reason"] == "ownership_transferred"
    await platform.answer(await platform.invite(acc, ins, "dee", by="cy"), "identity.invitation.issued")
    assert await notified(platform, "cy", "instance_ownership")

    # Cancelled by its owner: nothing new captured, changed or bought; readable; members told.
    cancelled = await platform.answer(await platform.send(acc, identity.CancelInstance(instance_id=ins,
                                                                                      by_user_id="cy")),
                                      "identity.instance.cancelled")
    until = datetime.fromisoformat(cancelled.data["read_only_until"])
    assert abs(until - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    await platform.stack.settled()
    lid, _ = await capture(platform, acc, channel="manual", instance_id=ins)
    decided = await outcome(platform, lid)
    assert (decided.type, decided.data["reason"]) == ("routing.lead.rejected", "instance_cancelled")
    assert await platform.rejected(await platform.send(acc, organisation.SetSources(
        instance_id=ins, sources=["web"], by_user_id="cy")), "routing") == "instance_cancelled"
    assert await platform.rejected(await platform.send(acc, seats.PurchaseAddon(
        instance_id=ins, addon="cma", buyer_user_id="cy")), "seats") == "instance_cancelled"
    assert await platform.rejected(await platform.send(acc, identity.RenameInstance(
        instance_id=ins, name="Again", by_user_id="cy"))) == "instance_cancelled"
    async with httpx.AsyncClient(timeout=5) as client:  # no key is issued on a cancelled instance
        r = await client.post(f"{platform.stack.http('identity')}/v1/instances/{ins}/api-keys", json={"name": "late"},
                              headers=platform.stack.auth.as_user("cy"))
    assert (r.status_code, r.json()["error"]) == (403, "instance_cancelled"), r.text
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.get(f"{platform.stack.http('routing')}/v1/instances/{ins}/pipeline",
                             headers=platform.stack.auth.as_user("bob"))
    assert r.status_code == 200 and sum(s["leads"] for s in r.json()["stages"]) == 1
    assert await notified(platform, "bob", "instance_cancelled")
    # Its owner may buy a new one: a cancelled instance is no longer theirs to count.
    await platform.bought(acc, "cy", "crm_only", name="Cy's next")

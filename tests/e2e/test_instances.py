"""Private instances end to end (PI1–PI4, PI11) through the real broker, databases and HTTP."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from crm_contracts import identity


from instance_steps import instances_of

pytestmark = pytest.mark.stack


# --- PI1, PI2, PI4: purchase -------------------------------------------------------------------------


async def test_an_active_member_buys_each_package_and_has_it_at_once(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=5)
    for user, package in (("ann", "crm_idx_team"), ("bob", "crm_only"), ("cy", "crm_idx_solo")):
        await platform.active(acc, user)
        created = await platform.bought(acc, user, package, name=f"{user}'s team")
        assert created.instanceid == created.data["instance_id"] and created.accountid == acc
        assert created.data["owner_user_id"] == user and created.data["package"] == package
        assert (created.data["website_id"] is None) == (package == "crm_only")
        assert created.data["routing"] is (package != "crm_idx_solo")
        assert created.data["parsing_email"].startswith(f"leads+{created.data['instance_id']}@")
        joined = await platform.bus.wait_event("identity.instance.member_joined", correlationid=created.correlationid)
        assert joined[0].data["user_id"] == user and joined[0].data["role"] == "owner"
        [listed] = await instances_of(platform, user, acc)
        assert listed["instance_id"] == created.data["instance_id"] and listed["owner"] and listed["role"] == "owner"
        [own] = await instances_of(platform, user, acc, kind="enterprise")
        assert not own["owner"] and own["role"] == "agent"
    emails = {e.data["parsing_email"] for e in platform.events(acc, "identity.instance.created")}
    assert len(emails) == 3


async def test_who_may_not_buy_is_told_why(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=3)
    await platform.active(acc, "ann")
    await platform.answer(await platform.add(acc, "shown", activation=None, user_type="display_only"),
                          "identity.member.added")
    await platform.answer(await platform.add(acc, "waiting", activation="opt_in"), "identity.invitation.issued")
    await platform.active(acc, "gone")
    await platform.answer(await platform.send(acc, identity.DeactivateMember(by_user_id=f"{acc}_owner", user_id="gone")),
                          "identity.member.status_changed")
    want = {"shown": "display_only_member", "waiting": "member_pending", "gone": "member_inactive",
            "stranger": "not_in_account"}
    for user, reason in want.items():
        assert await platform.rejected(await platform.buy(acc, user)) == reason, user

    await platform.bought(acc, "ann")
    assert await platform.rejected(await platform.buy(acc, "ann", "crm_only")) == "instance_already_owned"
    # The Enterprise account's owner is a user of it like any member.
    await platform.bought(acc, f"{acc}_owner", "crm_only")

    team = new_account_id()
    await platform.enterprise(team, opt_in=False, tier="team")
    assert await platform.rejected(await platform.buy(team, f"{team}_owner")) == "enterprise_required"


async def test_the_owner_sees_whom_the_instance_may_invite_from_every_group(platform, new_account_id):
    """The PI pop-up: people of the Enterprise account who can sign in and are neither in the
    instance nor invited, with their group; nobody who cannot sign in."""
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=6)
    await platform.answer(await platform.send(acc, identity.CreateGroup(group_id="north", name="North Office",
                                                                        parent_group_id=None)),
                          "identity.group.created")
    await platform.active(acc, "ann")
    await platform.active(acc, "bob", group_id="north")
    for user in ("cy", "dee", "gus"):
        await platform.active(acc, user)
    await platform.answer(await platform.add(acc, "fay", activation=None, user_type="display_only"),
                          "identity.member.added")
    await platform.answer(await platform.add(acc, "eve", activation="opt_in"), "identity.invitation.issued")
    await platform.answer(await platform.send(acc, identity.DeactivateMember(by_user_id=f"{acc}_owner", user_id="gus")),
                          "identity.member.status_changed")
    ins = (await platform.bought(acc, "ann")).data["instance_id"]
    await platform.join(acc, ins, "cy", by="ann")
    await platform.answer(await platform.invite(acc, ins, "dee"), "identity.invitation.issued")

    url = f"{platform.stack.http('identity')}/v1/instances/{ins}/candidates"
    async with httpx.AsyncClient(timeout=5) as client:
        seen = (await client.get(url, headers=platform.stack.auth.as_user("ann"))).json()
        first = (await client.get(url, params={"limit": 1}, headers=platform.stack.auth.as_user("ann"))).json()
        rest = (await client.get(url, params={"limit": 1, "after": first["next"]},
                                 headers=platform.stack.auth.as_user("ann"))).json()
        as_agent = await client.get(url, headers=platform.stack.auth.as_user("cy"))
        as_stranger = await client.get(url, headers=platform.stack.auth.as_user("bob"))
        await platform.answer(await platform.send(acc, identity.SetInstanceRole(
            instance_id=ins, user_id="cy", role="admin", by_user_id="ann")), "identity.instance.member_role_changed")
        as_admin = await client.get(url, headers=platform.stack.auth.as_user("cy"))
    owner = f"{acc}_owner"
    assert sorted((c["user_id"], c["group_name"]) for c in seen["candidates"]) == sorted(
        [("bob", "North Office"), (owner, None)])
    assert [c["user_id"] for c in first["candidates"] + rest["candidates"]] == sorted(["bob", owner])
    assert (as_agent.status_code, as_agent.json()["error"]) == (403, "not_instance_owner")
    assert as_stranger.status_code == 403
    assert as_admin.status_code == 200 and len(as_admin.json()["candidates"]) == 2


async def test_two_purchases_by_one_user_racing_make_one_instance(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc)
    await platform.active(acc, "ann")
    first, second = await asyncio.gather(platform.buy(acc, "ann"), platform.buy(acc, "ann", "crm_only"))
    answers = [await platform.bus.wait_event(t, correlationid=c.id, timeout=30)
               for c, t in ((first, "identity.instance.created"), (second, "identity.command.rejected"))]
    assert answers[1][0].data["reason"] == "instance_already_owned"
    assert len(await instances_of(platform, "ann", acc)) == 1


async def test_only_the_owner_renames_and_a_private_instance_has_no_groups(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc)
    await platform.active(acc, "ann")
    await platform.active(acc, "bob")
    ins = (await platform.bought(acc, "ann")).data["instance_id"]
    renamed = await platform.answer(
        await platform.send(acc, identity.RenameInstance(instance_id=ins, name="Ann & Co", by_user_id="ann")),
        "identity.instance.renamed")
    assert renamed.data == {"instance_id": ins, "name": "Ann & Co"}
    assert await platform.rejected(await platform.send(
        acc, identity.RenameInstance(instance_id=ins, name="Bob's now", by_user_id="bob"))) == "not_instance_owner"
    assert await platform.rejected(await platform.send(
        acc, identity.RenameInstance(instance_id=ins, name="Who?"))) == "actor_required"
    group = await platform.bus.command(identity.CreateGroup(group_id="g1", name="Office", parent_group_id=None),
                                       accountid=acc, instanceid=ins)
    assert await platform.rejected(group) == "groups_not_allowed_on_private_instance"
    other = new_account_id()
    await platform.enterprise(other)
    assert await platform.rejected(await platform.send(
        other, identity.RenameInstance(instance_id=ins, name="x", by_user_id="ann"))) == "not_in_account"
    [listed] = await instances_of(platform, "ann", acc)
    assert listed["name"] == "Ann & Co"


# --- PI3: team members -------------------------------------------------------------------------------


async def groups(platform, acc: str) -> None:
    for gid in ("north", "south"):
        await platform.answer(await platform.send(acc, identity.CreateGroup(group_id=gid, name=gid,
                                                                            parent_group_id=None)),
                              "identity.group.created")


async def test_the_owner_invites_colleagues_from_any_group_and_they_join_with_their_role(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=4)
    await groups(platform, acc)
    await platform.active(acc, "ann", group_id="north")
    await platform.active(acc, "bob", group_id="south")
    await platform.active(acc, "cy", group_id="south")
    ins = (await platform.bought(acc, "ann", name="Ann's team")).data["instance_id"]

    assert await platform.rejected(await platform.invite(acc, ins, "bob", role="lead_agent")) == "unknown_role"
    cmd = await platform.invite(acc, ins, "bob", role="lead_manager")
    issued = await platform.answer(cmd, "identity.invitation.issued")
    assert issued.data["kind"] == "instance" and issued.instanceid == ins and issued.data["role"] == "lead_manager"
    sent = await platform.answer(cmd, "notifications.email.sent")
    assert sent.data["template"] == "instance_invitation" and sent.data["to"] == "bob@example.com"
    page = await platform.click(platform.stack.auth.invitation_link(issued))
    assert page.status_code == 200, page.text
    joined = (await platform.bus.wait_event("identity.instance.member_joined",
                                            where=lambda e: e.instanceid == ins and e.data["user_id"] == "bob"))[0]
    assert joined.data["role"] == "lead_manager"
    assert joined.data["sending_email"] != joined.data["capture_email"]
    # A second use of the link is refused; a user may belong to many instances.
    assert (await platform.click(platform.stack.auth.invitation_link(issued))).status_code == 409
    bobs = (await platform.bought(acc, "bob", "crm_only", name="Bob's")).data["instance_id"]
    roles = {i["instance_id"]: i["role"] for i in await instances_of(platform, "bob", acc)}
    assert roles == {ins: "lead_manager", bobs: "owner"}
    everywhere = await instances_of(platform, "bob", acc, kind=None)
    assert len({i["capture_email"] for i in everywhere}) == len({i["sending_email"] for i in everywhere}) == 3
    # The personal e-mail and phone are the user's own, the same on every instance.
    assert len({(i["personal"]["email"], i["personal"]["phone"]) for i in everywhere}) == 1
    assert everywhere[0]["personal"]["phone"].startswith("+1555")

    # The join command does what the link does.
    issued = await platform.answer(await platform.invite(acc, ins, "cy"), "identity.invitation.issued")
    await platform.answer(await platform.send(acc, identity.JoinInstance(instance_id=ins, user_id="cy")),
                          "identity.instance.member_joined")
    assert (await platform.click(platform.stack.auth.invitation_link(issued))).status_code == 409


async def test_every_refused_invitation_names_its_reason(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=4)
    await platform.active(acc, "ann")
    await platform.active(acc, "bob")
    await platform.active(acc, "solo")
    await platform.answer(await platform.add(acc, "shown", activation=None, user_type="display_only"),
                          "identity.member.added")
    ins = (await platform.bought(acc, "ann")).data["instance_id"]
    solo = (await platform.bought(acc, "solo", "crm_idx_solo")).data["instance_id"]

    assert await platform.rejected(await platform.invite(acc, ins, "bob", by="bob")) == "not_instance_owner"
    assert await platform.rejected(await platform.invite(acc, solo, "bob", by="solo")) == \
        "solo_instance_has_no_members"
    assert await platform.rejected(await platform.invite(acc, ins, "stranger")) == "not_a_member"
    assert await platform.rejected(await platform.invite(acc, ins, "shown")) == "display_only_member"
    assert await platform.rejected(await platform.invite(acc, ins, "ann")) == "already_instance_member"
    await platform.answer(await platform.invite(acc, ins, "bob"), "identity.invitation.issued")
    assert await platform.rejected(await platform.invite(acc, ins, "bob")) == "already_invited"
    assert await platform.rejected(await platform.send(acc, identity.JoinInstance(instance_id=ins, user_id="solo"))) \
        == "not_invited"


async def test_two_invitations_accepted_at_once_both_join(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=4)
    for user in ("ann", "bob", "cy"):
        await platform.active(acc, user)
    ins = (await platform.bought(acc, "ann")).data["instance_id"]
    links = [platform.stack.auth.invitation_link(await platform.answer(await platform.invite(acc, ins, u),
                                                                  "identity.invitation.issued")) for u in ("bob", "cy")]
    pages = await asyncio.gather(*(platform.click(link) for link in links * 2))

    assert sorted(p.status_code for p in pages) == [200, 200, 409, 409]
    async with httpx.AsyncClient(timeout=5) as client:
        roster = (await client.get(f"{platform.stack.http('identity')}/v1/instances/{ins}/members",
                                   headers=platform.stack.auth.as_user("cy"))).json()["members"]
    assert sorted(m["user_id"] for m in roster) == ["ann", "bob", "cy"]
    joined = await platform.bus.wait_event("identity.instance.member_joined", count=3, where=lambda e: e.instanceid == ins)
    await platform.stack.settled()
    joined = platform.bus.events(lambda e: e.type == "identity.instance.member_joined" and e.instanceid == ins)
    assert sorted(e.data["user_id"] for e in joined) == ["ann", "bob", "cy"]


async def test_owner_removes_and_changes_roles_and_deactivation_takes_a_member_out_of_every_instance(
        platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=4)
    for user in ("ann", "bob", "cy"):
        await platform.active(acc, user)
    a = (await platform.bought(acc, "ann")).data["instance_id"]
    c = (await platform.bought(acc, "cy", "crm_only")).data["instance_id"]
    for ins, owner in ((a, "ann"), (c, "cy")):
        issued = await platform.answer(await platform.invite(acc, ins, "bob", by=owner), "identity.invitation.issued")
        await platform.click(platform.stack.auth.invitation_link(issued))
    await platform.bus.wait_event("identity.instance.member_joined", count=2,
                                  where=lambda e: e.accountid == acc and e.data["user_id"] == "bob")

    changed = await platform.answer(await platform.send(acc, identity.SetInstanceRole(
        instance_id=a, user_id="bob", role="admin", by_user_id="ann")), "identity.instance.member_role_changed")
    assert (changed.data["from_role"], changed.data["role"]) == ("agent", "admin")
    assert await platform.rejected(await platform.send(acc, identity.RemoveInstanceMember(
        instance_id=a, user_id="ann", by_user_id="ann"))) == "cannot_remove_owner"
    removed = await platform.answer(await platform.send(acc, identity.RemoveInstanceMember(
        instance_id=a, user_id="bob", by_user_id="ann")), "identity.instance.member_removed")
    assert removed.data == {"instance_id": a, "user_id": "bob", "role": "admin", "reason": "removed_by_owner"}
    assert await platform.rejected(await platform.send(acc, identity.RemoveInstanceMember(
        instance_id=a, user_id="bob", by_user_id="ann"))) == "not_instance_member"

    deactivate = await platform.send(acc, identity.DeactivateMember(by_user_id=f"{acc}_owner", user_id="bob"))
    left = await platform.answer(deactivate, "identity.instance.member_removed")
    assert left.data == {"instance_id": c, "user_id": "bob", "role": "agent", "reason": "member_deactivated"}
    assert await instances_of(platform, "bob", acc) == []
    assert await instances_of(platform, "bob", acc, kind=None) == []
    # Reactivated, bob is back in the account's own instance but in no private one until invited again.
    await platform.answer(await platform.send(acc, identity.ReactivateMember(by_user_id=f"{acc}_owner", user_id="bob")),
                          "identity.member.status_changed")
    await platform.status(acc, "bob", "pending_activation")
    assert [i["kind"] for i in await instances_of(platform, "bob", acc, kind=None)] == ["enterprise"]

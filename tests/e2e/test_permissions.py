"""Team permissions ("As the owner of this private instance team, you may set up the permissions for
the team members you invite") end to end: the three profiles, enforced by identity on the team's
membership and keys and by routing on its rules, agents and leads, each refusal naming what is
missing."""

from __future__ import annotations

import httpx
import pytest

from crm_contracts import identity, organisation, routing
from routing_steps import capture, outcome

pytestmark = pytest.mark.stack

RULES = [{"id": "everyone", "steps": [{"strategy": "round_robin"}]}]


async def test_admins_manage_the_team_lead_managers_its_leads_and_agents_their_own(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=6)
    for user in ("ann", "bob", "cy", "dee", "eve"):
        await platform.active(acc, user)
    ins = (await platform.bought(acc, "ann")).data["instance_id"]
    for user, role in (("bob", "agent"), ("cy", "lead_manager"), ("dee", "admin")):
        await platform.join(acc, ins, user, by="ann", role=role)
    await platform.stack.settled()

    async def refused(data, service: str = "identity") -> tuple[str, str]:
        event = await platform.answer(await platform.send(acc, data), f"{service}.command.rejected")
        return event.data["reason"], event.data["message"]

    # An admin does what the owner does: invites, manages keys, removes a member ...
    await platform.join(acc, ins, "eve", by="dee")
    async with httpx.AsyncClient(timeout=10) as client:
        keys = f"{platform.stack.http('identity')}/v1/instances/{ins}/api-keys"
        assert (await client.post(keys, json={"name": "dee's"}, headers=platform.stack.auth.as_user("dee"))).status_code == 201
        assert (await client.get(keys, headers=platform.stack.auth.as_user("cy"))).status_code == 403
    removed = await platform.answer(await platform.send(acc, identity.RemoveInstanceMember(
        instance_id=ins, user_id="eve", by_user_id="dee")), "identity.instance.member_removed")
    assert removed.data["reason"] == "removed_by_admin"
    # ... but not to the owner, and only with a profile that exists.
    assert (await refused(identity.SetInstanceRole(instance_id=ins, user_id="ann", role="agent", by_user_id="dee"))
            )[0] == "cannot_change_owner_role"
    assert (await refused(identity.SetInstanceRole(instance_id=ins, user_id="bob", role="boss", by_user_id="dee"))
            )[0] == "unknown_role"

    # A lead manager runs the routing rules, not the membership.
    reason, message = await refused(identity.InviteToInstance(instance_id=ins, user_id="eve", role="agent",
                                                              by_user_id="cy"))
    assert reason == "not_instance_owner" and "instance_admin" in message
    await platform.answer(await platform.send(acc, routing.SetRules(instance_id=ins, rules=RULES, version=1,
                                                                   by_user_id="cy")), "routing.rules.changed")
    await platform.answer(await platform.send(acc, routing.PauseAgent(instance_id=ins, user_id="bob",
                                                                     by_user_id="cy")), "routing.agent.paused")

    # A lead manager hands a lead to someone by hand; an agent may not.
    lid, _ = await capture(platform, acc, channel="manual", instance_id=ins)
    first = (await outcome(platform, lid)).data.get("user_id")
    to = "ann" if first != "ann" else "dee"
    given = await platform.answer(await platform.send(acc, organisation.AssignLead(
        lead_id=lid, to_user_id=to, by_user_id="cy")), "routing.lead.reassigned")
    assert (given.data["from_user_id"], given.data["to_user_id"], given.data["reason"]) == (first, to,
                                                                                            "assigned_by_hand")
    reason, message = await refused(organisation.AssignLead(lead_id=lid, to_user_id="cy", by_user_id="bob"), "routing")
    assert reason == "not_permitted" and "lead_organisation" in message
    assert (await refused(organisation.AssignLead(lead_id=lid, to_user_id="eve", by_user_id="cy"), "routing")
            )[0] == "not_eligible"  # eve left the team

    # An agent changes none of it, but may pause and resume themselves.
    reason, message = await refused(routing.SetRules(instance_id=ins, rules=RULES, version=2, by_user_id="bob"),
                                    "routing")
    assert reason == "not_permitted" and "routing_rules" in message
    reason, message = await refused(organisation.SetSources(instance_id=ins, sources=["web"], by_user_id="bob"),
                                    "routing")
    assert reason == "not_permitted" and "lead_organisation" in message
    assert (await refused(routing.PauseAgent(instance_id=ins, user_id="cy", by_user_id="bob"), "routing")
            )[0] == "not_permitted"
    await platform.answer(await platform.send(acc, routing.ResumeAgent(instance_id=ins, user_id="bob",
                                                                      by_user_id="bob")), "routing.agent.paused")

    # Made a lead manager by the admin, the agent may.
    await platform.answer(await platform.send(acc, identity.SetInstanceRole(
        instance_id=ins, user_id="bob", role="lead_manager", by_user_id="dee")), "identity.instance.member_role_changed")
    await platform.stack.settled()
    await platform.answer(await platform.send(acc, routing.SetRules(instance_id=ins, rules=RULES, version=2,
                                                                   by_user_id="bob")), "routing.rules.changed")

"""Claims, timers and escalation (R4), transfers (R6) and the read side (R5), on the live stack."""

from __future__ import annotations

import asyncio
import pytest
from crm_contracts import routing

from routing_steps import capture, decisions, get, outcome, set_rules, team

pytestmark = pytest.mark.stack


# --- claims, timers, escalation (R4) ------------------------------------------------------------------


async def test_first_to_claim_wins_and_later_claims_are_refused(platform, new_account_id):
    acc = new_account_id()
    ins = (await team(platform, acc, "bob", "cy"))["instance_id"]
    await set_rules(platform, acc, ins, [{"id": "all", "steps": [{"strategy": "first_to_claim"}]}])
    lid, _ = await capture(platform, acc, key=ins, channel="manual", instance_id=ins)
    offered = await outcome(platform, lid)
    assert offered.type == "routing.lead.offered" and sorted(offered.data["user_ids"]) == ["ann", "bob", "cy"]
    # Each of them is told, in this instance's unread count.
    for user in ("ann", "bob", "cy"):
        await platform.bus.wait_event("notifications.unread.changed", correlationid=offered.correlationid,
                                      where=lambda e, u=user: e.data["user_id"] == u and e.data["counts"].get(ins))
    claims = [await platform.send(acc, routing.ClaimLead(lead_id=lid, user_id=u)) for u in ("cy", "bob")]
    claimed = await platform.answer(claims[0], "routing.lead.claimed")
    assert claimed.data["user_id"] == "cy"
    assert await platform.rejected(claims[1], "routing") == "lead_already_claimed"
    outsider = await platform.send(acc, routing.ClaimLead(lead_id="lead_none", user_id="bob"))
    assert await platform.rejected(outsider, "routing") == "unknown_lead"
    # An assigned lead is its agent's to claim; someone outside the instance claims nothing.
    await set_rules(platform, acc, ins, [{"id": "bob", "steps": [{"strategy": "specific_agent", "agent": "bob"}]}],
                    version=2)
    lid, _ = await capture(platform, acc, key=ins, channel="manual", instance_id=ins)
    await outcome(platform, lid)
    other = await platform.send(acc, routing.ClaimLead(lead_id=lid, user_id="cy"))
    assert await platform.rejected(other, "routing") == "not_offered_to_you"
    stranger = await platform.send(acc, routing.ClaimLead(lead_id=lid, user_id="zed"))  # not of the account
    assert await platform.rejected(stranger, "routing") == "not_in_account"


async def test_an_unclaimed_lead_passes_along_the_chain_to_the_pond(platform, new_account_id):
    acc = new_account_id()
    ins = (await team(platform, acc, "bob", "cy"))["instance_id"]
    await set_rules(platform, acc, ins, [{"id": "chain", "steps": [
        {"strategy": "specific_agent", "agent": "bob", "claim_within_s": 1},
        {"strategy": "first_to_claim", "agents": ["ann", "cy"], "claim_within_s": 1}]}])
    lid, _ = await capture(platform, acc, key=ins, channel="manual", instance_id=ins)
    first = await outcome(platform, lid)
    assert first.data["user_id"] == "bob"
    offered = (await decisions(platform, lid, "routing.lead.offered", timeout=15))[0]
    assert sorted(offered.data["user_ids"]) == ["ann", "cy"]
    pooled = (await decisions(platform, lid, "routing.lead.pooled", timeout=15))[0]
    assert pooled.data["reason"] == "escalated_to_pond" and pooled.data["pond_id"] == f"pond_{ins}"
    history = (await get(platform, f"/v1/leads/{lid}"))["history"]
    assert [h["type"] for h in history] == ["routing.lead.assigned", "routing.lead.offered", "routing.lead.pooled"]
    # A member claims it from the pond.
    claimed = await platform.answer(await platform.send(acc, routing.ClaimLead(lead_id=lid, user_id="cy")),
                                    "routing.lead.claimed")
    assert claimed.data["user_id"] == "cy"


async def test_round_robin_passes_an_unclaimed_lead_to_the_next_agent(platform, new_account_id):
    acc = new_account_id()
    ins = (await team(platform, acc, "bob"))["instance_id"]
    await set_rules(platform, acc, ins, [{"id": "rr", "steps": [{"strategy": "round_robin", "claim_within_s": 1}]}])
    lid, _ = await capture(platform, acc, key=ins, channel="manual", instance_id=ins)
    first = (await outcome(platform, lid)).data["user_id"]
    moved = (await decisions(platform, lid, "routing.lead.reassigned", timeout=15))[0]
    assert moved.data["from_user_id"] == first and moved.data["to_user_id"] != first
    assert moved.data["reason"] == "not_claimed_in_time"
    pooled = (await decisions(platform, lid, "routing.lead.pooled", timeout=15))[0]
    assert pooled.data["reason"] == "escalated_to_pond"


async def test_a_claim_racing_its_timer_has_exactly_one_winner(platform, new_account_id):
    """Claims sent around the moment the timer falls due: either the claim wins (the timer then
    finds nothing to do) or the timer wins (the lead is in the pond, where the claim then takes
    it). Never both: no escalation after a claim, never two claims."""
    acc = new_account_id()
    ins = (await team(platform, acc, "bob"))["instance_id"]
    await set_rules(platform, acc, ins, [{"id": "quick", "steps": [
        {"strategy": "specific_agent", "agent": "bob", "claim_within_s": 1}]}])
    for delay in (0.8, 0.9, 1.0, 1.05, 1.1, 1.2, 1.4):
        lid, _ = await capture(platform, acc, key=ins, channel="manual", instance_id=ins)
        await outcome(platform, lid)
        await asyncio.sleep(delay)
        await platform.answer(await platform.send(acc, routing.ClaimLead(lead_id=lid, user_id="bob")),
                              "routing.lead.claimed")
        await platform.stack.settled()
        # No timer is left to fire: the claim took it, or it fired before the claim.
        kept = await get(platform, f"/v1/leads/{lid}")
        assert kept["timer"] is None and kept["lead"]["state"] == "claimed", kept
        after = [e.type for e in platform.bus.events(lambda e, lid=lid: e.data.get("lead_id") == lid
                                                     and e.source == "crm/routing")]
        # The claim or the timer won, never both: a claim before the deadline leaves no pooling, a
        # claim after it takes the lead from the pond. What routing keeps says the same.
        assert after in (["routing.lead.assigned", "routing.lead.claimed"],
                         ["routing.lead.assigned", "routing.lead.pooled", "routing.lead.claimed"]), after
        assert [h["type"] for h in kept["history"]] == after, kept


# --- transfer (R6) and the read side (R5) -------------------------------------------------------------


async def test_a_record_naming_another_accounts_instance_is_refused_not_in_account(platform, new_account_id):
    """Records stay in their account: a capture sent for account A naming account B's instance (by
    id, website or key) is rejected, and nothing lands in B."""
    a, b = new_account_id(), new_account_id()
    await platform.enterprise(a, seats_total=1)
    theirs = (await team(platform, b, "bob"))["instance_id"]
    website = (await platform.bus.wait_event("identity.instance.created", where=lambda e: e.instanceid == theirs)
               )[0].data["website_id"]
    for target in ({"channel": "manual", "instance_id": theirs}, {"channel": "website", "website_id": website}):
        lid, _ = await capture(platform, a, **target)
        decided = await outcome(platform, lid)
        assert (decided.type, decided.data["reason"]) == ("routing.lead.rejected", "not_in_account"), target
    refused = await platform.send(a, routing.SetRules(instance_id=theirs, rules=[], version=5, by_user_id="ann"))
    assert await platform.rejected(refused, "routing") == "not_in_account"
    assert (await get(platform, f"/v1/instances/{theirs}/leads"))["leads"] == []


async def test_a_lead_moves_only_into_another_instance_of_the_acting_user(platform, new_account_id):
    acc = new_account_id()
    a = (await team(platform, acc, "bob"))["instance_id"]
    b = (await platform.bought(acc, "bob", "crm_only")).data["instance_id"]
    await set_rules(platform, acc, a, [{"id": "bob", "steps": [{"strategy": "specific_agent", "agent": "bob"}]}])
    await platform.stack.settled()
    lid, _ = await capture(platform, acc, key=a, channel="manual", instance_id=a)
    assert (await outcome(platform, lid)).data["user_id"] == "bob"
    refused = [
        (routing.TransferLead(lead_id=lid, to_instance_id=a, by_user_id="bob"), "same_instance"),
        # ann organises a but is no member of b: nobody moves a lead where they cannot follow it.
        (routing.TransferLead(lead_id=lid, to_instance_id=b, by_user_id="ann"), "not_permitted"),
        (routing.TransferLead(lead_id=lid, to_instance_id="ins_nowhere", by_user_id="bob"), "unknown_instance"),
        (routing.TransferLead(lead_id=lid, to_instance_id=b, by_user_id="zed"), "not_in_account"),
    ]
    for data, reason in refused:
        assert await platform.rejected(await platform.send(acc, data), "routing") == reason
    cmd = await platform.send(acc, routing.TransferLead(lead_id=lid, to_instance_id=b, by_user_id="bob"))
    moved = await platform.answer(cmd, "routing.lead.transferred")
    assert (moved.data["from_instance_id"], moved.data["to_instance_id"]) == (a, b)
    routed = await platform.answer(cmd, "routing.lead.assigned")
    assert routed.data["instance_id"] == b and routed.data["user_id"] == "bob"
    assert lid not in [x["lead_id"] for x in (await get(platform, f"/v1/instances/{a}/leads"))["leads"]]
    assert lid in [x["lead_id"] for x in (await get(platform, f"/v1/instances/{b}/leads"))["leads"]]
    # The target's members see the lead's life in their instance only: not who had it in a, nor why.
    types = [h["type"] for h in (await get(platform, f"/v1/leads/{lid}"))["history"]]
    assert types == ["routing.lead.transferred", "routing.lead.assigned"]

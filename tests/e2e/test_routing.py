"""Lead routing per instance end to end (PI5–PI7, R1–R6) through the real broker, databases and HTTP."""

from __future__ import annotations

import asyncio
import hashlib
from itertools import pairwise
import uuid
from collections import Counter

import httpx
import pytest

from crm_contracts import identity, leads, routing

pytestmark = pytest.mark.stack


def sha256(key: str) -> str:
    """What the Open API gateway puts on the topic instead of the key."""
    return hashlib.sha256(key.encode()).hexdigest()


def lead_id() -> str:
    return "lead_" + uuid.uuid4().hex[:12]


async def capture(platform, account_id: str, *, channel: str, key: str | None = None, lead: dict | None = None,
                  **target) -> tuple[str, object]:
    """Send a captured lead as the capture channel would; its id and the command."""
    lid = lead_id()
    data = leads.LeadCaptured(lead_id=lid, channel=channel, lead=lead or {"first_name": "Lee", "zip": "94110"},
                              **target)
    cmd = await platform.bus.command(data, accountid=account_id, instanceid=key)
    return lid, cmd


async def outcome(platform, lid: str, timeout: float = 30) -> object:
    """The first routing decision about a lead (assigned, offered, pooled or rejected)."""
    found = await platform.bus.wait_for(
        lambda r: r.event is not None and r.event.type in (
            "routing.lead.assigned", "routing.lead.offered", "routing.lead.pooled", "routing.lead.rejected")
        and r.event.data.get("lead_id") == lid, timeout=timeout)
    return found[0].event


async def decisions(platform, lid: str, type_: str, count: int = 1, timeout: float = 30) -> list:
    return await platform.bus.wait_event(type_, where=lambda e: e.data.get("lead_id") == lid, count=count,
                                         timeout=timeout)


async def team(platform, acc: str, *agents: str, package: str = "crm_idx_team", owner: str = "ann") -> dict:
    """An Enterprise account whose member `owner` bought an instance that `agents` joined."""
    await platform.enterprise(acc, seats_total=len(agents) + 3)  # the owner's, ann's, the agents' and one
    for user in (owner, *agents):
        await platform.active(acc, user)
    created = (await platform.bought(acc, owner, package)).data
    for user in agents:
        await platform.join(acc, created["instance_id"], user, by=owner)
    await platform.stack.settled()
    return created


async def set_rules(platform, acc: str, instance_id: str, rules: list, version: int = 1,
                    by: str | None = None) -> object:
    """Set as the instance's owner: the account's owner for its Enterprise instance, else `team`'s."""
    from crm_identity.domain.accounts import enterprise_instance_id

    by = by or (f"{acc}_owner" if instance_id == enterprise_instance_id(acc) else "ann")
    cmd = await platform.send(acc, routing.SetRules(instance_id=instance_id, rules=rules, version=version,
                                                    by_user_id=by))
    await platform.answer(cmd, "routing.rules.changed")
    return cmd


async def get(platform, path: str) -> dict:
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.get(f"{platform.stack.http('routing')}{path}", headers=platform.stack.as_operator())
    assert r.status_code == 200, r.text
    return r.json()


# --- capture (PI6) ----------------------------------------------------------------------------------


async def test_every_channel_reaches_its_instance_and_unknown_targets_are_rejected(platform, new_account_id):
    acc = new_account_id()
    created = await team(platform, acc, "bob")
    ins = created["instance_id"]
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(f"{platform.stack.http('identity')}/v1/instances/{ins}/api-keys",
                              json={"name": "form"}, headers=platform.stack.as_user("ann"))
        key = r.json()["key"]
    await platform.stack.settled()
    cases = [
        dict(channel="website", website_id=created["website_id"]),
        dict(channel="parsing_email", parsing_email=created["parsing_email"]),
        dict(channel="open_api", api_key_sha256=sha256(key)),
        dict(channel="manual", instance_id=ins),
    ]
    for target in cases:
        lid, _ = await capture(platform, acc, key=ins, **target)
        decided = await outcome(platform, lid)
        assert decided.type == "routing.lead.assigned", (target, decided.data)
        assert decided.data["instance_id"] == ins and decided.instanceid == ins
    # Zillow: the Enterprise instance until the agent chooses; then the chosen one.
    enterprise = (await platform.bus.wait_event("identity.account.created",
                                                where=lambda e: e.accountid == acc))[0].data["enterprise_instance_id"]
    lid, _ = await capture(platform, acc, channel="zillow", user_id="bob")
    assert (await outcome(platform, lid)).data["instance_id"] == enterprise
    await platform.answer(await platform.send(acc, routing.SetZillowTarget(user_id="bob", instance_id=ins)),
                          "routing.zillow_target.changed")
    lid, _ = await capture(platform, acc, channel="zillow", user_id="bob")
    assert (await outcome(platform, lid)).data["instance_id"] == ins

    bad = [(dict(channel="website", website_id="web_nowhere"), "unknown_website"),
           (dict(channel="parsing_email", parsing_email="nobody@parse.crm.example"), "unknown_parsing_email"),
           (dict(channel="open_api", api_key_sha256=sha256("crmk_not_a_key")), "invalid_api_key"),
           (dict(channel="open_api", api_key=key), "api_key_in_clear"),  # the key itself: refused
           (dict(channel="open_api"), "missing_target"),
           (dict(channel="manual", instance_id="ins_nowhere"), "unknown_instance"),
           (dict(channel="zillow", user_id="stranger"), "unknown_user"),
           (dict(channel="website"), "missing_target")]
    for target, reason in bad:
        lid, _ = await capture(platform, acc, **target)
        decided = await outcome(platform, lid)
        assert (decided.type, decided.data["reason"]) == ("routing.lead.rejected", reason)


async def instances_of(platform, user_id: str, acc: str) -> dict[str, dict]:
    """Identity's answer to `GET /v1/instances` for the user, by instance id."""
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(f"{platform.stack.http('identity')}/v1/instances", params={"account_id": acc},
                             headers=platform.stack.as_user(user_id))
    assert r.status_code == 200, r.text
    return {i["instance_id"]: i for i in r.json()["instances"]}


async def test_the_enterprise_instance_captures_from_its_website_and_every_parsing_address(platform, new_account_id):
    """PI6/PI11 on the account's own instance: the addresses identity shows are the ones that work."""
    acc = new_account_id()
    await team(platform, acc, "bob")
    created = (await platform.bus.wait_event("identity.account.created", where=lambda e: e.accountid == acc))[0]
    enterprise = created.data["enterprise_instance_id"]
    shown_to_bob = (await instances_of(platform, "bob", acc))[enterprise]
    shown_to_ann = (await instances_of(platform, "ann", acc))[enterprise]
    assert created.data["website_id"] and shown_to_bob["website_id"] == created.data["website_id"]
    assert shown_to_bob["capture_email"] != shown_to_ann["capture_email"]
    cases = [
        dict(channel="website", website_id=created.data["website_id"]),
        dict(channel="parsing_email", parsing_email=shown_to_bob["parsing_email"]),
        dict(channel="parsing_email", parsing_email=shown_to_bob["capture_email"]),
        dict(channel="parsing_email", parsing_email=shown_to_ann["capture_email"].upper()),
    ]
    for target in cases:
        lid, _ = await capture(platform, acc, **target)
        decided = await outcome(platform, lid)
        assert decided.type == "routing.lead.assigned", (target, decided.data)
        assert decided.data["instance_id"] == enterprise, target


async def test_a_member_who_leaves_an_instance_takes_their_zillow_leads_back_to_the_enterprise_instance(
        platform, new_account_id):
    acc = new_account_id()
    created = await team(platform, acc, "bob", "cy")
    ins = created["instance_id"]
    enterprise = (await platform.bus.wait_event("identity.account.created",
                                                where=lambda e: e.accountid == acc))[0].data["enterprise_instance_id"]
    for user in ("bob", "cy"):
        await platform.answer(await platform.send(acc, routing.SetZillowTarget(user_id=user, instance_id=ins)),
                              "routing.zillow_target.changed")
    lid, _ = await capture(platform, acc, channel="zillow", user_id="bob")
    chosen = await outcome(platform, lid)
    assert chosen.data["instance_id"] == ins and chosen.data["explanation"]["target"]["reason"] == "chosen"

    # Removed by the owner: the fallback is announced, and the next lead says why it went where it did.
    await platform.send(acc, identity.RemoveInstanceMember(instance_id=ins, user_id="bob", by_user_id="ann"))
    moved = (await platform.bus.wait_event(
        "routing.zillow_target.changed", where=lambda e: e.accountid == acc and e.data["user_id"] == "bob"
        and e.data["reason"] == "left_instance"))[0]
    assert (moved.data["instance_id"], moved.data["from_instance_id"]) == (enterprise, ins)
    lid, _ = await capture(platform, acc, channel="zillow", user_id="bob")
    decided = await outcome(platform, lid)
    assert decided.data["instance_id"] == enterprise
    assert decided.data["explanation"]["target"]["reason"] == "left_instance"
    assert ins in decided.data["explanation"]["target"]["why"]

    # Deactivated in the Enterprise account: out of every private instance, Zillow leads included.
    await platform.send(acc, identity.DeactivateMember(by_user_id=f"{acc}_owner", user_id="cy"))
    await platform.bus.wait_event("routing.zillow_target.changed", where=lambda e: e.accountid == acc
                                  and e.data["user_id"] == "cy" and e.data["reason"] == "left_instance")
    lid, _ = await capture(platform, acc, channel="zillow", user_id="cy")
    decided = await outcome(platform, lid)
    assert decided.data["instance_id"] == enterprise and decided.data.get("user_id") != "cy"


async def test_a_revoked_key_opens_nothing_and_a_lead_seen_twice_is_routed_once(platform, new_account_id):
    acc = new_account_id()
    created = await team(platform, acc, "bob")
    ins = created["instance_id"]
    async with httpx.AsyncClient(timeout=10) as client:
        base = f"{platform.stack.http('identity')}/v1/instances/{ins}/api-keys"
        ann = platform.stack.as_user("ann")
        issued = (await client.post(base, json={"name": "form"}, headers=ann)).json()
        await client.delete(f"{base}/{issued['key_id']}", headers=ann)
    await platform.stack.settled()
    lid, _ = await capture(platform, acc, channel="open_api", api_key_sha256=sha256(issued["key"]))
    assert (await outcome(platform, lid)).data["reason"] == "invalid_api_key"

    data = leads.LeadCaptured(lead_id=lead_id(), channel="manual", instance_id=ins, lead={"first_name": "Twice"})
    for _ in range(2):
        await platform.bus.command(data, accountid=acc, instanceid=ins)
    again = await decisions(platform, data.lead_id, "routing.lead.rejected")
    assert again[0].data["reason"] == "duplicate_lead"
    await platform.stack.settled()
    assigned = platform.bus.events(lambda e: e.type == "routing.lead.assigned" and e.data["lead_id"] == data.lead_id)
    assert len(assigned) == 1


# --- rules and strategies (R1, R2, PI7) -------------------------------------------------------------


async def test_rule_conditions_first_match_wins_and_decisions_name_the_version(platform, new_account_id):
    acc = new_account_id()
    ins = (await team(platform, acc, "bob", "cy", "dee"))["instance_id"]
    rules = [
        {"id": "zillow", "when": {"channel": ["zillow"]}, "steps": [{"strategy": "specific_agent", "agent": "ann"}]},
        {"id": "luxury", "when": {"price_min": 1_000_000}, "steps": [{"strategy": "specific_agent", "agent": "bob"}]},
        {"id": "mission", "when": {"zip": ["94110"], "zip_prefix": ["941"]},
         "steps": [{"strategy": "specific_agent", "agent": "cy"}]},
        {"id": "hot", "when": {"tags_any": ["hot", "urgent"], "tags_all": ["buyer"], "lead_type": ["buyer"],
                               "source": ["open_house"], "price_max": 500_000},
         "steps": [{"strategy": "specific_agent", "agent": "dee"}]},
        {"id": "rest", "steps": [{"strategy": "pond"}]},
    ]
    await set_rules(platform, acc, ins, rules, version=3)
    cases = [
        ({"price": 2_000_000, "zip": "94110"}, "luxury", "bob"),
        ({"price": 300_000, "zip": "94110"}, "mission", "cy"),
        ({"zip": "94999", "price": 300_000, "tags": ["HOT", "buyer"], "lead_type": "buyer", "source": "open_house"},
         "hot", "dee"),
        ({"zip": "94999", "price": 300_000, "tags": ["hot"], "lead_type": "buyer", "source": "open_house"},
         "rest", None),  # tags_all not met
        ({"zip": "10001", "price": 600_000, "tags": ["hot", "buyer"], "lead_type": "buyer", "source": "open_house"},
         "rest", None),  # above price_max
    ]
    for lead, rule, user in cases:
        lid, _ = await capture(platform, acc, key=ins, channel="manual", instance_id=ins, lead=lead)
        decided = await outcome(platform, lid)
        assert decided.data["explanation"]["rule"] == rule, (lead, decided.data["explanation"])
        assert decided.data.get("user_id") == user and decided.data["rules_version"] == 3
        tried = decided.data["explanation"]["rules_tried"]
        assert [t["rule_id"] for t in tried][-1] == rule and all(not t["matched"] for t in tried[:-1])
        assert all(t["why"] for t in tried)


async def test_a_rule_set_is_refused_as_a_whole_with_the_first_errors_path(platform, new_account_id):
    acc = new_account_id()
    ins = (await team(platform, acc, "bob"))["instance_id"]
    bad = [
        ([{"id": "a", "steps": [{"strategy": "weighted"}]}], "rules[0].steps.0"),
        ([{"id": "a", "steps": [{"strategy": "round_robin"}]}, {"id": "b", "when": {"price_min": 5, "price_max": 1},
                                                                 "steps": [{"strategy": "pond"}]}], "rules[1].when"),
        ([{"id": "a", "when": {"colour": ["red"]}, "steps": [{"strategy": "pond"}]}], "rules[0].when.colour"),
        ([{"id": "a", "steps": []}], "rules[0].steps"),
    ]
    for rules, path in bad:
        cmd = await platform.send(acc, routing.SetRules(instance_id=ins, rules=rules, version=1, by_user_id="ann"))
        rejected = await platform.answer(cmd, "routing.command.rejected")
        assert rejected.data["reason"] == "invalid_rules" and rejected.data["message"].startswith(path), \
            rejected.data["message"]
    await set_rules(platform, acc, ins, [{"id": "a", "steps": [{"strategy": "pond"}]}], version=2)
    stale = await platform.send(acc, routing.SetRules(instance_id=ins, rules=[], version=2, by_user_id="ann"))
    assert await platform.rejected(stale, "routing") == "stale_version"
    # The default rule was added, the set kept with its version.
    changed = platform.bus.events(lambda e: e.type == "routing.rules.changed" and e.instanceid == ins)[-1]
    assert [r["id"] for r in changed.data["rules"]] == ["a"] or changed.data["rules"][-1]["id"].startswith("default")


async def test_round_robin_is_fair_and_weighted_is_proportional(platform, new_account_id):
    acc = new_account_id()
    ins = (await team(platform, acc, "bob", "cy"))["instance_id"]
    await set_rules(platform, acc, ins, [
        {"id": "w", "when": {"source": ["ads"]}, "steps": [{"strategy": "weighted", "weights": {"bob": 3, "cy": 1}}]},
        {"id": "rr", "steps": [{"strategy": "round_robin"}]}])
    rr, w = [], []
    for _ in range(9):
        rr.append((await capture(platform, acc, key=ins, channel="manual", instance_id=ins))[0])
    for _ in range(8):
        w.append((await capture(platform, acc, key=ins, channel="manual", instance_id=ins,
                                lead={"source": "ads"}))[0])
    rr_users = [(await outcome(platform, lid)).data["user_id"] for lid in rr]
    w_users = [(await outcome(platform, lid)).data["user_id"] for lid in w]
    assert Counter(rr_users) == {"ann": 3, "bob": 3, "cy": 3}
    assert all(a != b for a, b in pairwise(rr_users))  # a rotation, not runs
    assert Counter(w_users) == {"bob": 6, "cy": 2}
    explanation = (await outcome(platform, rr[0])).data["explanation"]
    assert "position" in explanation["chosen"]["why"] and len(explanation["candidates"]) == 3


async def test_only_active_unpaused_members_of_the_instance_get_leads(platform, new_account_id):
    acc = new_account_id()
    ins = (await team(platform, acc, "bob", "cy", "dee"))["instance_id"]
    # Someone in the account but not the instance, a pending member, a paused one, a deactivated one.
    await platform.active(acc, "eve")
    await platform.answer(await platform.add(acc, "pat", activation="opt_in"), "identity.invitation.issued")
    await platform.answer(await platform.send(acc, routing.PauseAgent(instance_id=ins, user_id="cy", by_user_id="ann")),
                          "routing.agent.paused")
    await platform.answer(await platform.send(acc, identity.DeactivateMember(by_user_id=f"{acc}_owner", user_id="dee")),
                          "identity.instance.member_removed")
    await platform.stack.settled()
    users = set()
    for _ in range(6):
        lid, _ = await capture(platform, acc, key=ins, channel="manual", instance_id=ins)
        decided = await outcome(platform, lid)
        users.add(decided.data["user_id"])
    assert users == {"ann", "bob"}
    why = {c["user_id"]: c["why"] for c in decided.data["explanation"]["candidates"]}
    assert "paused" in why["cy"] and "eve" not in why and "dee" not in why
    refused = await platform.send(acc, routing.PauseAgent(instance_id=ins, user_id="eve", by_user_id="ann"))
    assert await platform.rejected(refused, "routing") == "not_instance_member"
    await platform.answer(await platform.send(acc, routing.ResumeAgent(instance_id=ins, user_id="cy", by_user_id="ann")),
                          "routing.agent.paused")
    for _ in range(3):
        lid, _ = await capture(platform, acc, key=ins, channel="manual", instance_id=ins)
        users.add((await outcome(platform, lid)).data["user_id"])
    assert users == {"ann", "bob", "cy"}


async def test_a_solo_instance_sends_every_lead_to_its_owner_and_has_no_rules(platform, new_account_id):
    acc = new_account_id()
    created = await team(platform, acc, owner="sol", package="crm_idx_solo")
    ins = created["instance_id"]
    lid, _ = await capture(platform, acc, key=ins, channel="website", website_id=created["website_id"])
    decided = await outcome(platform, lid)
    assert decided.data["user_id"] == "sol" and decided.data["strategy"] == "owner"
    cmd = await platform.send(acc, routing.SetRules(instance_id=ins, rules=[], version=1, by_user_id="sol"))
    assert await platform.rejected(cmd, "routing") == "routing_not_available"


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


# --- durability and replicas ---------------------------------------------------------------------


async def handled_leads(platform, replica: int) -> float:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{platform.stack.http('routing', replica)}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("crm_messages_handled_total") and 'topic="leads.captured.v1"' in line)


async def test_timers_pending_when_routing_is_killed_fire_once_after_it_returns(platform, new_account_id):

    if not platform.stack.owns_parts:
        pytest.skip("the services are not ours to kill")
    acc = new_account_id()
    ins = (await team(platform, acc, "bob"))["instance_id"]
    await set_rules(platform, acc, ins, [{"id": "slow", "steps": [
        {"strategy": "specific_agent", "agent": "bob", "claim_within_s": 2}]}])
    ids = []
    for _ in range(5):
        lid, _ = await capture(platform, acc, key=ins, channel="manual", instance_id=ins)
        ids.append(lid)
    for lid in ids:
        assert (await outcome(platform, lid)).data["user_id"] == "bob"
    await platform.stack.settled()
    platform.stack.stop_service("routing", kill=True)
    try:
        for _ in range(100):
            if platform.stack.service_pid("routing") is None:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.5)  # every timer falls due while routing is down
    finally:
        platform.stack.start_service("routing")
        await platform.stack.wait_healthy("routing")
    for lid in ids:
        pooled = await decisions(platform, lid, "routing.lead.pooled", timeout=20)
        assert pooled[0].data["reason"] == "escalated_to_pond"
    await platform.stack.settled()
    for lid in ids:  # no timer is left that could fire again
        assert (await get(platform, f"/v1/leads/{lid}"))["timer"] is None
        assert len(platform.bus.events(lambda e, lid=lid: e.type == "routing.lead.pooled"
                                       and e.data["lead_id"] == lid)) == 1


def partition_of(key: str, partitions: int = 6) -> int:
    from aiokafka.partitioner import DefaultPartitioner

    return DefaultPartitioner()(key.encode(), list(range(partitions)), list(range(partitions)))


async def held(platform, replica: int, topic: str = "leads.captured.v1") -> set[int]:
    return set((await platform.stack.health("routing", replica) or {}).get("partitions", {}).get(topic, []))


@pytest.mark.local_stack
async def test_two_routing_replicas_share_one_rotation_fairly(platform):
    """The leads of one instance arrive keyed by instance (when the sender knows it) or by account:
    with an account whose two keys fall on partitions of different replicas, both replicas route
    that instance's leads at once, taking turns on its rotation row."""
    from crm_identity.domain.accounts import enterprise_instance_id

    if not platform.stack.owns_parts:
        pytest.skip("the services are not ours to start")
    platform.stack.start_service("routing", replica=2)
    try:
        await platform.stack.wait_healthy("routing", replica=2)
        for _ in range(100):  # until the group has handed the new member its share
            one, two = await held(platform, 1), await held(platform, 2)
            if one and two and not one & two:
                break
            await asyncio.sleep(0.2)
        acc = next(a for a in ("acc_" + uuid.uuid4().hex[:12] for _ in range(1000))
                   if partition_of(a) in one and partition_of(enterprise_instance_id(a)) in two)
        ins = enterprise_instance_id(acc)
        await platform.enterprise(acc, seats_total=3)
        for user in ("bob", "cy"):
            await platform.active(acc, user)
        await platform.stack.settled()
        await set_rules(platform, acc, ins, [{"id": "rr", "steps": [{"strategy": "round_robin"}]}])
        before = [await handled_leads(platform, r) for r in (1, 2)]
        sent = await asyncio.gather(*(capture(platform, acc, key=ins if i % 2 else None, channel="manual",
                                              instance_id=ins) for i in range(100)))
        users = Counter([(await outcome(platform, lid, timeout=60)).data["user_id"] for lid, _ in sent])
        after = [await handled_leads(platform, r) for r in (1, 2)]
    finally:
        platform.stack.stop_service("routing", replica=2)
    assert sum(users.values()) == 100 and max(users.values()) - min(users.values()) <= 1, users
    assert after[0] - before[0] >= 50 and after[1] - before[1] >= 50, (before, after)  # both routed half


async def test_random_interleavings_on_the_live_stack_keep_leads_in_their_instance(platform, new_account_id):
    """The property of services/routing/tests/test_isolation.py, through Kafka and PostgreSQL:
    pauses, resumes, a deactivation and leads across three instances with overlapping members."""
    import random

    acc = new_account_id()
    await platform.enterprise(acc, seats_total=6)
    for user in ("ann", "bob", "cy", "dee"):
        await platform.active(acc, user)
    a = (await platform.bought(acc, "ann")).data["instance_id"]
    b = (await platform.bought(acc, "bob", "crm_only")).data["instance_id"]
    c = (await platform.bought(acc, "cy")).data["instance_id"]
    members = {a: {"ann", "bob", "cy"}, b: {"bob", "dee"}, c: {"cy", "ann", "dee"}}
    owners = {a: "ann", b: "bob", c: "cy"}
    for ins, people in members.items():
        for user in people - {owners[ins]}:
            await platform.join(acc, ins, user, by=owners[ins])
    await platform.stack.settled()
    rng = random.Random(20261124)
    paused: set[tuple[str, str]] = set()
    active = {"ann", "bob", "cy", "dee"}
    checked = 0
    for step in range(45):
        ins = rng.choice(list(members))
        roll = rng.random()
        if step == 30:  # dee is deactivated: out of every private instance, and not active
            await platform.answer(await platform.send(acc, identity.DeactivateMember(by_user_id=f"{acc}_owner", user_id="dee")),
                                  "identity.member.status_changed")
            active.discard("dee")
            for people in members.values():
                people.discard("dee")
            await platform.stack.settled()
        elif roll < 0.3:
            user = rng.choice(sorted(members[ins]))
            pause = (ins, user) not in paused
            cmd = routing.PauseAgent if pause else routing.ResumeAgent
            await platform.answer(await platform.send(acc, cmd(instance_id=ins, user_id=user, by_user_id=owners[ins])),
                                  "routing.agent.paused")
            (paused.add if pause else paused.discard)((ins, user))
        else:
            lid, _ = await capture(platform, acc, key=ins, channel="manual", instance_id=ins)
            decided = await outcome(platform, lid)
            eligible = {u for u in members[ins] if u in active and (ins, u) not in paused}
            assert decided.data["instance_id"] == ins
            if decided.type == "routing.lead.assigned":
                assert decided.data["user_id"] in eligible, (step, decided.data, eligible)
            else:
                assert decided.type == "routing.lead.pooled" and not eligible, (step, decided.data, eligible)
            checked += 1
    assert checked >= 20
    for ins in members:
        listed = (await get(platform, f"/v1/instances/{ins}/leads"))["leads"]
        assert all(x["user_id"] in members[ins] | {"dee"} | {None} for x in listed)

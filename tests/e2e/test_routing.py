"""Lead routing per instance end to end (PI5–PI7, R1–R3): capture, rules and strategies, through the real broker, databases and HTTP."""

from __future__ import annotations

from itertools import pairwise
from collections import Counter
import httpx
import pytest
from crm_contracts import identity, leads, routing

from routing_steps import capture, decisions, lead_id, outcome, set_rules, sha256, team

pytestmark = pytest.mark.stack


# --- capture (PI6) ----------------------------------------------------------------------------------


async def test_every_channel_reaches_its_instance_and_unknown_targets_are_rejected(platform, new_account_id):
    acc = new_account_id()
    created = await team(platform, acc, "bob")
    ins = created["instance_id"]
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(f"{platform.stack.http('identity')}/v1/instances/{ins}/api-keys",
                              json={"name": "form"}, headers=platform.stack.auth.as_user("ann"))
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
                             headers=platform.stack.auth.as_user(user_id))
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
        ann = platform.stack.auth.as_user("ann")
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

"""Lead routing per instance end to end (PI5–PI7, R1–R6) through the real broker, databases and HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx
import pytest

from crm_contracts import identity, leads, routing

pytestmark = pytest.mark.stack


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
    await platform.enterprise(acc, seats_total=len(agents) + 2)
    for user in (owner, *agents):
        await platform.active(acc, user)
    created = (await platform.bought(acc, owner, package)).data
    for user in agents:
        await platform.join(acc, created["instance_id"], user, by=owner)
    await platform.stack.settled()
    return created


async def set_rules(platform, acc: str, instance_id: str, rules: list, version: int = 1) -> object:
    cmd = await platform.send(acc, routing.SetRules(instance_id=instance_id, rules=rules, version=version))
    await platform.answer(cmd, "routing.rules.changed")
    return cmd


async def get(platform, path: str) -> dict:
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.get(f"{platform.stack.http('routing')}{path}")
    assert r.status_code == 200, r.text
    return r.json()


# --- capture (PI6) ----------------------------------------------------------------------------------


async def test_every_channel_reaches_its_instance_and_unknown_targets_are_rejected(platform, new_account_id):
    acc = new_account_id()
    created = await team(platform, acc, "bob")
    ins = created["instance_id"]
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(f"{platform.stack.http('identity')}/v1/instances/{ins}/api-keys",
                              json={"name": "form", "by_user_id": "ann"})
        key = r.json()["key"]
    await platform.stack.settled()
    cases = [
        dict(channel="website", website_id=created["website_id"]),
        dict(channel="parsing_email", parsing_email=created["parsing_email"]),
        dict(channel="open_api", api_key=key),
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
           (dict(channel="open_api", api_key="crmk_not_a_key"), "invalid_api_key"),
           (dict(channel="manual", instance_id="ins_nowhere"), "unknown_instance"),
           (dict(channel="zillow", user_id="stranger"), "unknown_user"),
           (dict(channel="website"), "missing_target")]
    for target, reason in bad:
        lid, _ = await capture(platform, acc, **target)
        decided = await outcome(platform, lid)
        assert (decided.type, decided.data["reason"]) == ("routing.lead.rejected", reason)


async def test_a_revoked_key_opens_nothing_and_a_lead_seen_twice_is_routed_once(platform, new_account_id):
    acc = new_account_id()
    created = await team(platform, acc, "bob")
    ins = created["instance_id"]
    async with httpx.AsyncClient(timeout=10) as client:
        base = f"{platform.stack.http('identity')}/v1/instances/{ins}/api-keys"
        issued = (await client.post(base, json={"name": "form", "by_user_id": "ann"})).json()
        await client.delete(f"{base}/{issued['key_id']}", params={"by_user_id": "ann"})
    await platform.stack.settled()
    lid, _ = await capture(platform, acc, channel="open_api", api_key=issued["key"])
    assert (await outcome(platform, lid)).data["reason"] == "invalid_api_key"

    data = leads.LeadCaptured(lead_id=lead_id(), channel="manual", instance_id=ins, lead={"first_name": "Twice"})
    for _ in range(2):
        await platform.bus.command(data, accountid=acc, instanceid=ins)
    again = await decisions(platform, data.lead_id, "routing.lead.rejected")
    assert again[0].data["reason"] == "duplicate_lead"
    await platform.stack.settled()
    assigned = platform.bus.events(lambda e: e.type == "routing.lead.assigned" and e.data["lead_id"] == data.lead_id)
    assert len(assigned) == 1

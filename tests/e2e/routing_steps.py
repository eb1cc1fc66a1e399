"""What the routing tests do on the live stack: capture a lead as a channel would, wait for its
decision, build a team instance, set rules, issue an instance's Open API key."""

from __future__ import annotations

import hashlib
import uuid
import httpx
from crm_contracts import leads, routing


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
        r = await client.get(f"{platform.stack.http('routing')}{path}", headers=platform.stack.auth.as_operator())
    assert r.status_code == 200, r.text
    return r.json()


async def issue_key(platform, instance_id: str, user: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{platform.stack.http('identity')}/v1/instances/{instance_id}/api-keys",
                                 json={"name": "crm sync"}, headers=platform.stack.auth.as_user(user))

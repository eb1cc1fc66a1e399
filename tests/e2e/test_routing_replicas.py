"""Routing's durability and replicas: timers across a kill, two replicas sharing a rotation, random interleavings."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from collections import Counter
import httpx
import pytest
from crm_contracts import identity, routing

from crm_devstack.waiting import eventually
from routing_steps import capture, decisions, get, outcome, set_rules, team

pytestmark = pytest.mark.stack


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
    due = max([datetime.fromisoformat((await get(platform, f"/v1/leads/{lid}"))["timer"]["due_at"]) for lid in ids])
    platform.stack.services.stop("routing", kill=True)
    try:
        await eventually(lambda: platform.stack.services.pid("routing") is None, timeout=5, every=0.05,
                         what="routing gone")
        # Live processes keep the wall clock: wait out the last deadline the leads show, so every
        # timer falls due while routing is down (the deadline logic itself is moved by a fixed clock
        # in services/routing/tests/test_timers.py).
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.1)
    finally:
        platform.stack.services.start("routing")
        await platform.stack.health.wait("routing")
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
    return set((await platform.stack.health.of("routing", replica) or {}).get("partitions", {}).get(topic, []))


@pytest.mark.local_stack
async def test_two_routing_replicas_share_one_rotation_fairly(platform):
    """The leads of one instance arrive keyed by instance (when the sender knows it) or by account:
    with an account whose two keys fall on partitions of different replicas, both replicas route
    that instance's leads at once, taking turns on its rotation row."""
    from crm_identity.domain.accounts import enterprise_instance_id

    if not platform.stack.owns_parts:
        pytest.skip("the services are not ours to start")
    platform.stack.services.start("routing", replica=2)
    try:
        await platform.stack.health.wait("routing", replica=2)
        async def shared() -> tuple[set[int], set[int]] | None:
            one, two = await held(platform, 1), await held(platform, 2)
            return (one, two) if one and two and not one & two else None

        one, two = await eventually(shared, timeout=20, every=0.2, what="the group handing the new member its share")
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
        platform.stack.services.stop("routing", replica=2)
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

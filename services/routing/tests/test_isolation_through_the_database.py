"""PI5, R3 through routing's real handlers, SQL and target resolution: whatever happens to
memberships, statuses and pauses across instances of two accounts that share user ids, a lead
captured by an instance's website or parsing address is only ever given to an eligible member of
that instance. (`test_isolation.py` checks the routing rules alone, on a roster it builds; this
one lets routing build the roster from the events, as it does live.)"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_contracts import command, event_caused_by, identity, leads, routing
from crm_contracts.identity import MemberStatus
from crm_routing import repository
from crm_routing.handlers import handlers
from crm_runtime import db
from crm_runtime.batches import BatchProcessor
from crm_runtime.settings import ServiceSettings
from crm_testing.databases import scratch_database

pytestmark = pytest.mark.stack

# Two instances of account A and one of account B; the same user ids in both accounts.
INSTANCES = {"a1": "A", "a2": "A", "b1": "B"}
USERS = ["u1", "u2", "u3"]
STATUSES = [s.value for s in MemberStatus] + ["active", "active"]  # active more often than not
STRATEGIES = [
    [{"id": "rr", "steps": [{"strategy": "round_robin"}]}],
    [{"id": "all", "steps": [{"strategy": "first_to_claim"}]}],
    [{"id": "one", "steps": [{"strategy": "specific_agent", "agent": "u2"},
                             {"strategy": "round_robin", "agents": ["u1", "u3", "u9"]}]}],
]
DECIDED = ("routing.lead.assigned", "routing.lead.offered", "routing.lead.pooled")

ops = st.one_of(
    st.tuples(st.just("join"), st.sampled_from(sorted(INSTANCES)), st.sampled_from(USERS)),
    st.tuples(st.just("leave"), st.sampled_from(sorted(INSTANCES)), st.sampled_from(USERS)),
    st.tuples(st.just("status"), st.sampled_from(["A", "B"]), st.tuples(st.sampled_from(USERS),
                                                                          st.sampled_from(STATUSES))),
    st.tuples(st.just("pause"), st.sampled_from(sorted(INSTANCES)), st.sampled_from(USERS)),
    st.tuples(st.just("resume"), st.sampled_from(sorted(INSTANCES)), st.sampled_from(USERS)),
    st.tuples(st.just("lead"), st.sampled_from(sorted(INSTANCES)), st.sampled_from(["website", "parsing_email"])),
)


@pytest.fixture(scope="module")
async def processor(stack):
    async with scratch_database(stack, "crm_routing_isolation", [("routing", db.migrations_of("crm_routing"))],
                                max_size=2) as pool:
        yield BatchProcessor("routing", handlers, None, group="isolation-test", settings=ServiceSettings(), pool=pool)


class World:
    """One example's two accounts, three instances, and the model of who may get their leads."""

    def __init__(self, processor: BatchProcessor) -> None:
        self.processor, self.tag = processor, uuid.uuid4().hex[:8]
        self.accounts = {a: f"acc_iso_{a}_{self.tag}" for a in ("A", "B")}
        self.instances = {i: f"ins_{i}_{self.tag}" for i in INSTANCES}
        self.members: dict[str, set[str]] = {i: set() for i in INSTANCES}
        self.status: dict[tuple[str, str], str] = {}
        self.paused: set[tuple[str, str]] = set()

    def account_of(self, instance: str) -> str:
        return self.accounts[INSTANCES[instance]]

    async def event(self, instance_or_account: str, data, **attrs) -> None:
        acc = self.accounts.get(instance_or_account) or self.account_of(instance_or_account)
        cause = command(identity.SetOptIn(enabled=True), source="test", accountid=acc)
        outcome = await self.processor.handle_message(event_caused_by(cause, data, source="crm/identity", **attrs))
        assert outcome.name == "handled", outcome

    async def command(self, instance: str, data) -> str:
        outcome = await self.processor.handle_message(
            command(data, source="test", accountid=self.account_of(instance), instanceid=self.instances[instance]))
        return outcome.name

    async def start(self, rules: list) -> None:
        for i, ins in self.instances.items():
            await self.event(i, identity.InstanceCreated(
                instance_id=ins, owner_user_id="owner", package="crm_idx_team", name=i,
                parsing_email=f"{ins}@leads.example", website_id=f"web_{ins}"), instanceid=ins)
            # The owner (kept off the roster, so the model's eligible agents stay u1-u3) acts as an active
            # person of the account.
            await self.event(i, identity.MemberStatusChanged(user_id="owner", instance_id=ins, from_status="active", to_status="active",
                                                             reason="reactivated"))
            assert await self.command(i, routing.SetRules(instance_id=ins, rules=rules, version=1,
                                                                        by_user_id="owner")) == "handled"

    def eligible(self, i: str) -> set[str]:
        return {u for u in self.members[i]
                if self.status.get((INSTANCES[i], u)) == "active" and (i, u) not in self.paused}

    async def apply(self, op: str, a: str, b) -> tuple[str, set[str]] | None:
        if op == "join":
            await self.event(a, identity.InstanceMemberJoined(instance_id=self.instances[a], user_id=b, role="agent"),
                             instanceid=self.instances[a])
            self.members[a].add(b)
        elif op == "leave":
            await self.event(a, identity.InstanceMemberRemoved(instance_id=self.instances[a], user_id=b, role="agent"),
                             instanceid=self.instances[a])
            self.members[a].discard(b)
            self.paused.discard((a, b))
        elif op == "status":
            user, to = b
            await self.event(a, identity.MemberStatusChanged(user_id=user, instance_id=f"ent_{self.tag}",
                                                             from_status="active", to_status=to, reason="test"))
            self.status[(a, user)] = to
        elif op in ("pause", "resume"):
            model = routing.PauseAgent if op == "pause" else routing.ResumeAgent
            answered = await self.command(a, model(instance_id=self.instances[a], user_id=b, by_user_id="owner"))
            assert answered == ("handled" if b in self.members[a] else "rejected"), (op, a, b, answered)
            if answered == "handled":
                (self.paused.add if op == "pause" else self.paused.discard)((a, b))
        else:
            lead_id = f"lead_{self.tag}_{uuid.uuid4().hex[:6]}"
            target = ({"website_id": f"web_{self.instances[a]}"} if b == "website"
                      else {"parsing_email": f"{self.instances[a]}@leads.example"})
            assert await self.command(a, leads.LeadCaptured(lead_id=lead_id, channel=b, lead={}, **target)) == "handled"
            return lead_id, self.eligible(a)
        return None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(history=st.lists(ops, min_size=8, max_size=40), rules=st.sampled_from(STRATEGIES))
async def test_a_lead_never_leaves_its_instance_nor_reaches_an_ineligible_agent(processor, history, rules):
    world = World(processor)
    await world.start(rules)
    for op, a, b in history:
        captured = await world.apply(op, a, b)
        if captured is None:
            continue
        lead_id, eligible = captured
        async with processor.pool.acquire() as conn:
            found = await repository.leads.lead_with_history(conn, lead_id)
        assert found is not None and found["lead"]["instance_id"] == world.instances[a], found
        [decision] = [h for h in found["history"] if h["type"] in DECIDED]
        given_to = set(decision["data"].get("user_ids") or
                       ([decision["data"]["user_id"]] if decision["data"].get("user_id") else []))
        assert given_to <= eligible, (a, decision, eligible)
        if decision["type"] == "routing.lead.pooled" and rules[0]["id"] != "one":
            assert not eligible, (a, decision, eligible)  # pooled although someone could take it

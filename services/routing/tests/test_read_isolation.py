"""Who reads what, through routing's real handlers, SQL and HTTP endpoints: whatever statuses,
memberships, captures and commands by random people happen across two accounts (that share user
ids) and three instances, no read by anyone ever returns a lead of another account or of an
instance they are not in, and nobody who cannot sign in reads anything."""

from __future__ import annotations

import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from crm_contracts import command, event_caused_by, identity, leads, organisation, routing
from crm_routing.handlers import handlers
from crm_routing.web import routes
from crm_runtime import db
from crm_runtime.auth import Caller
from crm_runtime.batches import BatchProcessor
from crm_runtime.handlers import platform_time
from crm_runtime.settings import ServiceSettings
from crm_testing.databases import scratch_database

pytestmark = pytest.mark.stack

INSTANCES = {"aE": "A", "a1": "A", "bE": "B"}  # two Enterprise instances, one private
PEOPLE = ["u1", "u2", "u3"]  # the same ids in both accounts
STATUSES = ["active", "active", "inactive", "display_only", "pending_opt_in"]

instances, people = st.sampled_from(sorted(INSTANCES)), st.sampled_from(PEOPLE)
ops = st.one_of(
    st.tuples(st.just("status"), st.sampled_from(["A", "B"]), people, st.sampled_from(STATUSES)),
    st.tuples(st.just("join"), instances, people, st.sampled_from(["agent", "lead_manager"])),
    st.tuples(st.just("leave"), instances, people, st.just(None)),
    st.tuples(st.just("capture"), instances, st.sampled_from(["manual", "foreign"]), st.just(None)),
    st.tuples(st.just("tag"), instances, people, st.integers(0, 20)),
    st.tuples(st.just("transfer"), instances, people, st.integers(0, 20)),
)


class Verifier:
    """Bearer `<user>` is that user: the token checks are the runtime's, tested on their own."""

    configured = True

    async def verify(self, token: str) -> Caller:
        return Caller(user_id=token)


@pytest.fixture(scope="module")
async def service(stack):
    async with scratch_database(stack, "crm_routing_reads", [("routing", db.migrations_of("crm_routing"))],
                                max_size=3) as pool:
        processor = BatchProcessor("routing", handlers, None, group="reads-test", settings=ServiceSettings(),
                                   pool=pool)
        app = Starlette(routes=routes())
        app.state.service = type("Svc", (), {"pool": pool, "processor": processor, "clock": staticmethod(platform_time)})()
        app.state.verifier = Verifier()
        yield processor, app


class World:
    def __init__(self, processor: BatchProcessor) -> None:
        self.processor, self.tag = processor, uuid.uuid4().hex[:8]
        self.accounts = {a: f"acc_rd_{a}_{self.tag}" for a in ("A", "B")}
        self.ids = {i: f"ins_{i}_{self.tag}" for i in INSTANCES}
        self.status = {(a, u): "active" for a in ("A", "B") for u in PEOPLE}
        self.members: dict[str, set[str]] = {i: set() for i in INSTANCES}
        self.where: dict[str, str] = {}  # lead id → the instance it is in

    def account_of(self, i: str) -> str:
        return self.accounts[INSTANCES[i]]

    async def event(self, account: str, data, **attrs) -> None:
        cause = command(identity.SetOptIn(enabled=True), source="test", accountid=account)
        outcome = await self.processor.handle_message(event_caused_by(cause, data, source="crm/identity", **attrs))
        assert outcome.name == "handled", outcome

    async def send(self, account: str, data) -> str:
        return (await self.processor.handle_message(command(data, source="test", accountid=account))).name

    async def start(self) -> None:
        for a, acc in self.accounts.items():
            enterprise = self.ids["aE" if a == "A" else "bE"]
            await self.event(acc, identity.AccountCreated(account_id=acc, tier="enterprise", owner_user_id=f"own_{a}",
                                                          enterprise_instance_id=enterprise))
            for u in PEOPLE:
                await self.event(acc, identity.MemberStatusChanged(user_id=u, instance_id=enterprise,
                                                                   from_status="pending_activation",
                                                                   to_status="active", reason="t"))
        await self.event(self.accounts["A"], identity.InstanceCreated(
            instance_id=self.ids["a1"], owner_user_id="own_A", package="crm_idx_team", name="a1",
            parsing_email="a1@leads.example", website_id=None), instanceid=self.ids["a1"])

    def lead(self, i: str, n: int) -> str | None:
        mine = sorted(lid for lid, at in self.where.items() if at == i)
        return mine[n % len(mine)] if mine else None

    async def apply(self, op: str, i: str, who: str, arg) -> None:
        if op == "status":
            acc = self.accounts[i]
            await self.event(acc, identity.MemberStatusChanged(user_id=who, instance_id="x", from_status="active",
                                                               to_status=arg, reason="t"))
            self.status[(i, who)] = arg
        elif op in ("join", "leave"):
            data = (identity.InstanceMemberJoined(instance_id=self.ids[i], user_id=who, role=arg) if op == "join"
                    else identity.InstanceMemberRemoved(instance_id=self.ids[i], user_id=who, role="agent"))
            await self.event(self.account_of(i), data, instanceid=self.ids[i])
            (self.members[i].add if op == "join" else self.members[i].discard)(who)
        elif op == "capture":
            lead_id = f"lead_{self.tag}_{uuid.uuid4().hex[:6]}"
            # "foreign": sent for the other account, naming this instance: it must land nowhere.
            sender = self.account_of(i) if who == "manual" else self.accounts["B" if INSTANCES[i] == "A" else "A"]
            await self.send(sender, leads.LeadCaptured(lead_id=lead_id, channel="manual", instance_id=self.ids[i],
                                                       lead={"first_name": "L"}))
            if who == "manual":
                self.where[lead_id] = i
        elif (lead_id := self.lead(i, arg)) is not None:
            if op == "tag":
                await self.send(self.account_of(i), organisation.TagLead(lead_id=lead_id, add=["t"], by_user_id=who))
            else:
                goal = {"aE": "a1", "a1": "aE", "bE": "aE"}[i]  # bE → aE crosses accounts: always refused
                if await self.send(self.account_of(i), routing.TransferLead(
                        lead_id=lead_id, to_instance_id=self.ids[goal], by_user_id=who)) == "handled":
                    self.where[lead_id] = goal

    def may_read(self, who: str, i: str) -> bool:
        return self.status[(INSTANCES[i], who)] == "active" and who in self.members[i]

    async def check_reads(self, app) -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
            for who in PEOPLE:
                for i, ins in self.ids.items():
                    r = await client.get(f"/v1/instances/{ins}/leads", headers={"Authorization": f"Bearer {who}"})
                    if not self.may_read(who, i):
                        assert r.status_code == 403, (who, i, r.text)
                        continue
                    assert r.status_code == 200, (who, i, r.text)
                    got = {x["lead_id"] for x in r.json()["leads"]}
                    assert got == {lid for lid, at in self.where.items() if at == i}, (who, i)
                for lead_id, i in self.where.items():
                    r = await client.get(f"/v1/leads/{lead_id}", headers={"Authorization": f"Bearer {who}"})
                    assert r.status_code == (200 if self.may_read(who, i) else 403), (who, i, r.text)
                    if r.status_code == 200:
                        assert {h["instance_id"] for h in r.json()["history"]} <= {self.ids[i]}, (who, i)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(history=st.lists(ops, min_size=4, max_size=25))
async def test_no_read_returns_another_accounts_or_a_foreign_instances_leads(service, history):
    processor, app = service
    world = World(processor)
    await world.start()
    for op, i, who, arg in history:
        await world.apply(op, i, who, arg)
    await world.check_reads(app)

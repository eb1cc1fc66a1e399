"""Lead organisation through routing's real handlers and SQL: whatever pipelines, sources,
segments, stages, tags, captures and transfers happen across two instances of one account and one
of another, nothing of one instance's organisation ever appears in, or changes, another's — and
every lead is always in a stage of its own instance's pipeline."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm_contracts import command, event_caused_by, identity, leads, organisation, routing
from crm_routing.handlers import handlers
from crm_runtime import db
from crm_runtime.batches import BatchProcessor
from crm_runtime.settings import ServiceSettings
from crm_testing.databases import scratch_database

pytestmark = pytest.mark.stack

INSTANCES = {"a1": "A", "a2": "A", "b1": "B"}
STAGES = ["new", "contacted", "won", "lost", "s1", "s2"]
TAGS = ["hot", "vip", "cold"]
SOURCES = ["website", "manual", "open_house", "radio"]

instances = st.sampled_from(sorted(INSTANCES))
ops = st.one_of(
    st.tuples(st.just("capture"), instances, st.fixed_dictionaries(
        {"tags": st.lists(st.sampled_from(TAGS), unique=True, max_size=2),
         "source": st.sampled_from(SOURCES), "price": st.integers(0, 2_000_000)})),
    st.tuples(st.just("pipeline"), instances, st.lists(st.sampled_from(STAGES), unique=True, min_size=1, max_size=5)),
    st.tuples(st.just("sources"), instances, st.lists(st.sampled_from(SOURCES), unique=True, min_size=1)),
    st.tuples(st.just("segment"), instances, st.tuples(st.sampled_from(["s_a", "s_b"]),
                                                       st.lists(st.sampled_from(TAGS), unique=True, min_size=1))),
    st.tuples(st.just("stage"), instances, st.tuples(st.integers(0, 50), st.sampled_from(STAGES))),
    st.tuples(st.just("tag"), instances, st.tuples(st.integers(0, 50), st.sampled_from(TAGS))),
    st.tuples(st.just("transfer"), st.sampled_from(["a1", "a2"]), st.integers(0, 50)),
)


@pytest.fixture(scope="module")
async def processor(stack):
    async with scratch_database(stack, "crm_routing_organisation", [("routing", db.migrations_of("crm_routing"))],
                                max_size=2) as pool:
        yield BatchProcessor("routing", handlers, None, group="organisation-test", settings=ServiceSettings(),
                             pool=pool)


class World:
    def __init__(self, processor: BatchProcessor) -> None:
        self.processor, self.tag = processor, uuid.uuid4().hex[:8]
        self.accounts = {a: f"acc_org_{a}_{self.tag}" for a in ("A", "B")}
        self.ids = {i: f"ins_{i}_{self.tag}" for i in INSTANCES}
        self.leads: dict[str, list[str]] = {i: [] for i in INSTANCES}  # by the instance they are in
        self.captured_tags: dict[str, tuple[str, ...]] = {}

    def account_of(self, instance: str) -> str:
        return self.accounts[INSTANCES[instance]]

    async def event(self, instance: str, data, **attrs) -> None:
        cause = command(identity.SetOptIn(enabled=True), source="test", accountid=self.account_of(instance))
        outcome = await self.processor.handle_message(event_caused_by(cause, data, source="crm/identity", **attrs))
        assert outcome.name == "handled", outcome

    async def command(self, instance: str, data) -> str:
        outcome = await self.processor.handle_message(
            command(data, source="test", accountid=self.account_of(instance), instanceid=self.ids[instance]))
        return outcome.name

    async def start(self) -> None:
        for i, ins in self.ids.items():
            await self.event(i, identity.InstanceCreated(
                instance_id=ins, owner_user_id="owner", package="crm_idx_team", name=i,
                parsing_email=f"{ins}@leads.example", website_id=f"web_{ins}"), instanceid=ins)
            await self.event(i, identity.InstanceMemberJoined(instance_id=ins, user_id="owner", role="owner"),
                             instanceid=ins)
        for acc in ("A", "B"):
            await self.event("a1" if acc == "A" else "b1", identity.MemberStatusChanged(
                user_id="owner", instance_id="x", from_status="pending_activation", to_status="active", reason="t"))

    async def snapshot(self, instance: str) -> dict:
        ins = self.ids[instance]
        async with self.processor.pool.acquire() as conn:
            stages = await conn.fetch("SELECT stage_id, name, position FROM pipeline_stages WHERE instance_id = $1 "
                                      "ORDER BY position", ins)
            sources = await conn.fetch("SELECT source FROM lead_sources WHERE instance_id = $1 ORDER BY position", ins)
            segments = await conn.fetch("SELECT segment_id, name, filter::text FROM segments WHERE instance_id = $1 "
                                        "ORDER BY segment_id", ins)
            held = await conn.fetch("SELECT lead_id, stage_id, source, tags FROM leads WHERE instance_id = $1", ins)
        return {"stages": [tuple(r) for r in stages], "sources": [r[0] for r in sources],
                "segments": [tuple(r) for r in segments],
                "leads": {r["lead_id"]: (r["stage_id"], r["source"], tuple(r["tags"])) for r in held}}

    def lead(self, instance: str, n: int) -> str | None:
        mine = self.leads[instance]
        return mine[n % len(mine)] if mine else None

    async def apply(self, op: str, i: str, arg) -> str | None:
        """Run one operation on instance `i`; the lead it moved out of `i`, if any."""
        ins, by = self.ids[i], "owner"
        if op == "capture":
            lead_id = f"lead_{self.tag}_{uuid.uuid4().hex[:6]}"
            await self.command(i, leads.LeadCaptured(lead_id=lead_id, channel="manual", instance_id=ins, lead=arg))
            self.leads[i].append(lead_id)
            self.captured_tags[lead_id] = tuple(arg["tags"])
        elif op == "pipeline":
            async with self.processor.pool.acquire() as conn:
                used = {r[0] for r in await conn.fetch(
                    "SELECT DISTINCT stage_id FROM leads WHERE instance_id = $1", ins)}
            await self.command(i, organisation.SetPipeline(
                instance_id=ins, stages=[{"stage_id": s, "name": s.title()} for s in arg], by_user_id=by,
                move_leads={s: arg[0] for s in used if s not in arg}))
        elif op == "sources":
            await self.command(i, organisation.SetSources(instance_id=ins, sources=arg, by_user_id=by))
        elif op == "segment":
            await self.command(i, organisation.SetSegment(instance_id=ins, segment_id=arg[0], name=arg[0],
                                                          filter={"tags_any": arg[1]}, by_user_id=by))
        elif op in ("stage", "tag") and (lead_id := self.lead(i, arg[0])) is not None:
            data = (organisation.MoveLeadStage(lead_id=lead_id, stage_id=arg[1], by_user_id=by) if op == "stage"
                    else organisation.TagLead(lead_id=lead_id, add=[arg[1]], by_user_id=by))
            await self.command(i, data)
        elif op == "transfer" and (lead_id := self.lead(i, arg)) is not None:
            other = "a2" if i == "a1" else "a1"
            if await self.command(i, routing.TransferLead(lead_id=lead_id, to_instance_id=self.ids[other],
                                                          by_user_id=by)) == "handled":
                self.leads[i].remove(lead_id)
                self.leads[other].append(lead_id)
                return lead_id
        return None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(history=st.lists(ops, min_size=5, max_size=30))
# A lead tagged and moved along a1's pipeline, then transferred into a2, whose pipeline differs.
@example(history=[("capture", "a1", {"tags": ["hot"], "source": "radio", "price": 1}),
                  ("pipeline", "a2", ["won", "new"]), ("tag", "a1", (0, "vip")), ("stage", "a1", (0, "lost")),
                  ("transfer", "a1", 0)])
async def test_one_instances_organisation_never_reaches_another(processor, history):
    world = World(processor)
    await world.start()
    for op, i, arg in history:
        before = {j: await world.snapshot(j) for j in INSTANCES}
        moved = await world.apply(op, i, arg)
        after = {j: await world.snapshot(j) for j in INSTANCES}
        for j in INSTANCES:
            if j == i:
                continue
            then, now = before[j], dict(after[j])
            if moved is not None and j == {"a1": "a2", "a2": "a1"}[i]:  # the transferred lead arrives with the target's first stage and its own tags
                stage, _, tags = now["leads"].pop(moved)
                assert stage == now["stages"][0][0], (op, i, j)
                assert tags == world.captured_tags[moved], (op, i, j)
            assert now == then, (op, i, arg, j)
        for j in INSTANCES:
            kept = {s[0] for s in after[j]["stages"]}
            assert all(stage in kept for stage, _, _ in after[j]["leads"].values()), (op, i, j, after[j])

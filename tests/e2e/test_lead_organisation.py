"""Lead organisation per instance (the Private Instance document's "their own lead organization,
such as the Pipeline and Segments"), end to end through the real broker, database and HTTP: the
pipeline and its stages, sources, tags, segments, and who may change them."""

from __future__ import annotations

import httpx
import pytest

from crm_contracts import identity, organisation
from routing_steps import capture, outcome, team

pytestmark = pytest.mark.stack

DEFAULT = ["new", "contacted", "appointment", "under_contract", "closed", "lost"]


async def read(platform, path: str, user: str, **params) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(f"{platform.stack.http('routing')}{path}", params=params,
                                headers=platform.stack.auth.as_user(user))


async def ok(platform, path: str, user: str = "ann", **params) -> dict:
    r = await read(platform, path, user, **params)
    assert r.status_code == 200, r.text
    return r.json()


async def refused(platform, acc: str, data) -> str:
    return await platform.rejected(await platform.send(acc, data), "routing")


async def test_a_team_runs_its_own_pipeline_sources_tags_and_segments(platform, new_account_id):
    acc = new_account_id()
    ins = (await team(platform, acc, "bob", "cy"))["instance_id"]
    elsewhere = (await platform.bought(acc, "cy", "crm_only", name="Cy's")).data["instance_id"]  # a second team
    base = f"/v1/instances/{ins}"
    got = await ok(platform, f"{base}/pipeline")
    assert [(s["stage_id"], s["leads"]) for s in got["stages"]] == [(s, 0) for s in DEFAULT]
    assert (await ok(platform, f"{base}/sources"))["sources"] == [
        "website", "zillow", "parsing_email", "open_api", "manual"]

    # Sources: a lead's own source counts once the instance lists it; before, its channel does.
    first, _ = await capture(platform, acc, channel="manual", instance_id=ins,
                             lead={"first_name": "A", "source": "open_house", "tags": ["hot"], "price": 700_000})
    assigned_to = (await outcome(platform, first)).data["user_id"]
    await platform.answer(await platform.send(acc, organisation.SetSources(
        instance_id=ins, sources=["open_house", "manual", "website"], by_user_id="ann")), "routing.sources.changed")
    second, _ = await capture(platform, acc, channel="manual", instance_id=ins,
                              lead={"first_name": "B", "source": "open_house", "price": 400_000})
    third, _ = await capture(platform, acc, channel="manual", instance_id=ins,
                             lead={"first_name": "C", "source": "billboard", "tags": ["hot"], "price": 900_000})
    for lid in (second, third):
        await outcome(platform, lid)
    leads = {lead["lead_id"]: lead for lead in (await ok(platform, f"{base}/leads"))["leads"]}
    assert {lid: (leads[lid]["stage_id"], leads[lid]["source"]) for lid in (first, second, third)} == {
        first: ("new", "manual"), second: ("new", "open_house"), third: ("new", "manual")}

    # A lead's stage and tags: its agent may; another agent may not, naming the permission.
    outsider = next(u for u in ("bob", "cy") if u != assigned_to)
    moved = await platform.answer(await platform.send(acc, organisation.MoveLeadStage(
        lead_id=first, stage_id="contacted", by_user_id=assigned_to)), "routing.lead.stage_changed")
    assert (moved.data["from_stage_id"], moved.data["stage_id"], moved.instanceid) == ("new", "contacted", ins)
    assert await refused(platform, acc, organisation.MoveLeadStage(
        lead_id=first, stage_id="closed", by_user_id=outsider)) == "not_permitted"
    assert await refused(platform, acc, organisation.MoveLeadStage(
        lead_id=first, stage_id="nowhere", by_user_id="ann")) == "unknown_stage"
    tagged = await platform.answer(await platform.send(acc, organisation.TagLead(
        lead_id=second, add=["hot", "vip"], by_user_id="ann")), "routing.lead.tags_changed")
    assert tagged.data["tags"] == ["hot", "vip"]
    tagged = await platform.answer(await platform.send(acc, organisation.TagLead(
        lead_id=second, remove=["vip"], by_user_id="ann")), "routing.lead.tags_changed")
    assert tagged.data["tags"] == ["hot"]

    # The pipeline: renamed, added, reordered, removed only when empty or with somewhere to go.
    stages = [{"stage_id": "nurture", "name": "Nurture"}, {"stage_id": "new", "name": "New"},
              {"stage_id": "contacted", "name": "Called"}, {"stage_id": "closed", "name": "Closed"}]
    assert await refused(platform, acc, organisation.SetPipeline(
        instance_id=ins, stages=stages[:1] + stages[2:], by_user_id="ann")) == "stage_not_empty"
    changed = await platform.answer(await platform.send(acc, organisation.SetPipeline(
        instance_id=ins, stages=stages, by_user_id="ann")), "routing.pipeline.changed")
    assert changed.data["moved"] == []
    got = await ok(platform, f"{base}/pipeline")
    assert [(s["stage_id"], s["name"], s["leads"]) for s in got["stages"]] == [
        ("nurture", "Nurture", 0), ("new", "New", 2), ("contacted", "Called", 1), ("closed", "Closed", 0)]
    changed = await platform.answer(await platform.send(acc, organisation.SetPipeline(
        instance_id=ins, stages=stages[:1] + stages[2:], move_leads={"new": "nurture"}, by_user_id="ann")),
        "routing.pipeline.changed")
    assert changed.data["moved"] == [{"from_stage_id": "new", "to_stage_id": "nurture", "leads": 2}]
    # A new lead starts in the first stage, whatever it is now.
    fourth, _ = await capture(platform, acc, channel="manual", instance_id=ins,
                              lead={"first_name": "D", "price": 800_000})
    await outcome(platform, fourth)
    leads = {lead["lead_id"]: lead for lead in (await ok(platform, f"{base}/leads"))["leads"]}
    assert leads[fourth]["stage_id"] == "nurture"

    # An agent does not organise; a lead manager does.
    assert await refused(platform, acc, organisation.SetSegment(
        instance_id=ins, segment_id="hot", name="Hot", filter={"tags_any": ["hot"]}, by_user_id="bob")
    ) == "not_permitted"
    await platform.answer(await platform.send(acc, identity.SetInstanceRole(
        instance_id=ins, user_id="bob", role="lead_manager", by_user_id="ann")), "identity.instance.member_role_changed")
    await platform.stack.settled()
    await platform.answer(await platform.send(acc, organisation.SetSegment(
        instance_id=ins, segment_id="hot_pricey", name="Hot and over $600k",
        filter={"tags_any": ["hot"], "price_min": 600_000}, by_user_id="bob")), "routing.segment.changed")
    page = await ok(platform, f"{base}/segments/hot_pricey/leads", limit=1)
    rest = await ok(platform, f"{base}/segments/hot_pricey/leads", limit=1, cursor=page["next"])
    assert [lead["lead_id"] for lead in page["leads"] + rest["leads"]] == [third, first]
    end = await ok(platform, f"{base}/segments/hot_pricey/leads", limit=1, cursor=rest["next"])
    assert end["leads"] == [] and end["next"] is None

    # Nothing of it reaches the other instance of the same account.
    there = f"/v1/instances/{elsewhere}"
    assert [s["stage_id"] for s in (await ok(platform, f"{there}/pipeline", user="cy"))["stages"]] == DEFAULT
    assert (await ok(platform, f"{there}/segments", user="cy"))["segments"] == []
    assert (await read(platform, f"{there}/segments/hot_pricey/leads", "cy")).status_code == 404
    assert (await read(platform, f"{base}/pipeline", "dee")).status_code == 403


async def test_on_the_enterprise_instance_account_admins_organise_and_agents_do_not(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=3)
    await platform.active(acc, "ada", role="admin")
    await platform.active(acc, "abe")
    await platform.stack.settled()
    enterprise = (await platform.bus.wait_event("identity.account.created",
                                                where=lambda e: e.accountid == acc))[0].data["enterprise_instance_id"]
    stages = [{"stage_id": "lead", "name": "Lead"}, {"stage_id": "client", "name": "Client"}]
    assert await refused(platform, acc, organisation.SetPipeline(
        instance_id=enterprise, stages=stages, by_user_id="abe")) == "not_permitted"
    await platform.answer(await platform.send(acc, organisation.SetPipeline(
        instance_id=enterprise, stages=stages, by_user_id="ada")), "routing.pipeline.changed")
    got = await ok(platform, f"/v1/instances/{enterprise}/pipeline", user="abe")
    assert [s["stage_id"] for s in got["stages"]] == ["lead", "client"]
    await platform.send(acc, identity.DeactivateMember(by_user_id=f"{acc}_owner", user_id="ada"))
    await platform.bus.wait_event("identity.member.status_changed", where=lambda e: e.accountid == acc
                                  and e.data["user_id"] == "ada" and e.data["to_status"] == "inactive")
    await platform.stack.settled()
    assert await refused(platform, acc, organisation.SetPipeline(
        instance_id=enterprise, stages=stages[:1], move_leads={"client": "lead"}, by_user_id="ada")) == "member_inactive"

"""Lead organisation per instance: its pipeline, sources and segments; a lead's stage and tags.
Every command names who acts (`by_user_id`); `domain/policy.py` decides whether they may."""

from __future__ import annotations

from typing import Any

from crm_contracts.organisation import (
    ActsOnLead,
    AssignLead,
    Contact,
    LeadStageChanged,
    LeadTagsChanged,
    LeadUpdated,
    MoveLeadStage,
    PipelineChanged,
    RemoveSegment,
    SegmentChanged,
    SetPipeline,
    SetSegment,
    SetSources,
    SourcesChanged,
    StageMove,
    TagLead,
    UpdateLead,
)
from crm_contracts.routing import LeadAssigned, LeadReassigned
from crm_runtime.handlers import HandlerContext, Handlers, Rejected

from .. import repository
from ..domain.router import eligibility
from .claims import load_lead
from .gate import key_permitted, lead_in_account, permitted

handlers = Handlers()


async def _lead(ctx: HandlerContext, cmd: ActsOnLead) -> dict[str, Any]:
    """The lead, locked, once whoever acts may work it: a person by the policy, an Open API key
    when it is its instance's and not revoked."""
    lead = await load_lead(ctx, cmd.lead_id)
    lead_in_account(ctx, lead)
    if cmd.via_api_key is not None:
        await key_permitted(ctx, lead, cmd.via_api_key)
    else:
        await permitted(ctx, lead["instance_id"], cmd.by_user_id, lead=lead)
    return lead


def _actor(cmd: ActsOnLead) -> dict[str, str | None]:
    return {"by_user_id": cmd.by_user_id, "via_api_key": cmd.via_api_key}


@handlers.on(SetPipeline)
async def set_pipeline(ctx: HandlerContext, cmd: SetPipeline) -> None:
    await permitted(ctx, cmd.instance_id, cmd.by_user_id)
    kept = {s.stage_id for s in cmd.stages}
    if bad := sorted(f"{a} → {b}" for a, b in cmd.move_leads.items() if b not in kept or a in kept):
        raise Rejected("invalid_move", "leads move from a removed stage to a kept one: " + ", ".join(bad))
    moved = await repository.organisation.replace_pipeline(ctx.conn, cmd.instance_id, [(s.stage_id, s.name) for s in cmd.stages],
                                              cmd.move_leads)
    if isinstance(moved, list):
        raise Rejected("stage_not_empty", "; ".join(
            f"stage {stage} still has {n} lead(s): name a stage to move them to in move_leads" for stage, n in moved))
    await ctx.emit(PipelineChanged(instance_id=cmd.instance_id, stages=cmd.stages, by_user_id=cmd.by_user_id,
                                   moved=[StageMove(from_stage_id=a, to_stage_id=cmd.move_leads[a], leads=n)
                                          for a, n in sorted(moved.items())]),
                   instanceid=cmd.instance_id)


@handlers.on(MoveLeadStage)
async def move_lead_stage(ctx: HandlerContext, cmd: MoveLeadStage) -> None:
    lead = await _lead(ctx, cmd)
    if not await repository.organisation.stage_exists(ctx.conn, lead["instance_id"], cmd.stage_id):
        raise Rejected("unknown_stage", f"instance {lead['instance_id']} has no stage {cmd.stage_id}")
    await repository.organisation.set_stage(ctx.conn, cmd.lead_id, cmd.stage_id)
    await ctx.emit(LeadStageChanged(lead_id=cmd.lead_id, instance_id=lead["instance_id"],
                                    from_stage_id=lead["stage_id"], stage_id=cmd.stage_id, **_actor(cmd)),
                   subject=cmd.lead_id, instanceid=lead["instance_id"])


@handlers.on(TagLead)
async def tag_lead(ctx: HandlerContext, cmd: TagLead) -> None:
    lead = await _lead(ctx, cmd)
    tags = [t for t in lead["tags"] if t not in cmd.remove] + [t for t in cmd.add if t not in lead["tags"]]
    if len(tags) > 100:
        raise Rejected("too_many_tags", f"a lead has at most 100 tags; this would make {len(tags)}")
    await repository.organisation.set_tags(ctx.conn, cmd.lead_id, tags)
    await ctx.emit(LeadTagsChanged(lead_id=cmd.lead_id, instance_id=lead["instance_id"], tags=tags, **_actor(cmd)),
                   subject=cmd.lead_id, instanceid=lead["instance_id"])


@handlers.on(UpdateLead)
async def update_lead(ctx: HandlerContext, cmd: UpdateLead) -> None:
    lead = await _lead(ctx, cmd)
    given = cmd.contact.model_dump(exclude_none=True)
    changed = {k: v for k, v in given.items() if lead["lead"].get(k) != v}
    if changed:
        await repository.organisation.update_contact(ctx.conn, cmd.lead_id, changed)
    await ctx.emit(LeadUpdated(lead_id=cmd.lead_id, instance_id=lead["instance_id"], contact=Contact(**changed),
                               **_actor(cmd)), subject=cmd.lead_id, instanceid=lead["instance_id"])


@handlers.on(AssignLead)
async def assign_lead(ctx: HandlerContext, cmd: AssignLead) -> None:
    lead = await load_lead(ctx, cmd.lead_id)
    lead_in_account(ctx, lead)
    instance_id = lead["instance_id"]
    await permitted(ctx, instance_id, cmd.by_user_id)
    ok, why = eligibility((await repository.roster.roster(ctx.conn, instance_id)).get(cmd.to_user_id), cmd.to_user_id)
    if not ok:
        raise Rejected("not_eligible", f"{cmd.to_user_id}: {why}")
    previous = lead["user_id"]
    if previous == cmd.to_user_id and lead["state"] in ("assigned", "claimed"):
        raise Rejected("already_assigned", f"lead {cmd.lead_id} is {cmd.to_user_id}'s already")
    explanation = {"chosen": {"user_id": cmd.to_user_id, "why": f"assigned by hand by {cmd.by_user_id}"}}
    await repository.leads.save_lead(ctx.conn, cmd.lead_id, instance_id=instance_id, state="assigned",
                               user_id=cmd.to_user_id, offered_to=[], tried=[*lead["tried"], cmd.to_user_id],
                               rule_id="manual", step=0, rules_version=lead["rules_version"])
    await repository.leads.take_timer(ctx.conn, cmd.lead_id)
    data = (LeadReassigned(lead_id=cmd.lead_id, instance_id=instance_id, from_user_id=previous,
                           to_user_id=cmd.to_user_id, reason="assigned_by_hand", explanation=explanation)
            if previous else
            LeadAssigned(lead_id=cmd.lead_id, instance_id=instance_id, user_id=cmd.to_user_id, rule_id="manual",
                         strategy="by_hand", explanation=explanation))
    event = await ctx.emit(data, subject=cmd.lead_id, instanceid=instance_id)
    await repository.leads.log(ctx.conn, cmd.lead_id, instance_id, event.type, event.data)


@handlers.on(SetSources)
async def set_sources(ctx: HandlerContext, cmd: SetSources) -> None:
    await permitted(ctx, cmd.instance_id, cmd.by_user_id)
    await repository.organisation.replace_sources(ctx.conn, cmd.instance_id, cmd.sources)
    await ctx.emit(SourcesChanged(instance_id=cmd.instance_id, sources=cmd.sources, by_user_id=cmd.by_user_id),
                   instanceid=cmd.instance_id)


@handlers.on(SetSegment)
async def set_segment(ctx: HandlerContext, cmd: SetSegment) -> None:
    await permitted(ctx, cmd.instance_id, cmd.by_user_id)
    await repository.organisation.save_segment(ctx.conn, cmd.instance_id, cmd.segment_id, cmd.name,
                                  cmd.filter.model_dump(mode="json", exclude_none=True))
    await ctx.emit(SegmentChanged(instance_id=cmd.instance_id, segment_id=cmd.segment_id, name=cmd.name,
                                  filter=cmd.filter, by_user_id=cmd.by_user_id), instanceid=cmd.instance_id)


@handlers.on(RemoveSegment)
async def remove_segment(ctx: HandlerContext, cmd: RemoveSegment) -> None:
    await permitted(ctx, cmd.instance_id, cmd.by_user_id)
    if not await repository.organisation.remove_segment(ctx.conn, cmd.instance_id, cmd.segment_id):
        raise Rejected("unknown_segment", f"instance {cmd.instance_id} has no segment {cmd.segment_id}")
    await ctx.emit(SegmentChanged(instance_id=cmd.instance_id, segment_id=cmd.segment_id, removed=True,
                                  by_user_id=cmd.by_user_id), instanceid=cmd.instance_id)

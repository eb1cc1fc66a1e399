"""An instance's rules, agents paused and resumed, a member's Zillow target, leads moved between instances."""

from __future__ import annotations


from crm_contracts.routing import (
    AgentPaused,
    LeadTransferred,
    PauseAgent,
    ResumeAgent,
    BusinessHoursChanged,
    RollbackRules,
    RulesChanged,
    SetBusinessHours,
    SetRules,
    SetZillowTarget,
    TransferLead,
    ZillowTargetChanged,
)
from crm_runtime.handlers import HandlerContext, Handlers, Rejected

from .. import repository
from ..domain import business_hours as open_hours
from ..domain import rules as rulebook
from ..domain.router import rotation_keys
from .claims import load_lead
from .gate import instance_of, lead_in_account, permitted, transfer_permitted
from .leads import route

handlers = Handlers()


@handlers.on(SetRules)
async def set_rules(ctx: HandlerContext, cmd: SetRules) -> None:
    instance = await permitted(ctx, cmd.instance_id, cmd.by_user_id)
    if not instance["routing"]:
        raise Rejected("routing_not_available", f"a {instance['package']} instance has no routing: its owner gets every lead")
    parsed = rulebook.parse(cmd.rules, cmd.version)
    current = await repository.leads.latest_rules(ctx.conn, cmd.instance_id)
    rulebook.check_next_version(cmd.version, current["version"] if current else None)
    await _make_current(ctx, cmd.instance_id, parsed, cmd.by_user_id)


async def _make_current(ctx: HandlerContext, instance_id: str, parsed: rulebook.RuleSet, by_user_id: str | None,
                        rolled_back_from: int | None = None) -> None:
    await repository.leads.insert_rules(ctx.conn, instance_id, parsed.version, parsed.as_json(), by_user_id,
                                  rolled_back_from)
    await repository.leads.seed_rotation(ctx.conn, instance_id, rotation_keys(parsed))
    await ctx.emit(RulesChanged(instance_id=instance_id, version=parsed.version, rules=parsed.as_json(),
                                by_user_id=by_user_id, rolled_back_from=rolled_back_from), instanceid=instance_id)


@handlers.on(SetBusinessHours)
async def set_business_hours(ctx: HandlerContext, cmd: SetBusinessHours) -> None:
    await permitted(ctx, cmd.instance_id, cmd.by_user_id)
    hours = open_hours.parse(cmd.time_zone, cmd.week, cmd.holidays).as_json()
    await repository.leads.set_business_hours(ctx.conn, cmd.instance_id, hours)
    await ctx.emit(BusinessHoursChanged(instance_id=cmd.instance_id, **hours), instanceid=cmd.instance_id)


@handlers.on(RollbackRules)
async def rollback_rules(ctx: HandlerContext, cmd: RollbackRules) -> None:
    instance = await permitted(ctx, cmd.instance_id, cmd.by_user_id)
    if not instance["routing"]:
        raise Rejected("routing_not_available", f"a {instance['package']} instance has no routing: its owner gets every lead")
    old = await repository.leads.rules_version(ctx.conn, cmd.instance_id, cmd.version)
    current = await repository.leads.latest_rules(ctx.conn, cmd.instance_id)
    if old is None or current is None:
        raise Rejected("unknown_version", f"instance {cmd.instance_id} never had rules version {cmd.version}")
    if cmd.version == current["version"]:
        raise Rejected("already_current", f"version {cmd.version} is the current one")
    await _make_current(ctx, cmd.instance_id, rulebook.parse(old["rules"], current["version"] + 1), cmd.by_user_id,
                        rolled_back_from=cmd.version)


async def _pause(ctx: HandlerContext, instance_id: str, user_id: str, paused: bool, by_user_id: str | None) -> None:
    await permitted(ctx, instance_id, by_user_id, about_user_id=user_id)
    if not await repository.roster.is_member(ctx.conn, instance_id, user_id):
        raise Rejected("not_instance_member", f"{user_id} is not a member of instance {instance_id}")
    await repository.roster.set_paused(ctx.conn, instance_id, user_id, paused)
    await ctx.emit(AgentPaused(instance_id=instance_id, user_id=user_id, paused=paused), instanceid=instance_id,
                   subject=user_id)


@handlers.on(PauseAgent)
async def pause_agent(ctx: HandlerContext, cmd: PauseAgent) -> None:
    await _pause(ctx, cmd.instance_id, cmd.user_id, True, cmd.by_user_id)


@handlers.on(ResumeAgent)
async def resume_agent(ctx: HandlerContext, cmd: ResumeAgent) -> None:
    await _pause(ctx, cmd.instance_id, cmd.user_id, False, cmd.by_user_id)


@handlers.on(SetZillowTarget)
async def set_zillow_target(ctx: HandlerContext, cmd: SetZillowTarget) -> None:
    await permitted(ctx, cmd.instance_id, cmd.user_id, about_user_id=cmd.user_id)
    if not await repository.roster.is_member(ctx.conn, cmd.instance_id, cmd.user_id):
        raise Rejected("not_instance_member", f"{cmd.user_id} is not a member of instance {cmd.instance_id}")
    await repository.roster.set_zillow_target(ctx.conn, ctx.message.accountid, cmd.user_id, cmd.instance_id)
    await ctx.emit(ZillowTargetChanged(user_id=cmd.user_id, instance_id=cmd.instance_id),
                   instanceid=cmd.instance_id, subject=cmd.user_id)


@handlers.on(TransferLead)
async def transfer_lead(ctx: HandlerContext, cmd: TransferLead) -> None:
    """R6: by the lead's holder or its instance's organisers, into another instance they belong to;
    the Enterprise account's leads go to a private instance only by its admins; then routed by the
    target's rules."""
    lead = await load_lead(ctx, cmd.lead_id)
    lead_in_account(ctx, lead)
    if cmd.to_instance_id == lead["instance_id"]:
        raise Rejected("same_instance", f"lead {cmd.lead_id} is in {cmd.to_instance_id} already")
    await instance_of(ctx, cmd.to_instance_id)
    target = await repository.leads.routing_context(ctx.conn, cmd.to_instance_id, cmd.lead_id)
    assert target is not None
    await transfer_permitted(ctx, lead, cmd.by_user_id, target)
    source = lead["instance_id"]
    event = await ctx.emit(LeadTransferred(lead_id=cmd.lead_id, from_instance_id=source, to_instance_id=cmd.to_instance_id,
                                           by_user_id=cmd.by_user_id), subject=cmd.lead_id, instanceid=cmd.to_instance_id)
    # Each instance's history shows the move; what happened before it stays with the source.
    await repository.leads.log(ctx.conn, cmd.lead_id, source, event.type, event.data)
    await repository.leads.log(ctx.conn, cmd.lead_id, cmd.to_instance_id, event.type, event.data)
    # Routing it in the target stores its new instance and state and takes away any open timer.
    await route(ctx, {**lead, "instance_id": cmd.to_instance_id}, target)

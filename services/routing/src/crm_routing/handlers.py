"""One function per routing command, captured lead or identity event the roster is built from."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_contracts import type_of
from crm_contracts.identity import (
    AccountCreated,
    ApiKeyIssued,
    ApiKeyRevoked,
    InstanceCreated,
    InstanceMemberJoined,
    InstanceMemberRemoved,
    InstanceMemberRoleChanged,
    InstanceRenamed,
    MemberAdded,
    MemberStatusChanged,
)
from crm_contracts.leads import Channel, LeadCaptured
from crm_contracts.routing import (
    AgentPaused,
    ClaimExpired,
    ClaimLead,
    LeadAssigned,
    LeadClaimed,
    LeadOffered,
    LeadPooled,
    LeadReassigned,
    LeadRejected,
    LeadTransferred,
    PauseAgent,
    ResumeAgent,
    RulesChanged,
    SetRules,
    SetZillowTarget,
    TransferLead,
    ZillowTargetChanged,
)
from crm_runtime.handling import HandlerContext, Handlers, Rejected

from . import repository
from .domain import rules as rulebook
from .domain.router import Decision, decide, decide_step, eligibility, rotation_keys, solo

handlers = Handlers()

OPEN = ("assigned", "offered")


def pond_of(instance_id: str) -> str:
    return f"pond_{instance_id}"


# --- the roster, from identity's events -------------------------------------------------------


@handlers.on(AccountCreated)
async def account_created(ctx: HandlerContext, event: AccountCreated) -> None:
    await repository.upsert_instance(ctx.conn, instance_id=event.enterprise_instance_id, account_id=event.account_id,
                                     kind="enterprise", package=None, routing=True, owner_user_id=event.owner_user_id,
                                     name=event.name, website_id=None, parsing_email=None)
    await repository.set_member(ctx.conn, event.enterprise_instance_id, event.owner_user_id, "owner")
    await repository.set_status(ctx.conn, event.account_id, event.owner_user_id, "active")
    await repository.seed_rotation(ctx.conn, event.enterprise_instance_id, rotation_keys(rulebook.parse([], 0)))


@handlers.on(MemberAdded)
async def member_added(ctx: HandlerContext, event: MemberAdded) -> None:
    await repository.set_status(ctx.conn, ctx.message.accountid, event.user_id, event.status.value)
    if ctx.message.instanceid:
        await repository.set_member(ctx.conn, ctx.message.instanceid, event.user_id, "agent")


@handlers.on(MemberStatusChanged)
async def member_status_changed(ctx: HandlerContext, event: MemberStatusChanged) -> None:
    await repository.set_status(ctx.conn, ctx.message.accountid, event.user_id, event.to_status.value)


@handlers.on(InstanceCreated)
async def instance_created(ctx: HandlerContext, event: InstanceCreated) -> None:
    routes = event.routing if event.routing is not None else event.package != "crm_idx_solo"
    await repository.upsert_instance(ctx.conn, instance_id=event.instance_id, account_id=ctx.message.accountid,
                                     kind=event.kind, package=event.package, routing=routes,
                                     owner_user_id=event.owner_user_id, name=event.name,
                                     website_id=event.website_id, parsing_email=event.parsing_email)
    await repository.seed_rotation(ctx.conn, event.instance_id, rotation_keys(rulebook.parse([], 0)))


@handlers.on(InstanceRenamed)
async def instance_renamed(ctx: HandlerContext, event: InstanceRenamed) -> None:
    await repository.rename_instance(ctx.conn, event.instance_id, event.name)


@handlers.on(InstanceMemberJoined)
async def instance_member_joined(ctx: HandlerContext, event: InstanceMemberJoined) -> None:
    await repository.set_member(ctx.conn, event.instance_id, event.user_id, event.role, event.capture_email)


@handlers.on(InstanceMemberRoleChanged)
async def instance_member_role_changed(ctx: HandlerContext, event: InstanceMemberRoleChanged) -> None:
    await repository.set_member(ctx.conn, event.instance_id, event.user_id, event.role)


@handlers.on(InstanceMemberRemoved)
async def instance_member_removed(ctx: HandlerContext, event: InstanceMemberRemoved) -> None:
    await repository.remove_member(ctx.conn, event.instance_id, event.user_id)


@handlers.on(ApiKeyIssued)
async def api_key_issued(ctx: HandlerContext, event: ApiKeyIssued) -> None:
    await repository.set_api_key(ctx.conn, event.key_hash, event.instance_id, event.key_id, revoked=False)


@handlers.on(ApiKeyRevoked)
async def api_key_revoked(ctx: HandlerContext, event: ApiKeyRevoked) -> None:
    await repository.set_api_key(ctx.conn, event.key_hash, event.instance_id, event.key_id, revoked=True)


# --- routing a lead -------------------------------------------------------------------------------


_PARSED: dict[tuple[str, int], rulebook.RuleSet] = {}


def _parsed(instance_id: str, version: int | None, raw: list[dict[str, Any]] | None) -> rulebook.RuleSet:
    """Rule sets are immutable per version, so each is parsed once per process."""
    if version is None or raw is None:
        return rulebook.parse([], 0)
    key = (instance_id, version)
    if key not in _PARSED:
        if len(_PARSED) > 10_000:
            _PARSED.clear()
        _PARSED[key] = rulebook.parse(raw, version)
    return _PARSED[key]


async def _rules(ctx: HandlerContext, instance_id: str, version: int | None = None) -> rulebook.RuleSet:
    row = (await repository.rules_version(ctx.conn, instance_id, version) if version is not None
           else await repository.latest_rules(ctx.conn, instance_id))
    return _parsed(instance_id, row["version"], row["rules"]) if row else rulebook.parse([], 0)


def _outcome(lead: dict[str, Any], decision: Decision, rules_version: int | None,
             previous: str | None = None) -> tuple[str, str | None, list[str], Any]:
    """What the decision makes of the lead: its state, its agent, who it is offered to, and the event."""
    instance_id, lead_id = lead["instance_id"], lead["lead_id"]
    explanation = decision.explanation
    if decision.kind == "pool":
        return "pooled", None, [], LeadPooled(
            lead_id=lead_id, instance_id=instance_id, pond_id=pond_of(instance_id), reason=decision.reason,
            explanation=explanation, rules_version=rules_version)
    if decision.kind == "offer":
        return "offered", None, decision.user_ids, LeadOffered(
            lead_id=lead_id, instance_id=instance_id, user_ids=decision.user_ids, rule_id=decision.rule_id,
            claim_within_s=decision.claim_within_s, explanation=explanation)
    user_id = decision.user_ids[0]
    if previous is not None:
        return "assigned", user_id, [], LeadReassigned(
            lead_id=lead_id, instance_id=instance_id, from_user_id=previous, to_user_id=user_id,
            reason="not_claimed_in_time", explanation=explanation, claim_within_s=decision.claim_within_s)
    return "assigned", user_id, [], LeadAssigned(
        lead_id=lead_id, instance_id=instance_id, user_id=user_id, rule_id=decision.rule_id,
        strategy=decision.strategy, explanation=explanation, rules_version=rules_version,
        claim_within_s=decision.claim_within_s)


def _due(decision: Decision) -> datetime | None:
    if decision.claim_within_s and decision.kind != "pool":
        return datetime.now(UTC) + timedelta(seconds=decision.claim_within_s)
    return None


async def _apply(ctx: HandlerContext, lead: dict[str, Any], decision: Decision, *, rules_version: int | None,
                 previous: str | None = None, tried: list[str] | None = None) -> None:
    """Store a decision about a lead routing knows already (escalation, transfer), arm its timer,
    log it and publish it."""
    instance_id, lead_id = lead["instance_id"], lead["lead_id"]
    if decision.state_key is not None and decision.state is not None:
        await repository.save_rotation(ctx.conn, instance_id, decision.state_key, decision.state)
    state, user_id, offered_to, data = _outcome(lead, decision, rules_version, previous)
    tried = [*(tried or []), *([user_id] if user_id else [])]
    await repository.save_lead(ctx.conn, lead_id, instance_id=instance_id, state=state, user_id=user_id,
                               offered_to=offered_to, tried=tried, rule_id=decision.rule_id, step=decision.step,
                               rules_version=rules_version)
    await repository.take_timer(ctx.conn, lead_id)
    if (due := _due(decision)) is not None:
        await repository.set_timer(ctx.conn, "tmr_" + uuid.uuid4().hex, lead_id, due)
    event = await ctx.emit(data, subject=lead_id, instanceid=instance_id, accountid=lead["account_id"])
    await repository.log(ctx.conn, lead_id, instance_id, event.type, event.data)


def _decide(instance: dict[str, Any], rules: rulebook.RuleSet, channel: str, lead: dict[str, Any],
            roster: dict, states: dict) -> Decision:
    if not instance["routing"]:  # crm_idx_solo: the owner gets everything
        return solo(roster.get(instance["owner_user_id"]), instance["owner_user_id"])
    return decide(rules, channel, lead, roster, states)


async def _route(ctx: HandlerContext, lead: dict[str, Any], context: dict[str, Any]) -> None:
    """Route a lead routing knows already (a transfer) in the instance `context` describes."""
    rules = _parsed(context["instance_id"], context["rules_version"], context["rules"])
    decision = _decide(context, rules, lead["channel"], lead["lead"], context["roster"], context["rotation"])
    await _apply(ctx, lead, decision, rules_version=rules.version if context["routing"] else None)


async def _target(ctx: HandlerContext, cmd: LeadCaptured) -> tuple[str | None, str, str]:
    """The id of the instance a captured lead belongs to, or the reason there is none (PI6)."""
    found = None
    if cmd.channel is Channel.WEBSITE:
        if not cmd.website_id:
            return None, "missing_target", "a website lead names its website_id"
        found = await repository.find_instance(ctx.conn, website_id=cmd.website_id)
        reason, why = "unknown_website", f"no instance has website {cmd.website_id}"
    elif cmd.channel is Channel.PARSING_EMAIL:
        if not cmd.parsing_email:
            return None, "missing_target", "a parsing-e-mail lead names the parsing_email it was sent to"
        found = await repository.find_instance(ctx.conn, parsing_email=cmd.parsing_email)
        reason, why = "unknown_parsing_email", "no instance has that parsing address"
    elif cmd.channel is Channel.OPEN_API:
        if cmd.api_key is not None:
            return None, "api_key_in_clear", ("an Open API lead names its key by api_key_sha256; the key "
                                              "itself must not travel on the topic")
        if not cmd.api_key_sha256:
            return None, "missing_target", "an Open API lead names the SHA-256 of its key (api_key_sha256)"
        found = await repository.find_instance(ctx.conn, key_hash=cmd.api_key_sha256)
        reason, why = "invalid_api_key", "the API key is unknown or revoked"
    elif cmd.channel is Channel.ZILLOW:
        if not cmd.user_id:
            return None, "missing_target", "a Zillow lead names the agent (user_id) it was imported for"
        found = await repository.zillow_instance(ctx.conn, ctx.message.accountid, cmd.user_id)
        reason, why = "unknown_user", f"{cmd.user_id} is not a user of account {ctx.message.accountid}"
    else:  # manual: the id is the target; routing_context finds out whether it exists
        if not cmd.instance_id:
            return None, "missing_target", "a manual lead names its instance_id"
        return cmd.instance_id, "unknown_instance", f"no instance {cmd.instance_id}"
    return (found["instance_id"] if found else None), reason, why


async def _lead_rejected(ctx: HandlerContext, lead_id: str, reason: str, why: str) -> None:
    await ctx.emit(LeadRejected(lead_id=lead_id, reason=reason, message=why), subject=lead_id)


@handlers.on(LeadCaptured)
async def lead_captured(ctx: HandlerContext, cmd: LeadCaptured) -> None:
    """The hot path: the target's lookup (none for manual leads), one query for the instance,
    rules, roster and rotation, and one statement writing the lead, its decision and its log."""
    instance_id, reason, why = await _target(ctx, cmd)
    context = await repository.routing_context(ctx.conn, instance_id, cmd.lead_id) if instance_id else None
    if context is None:
        return await _lead_rejected(ctx, cmd.lead_id, reason, why)
    duplicate = ("duplicate_lead", "this lead id was routed before; it is not routed again")
    if context["seen"]:
        return await _lead_rejected(ctx, cmd.lead_id, *duplicate)
    rules = _parsed(instance_id, context["rules_version"], context["rules"])
    captured = cmd.lead.model_dump(mode="json")
    lead = {"lead_id": cmd.lead_id, "instance_id": instance_id, "account_id": context["account_id"]}
    decision = _decide(context, rules, cmd.channel.value, captured, context["roster"], context["rotation"])
    rules_version = rules.version if context["routing"] else None
    state, user_id, offered_to, data = _outcome(lead, decision, rules_version)
    due = _due(decision)
    if not await repository.record_new_lead(
            ctx.conn, lead_id=cmd.lead_id, instance_id=instance_id, account_id=context["account_id"],
            channel=cmd.channel.value, lead=captured, state=state, user_id=user_id, offered_to=offered_to,
            rule_id=decision.rule_id, step=decision.step, rules_version=rules_version,
            rotation_key=decision.state_key, rotation=decision.state,
            timer_id="tmr_" + uuid.uuid4().hex if due else None, due_at=due,
            log_type=type_of(data), log_data=data.model_dump(mode="json")):
        return await _lead_rejected(ctx, cmd.lead_id, *duplicate)
    await ctx.emit(data, subject=cmd.lead_id, instanceid=instance_id, accountid=context["account_id"])


# --- claims and timers (R4) -------------------------------------------------------------------------


async def _lead(ctx: HandlerContext, lead_id: str) -> dict[str, Any]:
    lead = await repository.lock_lead(ctx.conn, lead_id)
    if lead is None:
        raise Rejected("unknown_lead", f"no lead {lead_id}")
    return lead


@handlers.on(ClaimLead)
async def claim_lead(ctx: HandlerContext, cmd: ClaimLead) -> None:
    lead = await _lead(ctx, cmd.lead_id)
    if lead["state"] == "claimed":
        raise Rejected("lead_already_claimed", f"{lead['user_id']} claimed lead {cmd.lead_id} first")
    roster = await repository.roster(ctx.conn, lead["instance_id"])
    ok, why = eligibility(roster.get(cmd.user_id), cmd.user_id)
    if not ok:
        raise Rejected("not_eligible", f"{cmd.user_id}: {why}")
    allowed = ((lead["state"] == "assigned" and lead["user_id"] == cmd.user_id) or
               (lead["state"] == "offered" and cmd.user_id in lead["offered_to"]) or lead["state"] == "pooled")
    if not allowed:
        raise Rejected("not_offered_to_you", f"lead {cmd.lead_id} is not assigned or offered to {cmd.user_id}")
    await repository.take_timer(ctx.conn, cmd.lead_id)
    await repository.save_lead(ctx.conn, cmd.lead_id, instance_id=lead["instance_id"], state="claimed",
                               user_id=cmd.user_id, offered_to=[], tried=lead["tried"], rule_id=lead["rule_id"],
                               step=lead["step"], rules_version=lead["rules_version"])
    event = await ctx.emit(LeadClaimed(lead_id=cmd.lead_id, instance_id=lead["instance_id"], user_id=cmd.user_id),
                           subject=cmd.lead_id, instanceid=lead["instance_id"])
    await repository.log(ctx.conn, cmd.lead_id, lead["instance_id"], event.type, event.data)


@handlers.on(ClaimExpired)
async def claim_expired(ctx: HandlerContext, cmd: ClaimExpired) -> None:
    """The lead's step ran out of time: the next agent of the rotation, else the next step, else the pond.
    A claim that won the race already took the timer away, so this finds nothing to do."""
    lead = await _lead(ctx, cmd.lead_id)
    if not await repository.take_timer(ctx.conn, cmd.lead_id, cmd.timer_id) or lead["state"] not in OPEN:
        return
    rules = await _rules(ctx, lead["instance_id"], lead["rules_version"])
    rule = next((r for r in rules.rules if r.id == lead["rule_id"]), None)
    roster = await repository.roster(ctx.conn, lead["instance_id"])
    states = await repository.lock_rotation(ctx.conn, lead["instance_id"])
    story = {"rules_version": rules.version, "rule": lead["rule_id"],
             "escalated": f"step {lead['step']} was not claimed in time"}
    step = lead["step"] or 0
    if rule is None:  # e.g. the solo owner's own lead: nothing further than the pond
        decision = decide_step(rulebook.Rule(id=lead["rule_id"] or "none", steps=[rulebook.Step(strategy="pond")]),
                               1, roster, states, story=story)
    elif lead["state"] == "assigned" and rule.steps[step].strategy.value in ("round_robin", "weighted"):
        # The next agent of the same rotation first; once everyone had it, the next step.
        decision = decide_step(rule, step, roster, states, tried=frozenset(lead["tried"]), story=story)
        if decision.step != step:
            decision = decide_step(rule, step + 1, roster, states, story=story)
    else:
        decision = decide_step(rule, step + 1, roster, states, story=story)
    same_step = decision.step == step
    await _apply(ctx, lead, decision, rules_version=lead["rules_version"],
                 previous=lead["user_id"] if lead["state"] == "assigned" else None,
                 tried=lead["tried"] if same_step else [])


# --- rules, agents, Zillow, transfer -------------------------------------------------------------


async def _instance(ctx: HandlerContext, instance_id: str):
    instance = await repository.get_instance(ctx.conn, instance_id)
    if instance is None or instance["account_id"] != ctx.message.accountid:
        raise Rejected("unknown_instance", f"no instance {instance_id} in account {ctx.message.accountid}")
    return instance


@handlers.on(SetRules)
async def set_rules(ctx: HandlerContext, cmd: SetRules) -> None:
    instance = await _instance(ctx, cmd.instance_id)
    if not instance["routing"]:
        raise Rejected("routing_not_available", f"a {instance['package']} instance has no routing: its owner gets every lead")
    parsed = rulebook.parse(cmd.rules, cmd.version)
    current = await repository.latest_rules(ctx.conn, cmd.instance_id)
    if current is not None and cmd.version <= current["version"]:
        raise Rejected("stale_version", f"version {cmd.version} is not after the current {current['version']}")
    await repository.insert_rules(ctx.conn, cmd.instance_id, cmd.version, parsed.as_json())
    await repository.seed_rotation(ctx.conn, cmd.instance_id, rotation_keys(parsed))
    await ctx.emit(RulesChanged(instance_id=cmd.instance_id, version=cmd.version, rules=parsed.as_json()),
                   instanceid=cmd.instance_id)


async def _pause(ctx: HandlerContext, instance_id: str, user_id: str, paused: bool) -> None:
    await _instance(ctx, instance_id)
    if not await repository.is_member(ctx.conn, instance_id, user_id):
        raise Rejected("not_instance_member", f"{user_id} is not a member of instance {instance_id}")
    await repository.set_paused(ctx.conn, instance_id, user_id, paused)
    await ctx.emit(AgentPaused(instance_id=instance_id, user_id=user_id, paused=paused), instanceid=instance_id,
                   subject=user_id)


@handlers.on(PauseAgent)
async def pause_agent(ctx: HandlerContext, cmd: PauseAgent) -> None:
    await _pause(ctx, cmd.instance_id, cmd.user_id, True)


@handlers.on(ResumeAgent)
async def resume_agent(ctx: HandlerContext, cmd: ResumeAgent) -> None:
    await _pause(ctx, cmd.instance_id, cmd.user_id, False)


@handlers.on(SetZillowTarget)
async def set_zillow_target(ctx: HandlerContext, cmd: SetZillowTarget) -> None:
    await _instance(ctx, cmd.instance_id)
    if not await repository.is_member(ctx.conn, cmd.instance_id, cmd.user_id):
        raise Rejected("not_instance_member", f"{cmd.user_id} is not a member of instance {cmd.instance_id}")
    await repository.set_zillow_target(ctx.conn, ctx.message.accountid, cmd.user_id, cmd.instance_id)
    await ctx.emit(ZillowTargetChanged(user_id=cmd.user_id, instance_id=cmd.instance_id),
                   instanceid=cmd.instance_id, subject=cmd.user_id)


@handlers.on(TransferLead)
async def transfer_lead(ctx: HandlerContext, cmd: TransferLead) -> None:
    """R6: only into another instance the acting user belongs to; then routed by its rules."""
    lead = await _lead(ctx, cmd.lead_id)
    if lead["account_id"] != ctx.message.accountid:
        raise Rejected("unknown_lead", f"no lead {cmd.lead_id} in account {ctx.message.accountid}")
    if cmd.to_instance_id == lead["instance_id"]:
        raise Rejected("same_instance", f"lead {cmd.lead_id} is in {cmd.to_instance_id} already")
    target = await repository.routing_context(ctx.conn, cmd.to_instance_id, cmd.lead_id)
    if target is None or target["account_id"] != lead["account_id"]:
        raise Rejected("unknown_instance", f"no instance {cmd.to_instance_id} in account {lead['account_id']}")
    if not await repository.is_member(ctx.conn, lead["instance_id"], cmd.by_user_id):
        raise Rejected("not_a_member_of_source", f"{cmd.by_user_id} cannot see lead {cmd.lead_id}")
    if not await repository.is_member(ctx.conn, cmd.to_instance_id, cmd.by_user_id):
        raise Rejected("not_a_member_of_target", f"{cmd.by_user_id} does not belong to {cmd.to_instance_id}")
    source = lead["instance_id"]
    event = await ctx.emit(LeadTransferred(lead_id=cmd.lead_id, from_instance_id=source, to_instance_id=cmd.to_instance_id,
                                           by_user_id=cmd.by_user_id), subject=cmd.lead_id, instanceid=cmd.to_instance_id)
    await repository.log(ctx.conn, cmd.lead_id, source, event.type, event.data)
    # Routing it in the target stores its new instance and state and takes away any open timer.
    await _route(ctx, {**lead, "instance_id": cmd.to_instance_id}, target)

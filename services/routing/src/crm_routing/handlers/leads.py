"""Routing a captured lead: its target instance, the rules, the decision and what it emits."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from crm_contracts import type_of
from crm_contracts.leads import Channel, LeadCaptured
from crm_contracts.routing import (
    LeadAssigned,
    LeadOffered,
    LeadPooled,
    LeadReassigned,
    LeadRejected,
)
from crm_runtime.handlers import HandlerContext, Handlers

from .. import repository
from ..domain import business_hours as open_hours
from ..domain import rules as rulebook
from ..domain.capture import NewLead, Outcome, RoutingContext, Timer
from ..domain.router import Decision, decide, solo
from .gate import system

handlers = Handlers()

OPEN = ("assigned", "offered")
# Rule sets parsed, by (instance, version): the instances with leads right now. A version never
# changes, so an entry is never stale; the least recently used go once there are more than this.
PARSED_KEPT = 1024
_PARSED: OrderedDict[tuple[str, int], rulebook.RuleSet] = OrderedDict()


def pond_of(instance_id: str) -> str:
    return f"pond_{instance_id}"


def _parsed(instance_id: str, version: int | None, raw: list[dict[str, Any]] | None) -> rulebook.RuleSet:
    """Rule sets are immutable per version, so each is parsed once per process."""
    if version is None or raw is None:
        return rulebook.parse([], 0)
    key = (instance_id, version)
    if (rules := _PARSED.get(key)) is not None:
        _PARSED.move_to_end(key)
        return rules
    rules = _PARSED[key] = rulebook.parse(raw, version)
    if len(_PARSED) > PARSED_KEPT:
        _PARSED.popitem(last=False)
    return rules


async def rules_of(ctx: HandlerContext, instance_id: str, version: int | None = None) -> rulebook.RuleSet:
    row = (await repository.leads.rules_version(ctx.conn, instance_id, version) if version is not None
           else await repository.leads.latest_rules(ctx.conn, instance_id))
    return _parsed(instance_id, row["version"], row["rules"]) if row else rulebook.parse([], 0)


def _outcome(lead_id: str, instance_id: str, decision: Decision, rules_version: int | None,
             previous: str | None = None) -> Outcome:
    """What the decision makes of the lead."""
    explanation = decision.explanation
    if decision.kind == "pool":
        return Outcome("pooled", None, [], LeadPooled(
            lead_id=lead_id, instance_id=instance_id, pond_id=pond_of(instance_id), reason=decision.reason,
            explanation=explanation, rules_version=rules_version))
    if decision.kind == "offer":
        return Outcome("offered", None, decision.user_ids, LeadOffered(
            lead_id=lead_id, instance_id=instance_id, user_ids=decision.user_ids, rule_id=decision.rule_id,
            claim_within_s=decision.claim_within_s, explanation=explanation))
    user_id = decision.user_ids[0]
    if previous is not None:
        return Outcome("assigned", user_id, [], LeadReassigned(
            lead_id=lead_id, instance_id=instance_id, from_user_id=previous, to_user_id=user_id,
            reason="not_claimed_in_time", explanation=explanation, claim_within_s=decision.claim_within_s))
    return Outcome("assigned", user_id, [], LeadAssigned(
        lead_id=lead_id, instance_id=instance_id, user_id=user_id, rule_id=decision.rule_id,
        strategy=decision.strategy, explanation=explanation, rules_version=rules_version,
        claim_within_s=decision.claim_within_s))


def _due(decision: Decision, hours: dict[str, Any] | None, now: datetime) -> datetime | None:
    """When the claim timer of the decision falls due, from `now`: plain seconds, or seconds of the
    instance's business hours when the step says so and the instance has them."""
    if not decision.claim_within_s or decision.kind == "pool":
        return None
    if decision.business_hours and hours is not None:
        return open_hours.due_at(now, decision.claim_within_s, _hours(hours))
    return now + timedelta(seconds=decision.claim_within_s)


def _hours(raw: dict[str, Any]) -> open_hours.BusinessHours:
    return open_hours.from_json(raw)


async def apply(ctx: HandlerContext, lead: dict[str, Any], decision: Decision, *, rules_version: int | None,
                 previous: str | None = None, tried: list[str] | None = None) -> None:
    """Store a decision about a lead routing knows already (escalation, transfer), arm its timer,
    log it and publish it."""
    instance_id, lead_id = lead["instance_id"], lead["lead_id"]
    if decision.state_key is not None and decision.state is not None:
        await repository.leads.save_rotation(ctx.conn, instance_id, decision.state_key, decision.state)
    outcome = _outcome(lead_id, instance_id, decision, rules_version, previous)
    tried = [*(tried or []), *([outcome.user_id] if outcome.user_id else [])]
    await repository.leads.save_lead(ctx.conn, lead_id, instance_id=instance_id, state=outcome.state,
                                     user_id=outcome.user_id, offered_to=outcome.offered_to, tried=tried,
                                     rule_id=decision.rule_id, step=decision.step, rules_version=rules_version)
    await repository.leads.take_timer(ctx.conn, lead_id)
    hours = await repository.leads.business_hours(ctx.conn, instance_id) if decision.business_hours else None
    if (due := _due(decision, hours, ctx.now())) is not None:
        await repository.leads.set_timer(ctx.conn, ctx.derived_id("tmr", lead_id), lead_id, due)
    event = await ctx.emit(outcome.event, subject=lead_id, instanceid=instance_id, accountid=lead["account_id"])
    await repository.leads.log(ctx.conn, lead_id, instance_id, event.type, event.data)


def _decide(context: RoutingContext, rules: rulebook.RuleSet, channel: str, lead: dict[str, Any]) -> Decision:
    if not context.routing:  # crm_idx_solo: the owner gets everything
        return solo(context.roster.get(context.owner_user_id), context.owner_user_id)
    return decide(rules, channel, lead, context.roster, context.rotation)


def _rules(context: RoutingContext) -> rulebook.RuleSet:
    return _parsed(context.instance_id, context.rules_version, context.rules)


async def route(ctx: HandlerContext, lead: dict[str, Any], context: RoutingContext) -> None:
    """Route a lead routing knows already (a transfer) in the instance `context` describes."""
    rules = _rules(context)
    decision = _decide(context, rules, lead["channel"], lead["lead"])
    await apply(ctx, lead, decision, rules_version=rules.version if context.routing else None)


def _zillow_target(user_id: str, found: Any) -> dict[str, Any]:
    """Why a Zillow lead went to its instance, for the decision's explanation."""
    why = {"chosen": f"{user_id} chose this instance for their Zillow leads",
           "no_choice": f"{user_id} chose no instance for their Zillow leads: the Enterprise instance has them",
           "left_instance": f"{user_id} left {found['from_instance_id']}, the instance they had chosen: "
                            "their Zillow leads went back to the Enterprise instance"}[found["reason"]]
    return {"channel": "zillow", "instance_id": found["instance_id"], "reason": found["reason"], "why": why}


async def preview(conn, instance_id: str, channel: str, lead: dict[str, Any],
                  draft: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """What a live lead captured now would get in the instance — the decision and the event with its
    explanation — under the current rules or `draft`, changing nothing: the rotation is read, not
    locked or advanced; no event, timer or log is written. None when there is no such instance."""
    context = await repository.leads.routing_context(conn, instance_id, "", lock=False)
    if context is None:
        return None
    rules = rulebook.parse(draft, (context.rules_version or 0) + 1) if draft is not None else _rules(context)
    decision = _decide(context, rules, channel, lead)
    rules_version = rules.version if context.routing else None
    outcome = _outcome("dry_run", instance_id, decision, rules_version)
    return {"instance_id": instance_id, "rules_version": rules_version, "draft": draft is not None,
            "state": outcome.state, "user_id": outcome.user_id, "offered_to": outcome.offered_to,
            "claim_within_s": decision.claim_within_s,
            "event": {"type": type_of(outcome.event), "data": outcome.event.model_dump(mode="json")}}


async def _target(ctx: HandlerContext, cmd: LeadCaptured) -> tuple[str | None, str, str, dict[str, Any] | None]:
    """The id of the instance a captured lead belongs to, or the reason there is none (PI6); for a
    Zillow lead, also why it is that instance."""
    found = None
    if cmd.channel is Channel.WEBSITE:
        if not cmd.website_id:
            return None, "missing_target", "a website lead names its website_id", None
        found = await repository.roster.find_instance(ctx.conn, website_id=cmd.website_id)
        reason, why = "unknown_website", f"no instance has website {cmd.website_id}"
    elif cmd.channel is Channel.PARSING_EMAIL:
        if not cmd.parsing_email:
            return None, "missing_target", "a parsing-e-mail lead names the parsing_email it was sent to", None
        found = await repository.roster.find_instance(ctx.conn, parsing_email=cmd.parsing_email)
        reason, why = "unknown_parsing_email", "no instance has that parsing address"
    elif cmd.channel is Channel.OPEN_API:
        if cmd.api_key is not None:
            return None, "api_key_in_clear", ("an Open API lead names its key by api_key_sha256; the key "
                                              "itself must not travel on the topic"), None
        if not cmd.api_key_sha256:
            return None, "missing_target", "an Open API lead names the SHA-256 of its key (api_key_sha256)", None
        found = await repository.roster.find_instance(ctx.conn, key_hash=cmd.api_key_sha256)
        reason, why = "invalid_api_key", "the API key is unknown or revoked"
    elif cmd.channel is Channel.ZILLOW:
        if not cmd.user_id:
            return None, "missing_target", "a Zillow lead names the agent (user_id) it was imported for", None
        found = await repository.roster.zillow_instance(ctx.conn, ctx.message.accountid, cmd.user_id)
        if found is None:
            return None, "unknown_user", f"{cmd.user_id} is not a user of account {ctx.message.accountid}", None
        return found["instance_id"], "unknown_instance", "", _zillow_target(cmd.user_id, found)
    else:  # manual: the id is the target; routing_context finds out whether it exists
        if not cmd.instance_id:
            return None, "missing_target", "a manual lead names its instance_id", None
        return cmd.instance_id, "unknown_instance", f"no instance {cmd.instance_id}", None
    return (found["instance_id"] if found else None), reason, why, None


async def _lead_rejected(ctx: HandlerContext, lead_id: str, reason: str, why: str) -> None:
    await ctx.emit(LeadRejected(lead_id=lead_id, reason=reason, message=why), subject=lead_id)


@handlers.on(LeadCaptured)
async def lead_captured(ctx: HandlerContext, cmd: LeadCaptured) -> None:
    """The hot path: the target's lookup (none for manual leads), one query for the instance,
    rules, roster and rotation, and one statement writing the lead, its decision and its log."""
    system(ctx)
    instance_id, reason, why, target = await _target(ctx, cmd)
    context = await repository.leads.routing_context(ctx.conn, instance_id, cmd.lead_id) if instance_id else None
    if instance_id is None or context is None:
        return await _lead_rejected(ctx, cmd.lead_id, reason, why)
    if context.account_id != ctx.message.accountid:  # records stay in their account
        return await _lead_rejected(ctx, cmd.lead_id, "not_in_account",
                                    f"instance {instance_id} is not of account {ctx.message.accountid}")
    if context.read_only_until is not None:
        return await _lead_rejected(ctx, cmd.lead_id, "instance_cancelled",
                                    f"instance {instance_id} was cancelled: it takes no new leads")
    duplicate = ("duplicate_lead", "this lead id was routed before; it is not routed again")
    if context.seen:
        return await _lead_rejected(ctx, cmd.lead_id, *duplicate)
    rules = _rules(context)
    captured = cmd.lead.model_dump(mode="json")
    decision = _decide(context, rules, cmd.channel.value, captured)
    if target is not None:
        decision = replace(decision, explanation={"target": target, **decision.explanation})
    rules_version = rules.version if context.routing else None
    due = _due(decision, context.business_hours, ctx.now())
    new = NewLead(lead_id=cmd.lead_id, instance_id=instance_id, account_id=context.account_id,
                  channel=cmd.channel.value, captured=captured, decision=decision,
                  outcome=_outcome(cmd.lead_id, instance_id, decision, rules_version), rules_version=rules_version,
                  timer=Timer(ctx.derived_id("tmr", cmd.lead_id), due) if due else None)
    if not await repository.leads.record_new_lead(ctx.conn, new):
        return await _lead_rejected(ctx, cmd.lead_id, *duplicate)
    await ctx.emit(new.outcome.event, subject=cmd.lead_id, instanceid=instance_id, accountid=context.account_id)

"""Claims and claim timers (R4): an agent claims an offered lead; a timer that runs out moves it on."""

from __future__ import annotations

from typing import Any

from crm_contracts.routing import (
    ClaimExpired,
    ClaimLead,
    LeadClaimed,
)
from crm_runtime.handlers import HandlerContext, Handlers, Rejected

from .. import repository
from ..domain import rules as rulebook
from ..domain.router import decide_step, eligibility
from .gate import lead_in_account, permitted, system
from .leads import OPEN, apply, rules_of

handlers = Handlers()


async def load_lead(ctx: HandlerContext, lead_id: str) -> dict[str, Any]:
    lead = await repository.leads.lock_lead(ctx.conn, lead_id)
    if lead is None:
        raise Rejected("unknown_lead", f"no lead {lead_id}")
    return lead


@handlers.on(ClaimLead)
async def claim_lead(ctx: HandlerContext, cmd: ClaimLead) -> None:
    lead = await load_lead(ctx, cmd.lead_id)
    lead_in_account(ctx, lead)
    await permitted(ctx, lead["instance_id"], cmd.user_id)
    if lead["state"] == "claimed":
        raise Rejected("lead_already_claimed", f"{lead['user_id']} claimed lead {cmd.lead_id} first")
    roster = await repository.roster.roster(ctx.conn, lead["instance_id"])
    ok, why = eligibility(roster.get(cmd.user_id), cmd.user_id)
    if not ok:
        raise Rejected("not_eligible", f"{cmd.user_id}: {why}")
    allowed = ((lead["state"] == "assigned" and lead["user_id"] == cmd.user_id) or
               (lead["state"] == "offered" and cmd.user_id in lead["offered_to"]) or lead["state"] == "pooled")
    if not allowed:
        raise Rejected("not_offered_to_you", f"lead {cmd.lead_id} is not assigned or offered to {cmd.user_id}")
    await repository.leads.take_timer(ctx.conn, cmd.lead_id)
    await repository.leads.save_lead(ctx.conn, cmd.lead_id, instance_id=lead["instance_id"], state="claimed",
                               user_id=cmd.user_id, offered_to=[], tried=lead["tried"], rule_id=lead["rule_id"],
                               step=lead["step"], rules_version=lead["rules_version"])
    event = await ctx.emit(LeadClaimed(lead_id=cmd.lead_id, instance_id=lead["instance_id"], user_id=cmd.user_id),
                           subject=cmd.lead_id, instanceid=lead["instance_id"])
    await repository.leads.log(ctx.conn, cmd.lead_id, lead["instance_id"], event.type, event.data)


@handlers.on(ClaimExpired)
async def claim_expired(ctx: HandlerContext, cmd: ClaimExpired) -> None:
    """The lead's step ran out of time: the next agent of the rotation, else the next step, else the pond.
    A claim that won the race already took the timer away, so this finds nothing to do."""
    system(ctx)
    lead = await load_lead(ctx, cmd.lead_id)
    if not await repository.leads.take_timer(ctx.conn, cmd.lead_id, cmd.timer_id) or lead["state"] not in OPEN:
        return
    rules = await rules_of(ctx, lead["instance_id"], lead["rules_version"])
    rule = next((r for r in rules.rules if r.id == lead["rule_id"]), None)
    roster = await repository.roster.roster(ctx.conn, lead["instance_id"])
    states = await repository.leads.lock_rotation(ctx.conn, lead["instance_id"])
    story = {"rules_version": rules.version, "rule": lead["rule_id"],
             "escalated": f"step {lead['step']} was not claimed in time"}
    step = lead["step"] or 0
    if rule is None:  # e.g. the solo owner's own lead: nothing further than the pond
        decision = decide_step(rulebook.Rule(id=lead["rule_id"] or "none", steps=[rulebook.Step(strategy=rulebook.Strategy.POND)]),
                               1, roster, states, story=story)
    elif lead["state"] == "assigned" and rule.steps[step].strategy.value in ("round_robin", "weighted"):
        # The next agent of the same rotation first; once everyone had it, the next step.
        decision = decide_step(rule, step, roster, states, tried=frozenset(lead["tried"]), story=story)
        if decision.step != step:
            decision = decide_step(rule, step + 1, roster, states, story=story)
    else:
        decision = decide_step(rule, step + 1, roster, states, story=story)
    same_step = decision.step == step
    await apply(ctx, lead, decision, rules_version=lead["rules_version"],
                 previous=lead["user_id"] if lead["state"] == "assigned" else None,
                 tried=lead["tried"] if same_step else [])

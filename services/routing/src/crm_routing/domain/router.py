"""A routing decision (R1–R5, PI7), free of I/O: the rule that matched, the step, the agent or
agents, and an explanation a person can read. The handler supplies the facts and stores the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .rules import Rule, RuleSet, Step, Strategy, first_match
from .strategies import round_robin, weighted

ACTIVE = "active"


@dataclass(frozen=True)
class Member:
    """A member of the instance as routing knows them."""

    user_id: str
    status: str | None  # the member's status in their Enterprise account (None: never heard of)
    paused: bool = False


def eligibility(member: Member | None, user_id: str) -> tuple[bool, str]:
    """R3: a member of this instance, holding a seat and active, not paused."""
    if member is None:
        return False, "not a member of this instance"
    if member.status != ACTIVE:
        return False, f"status {member.status or 'unknown'}: only active members who hold a seat get leads"
    if member.paused:
        return False, "paused in this instance"
    return True, "active member holding a seat, not paused"


@dataclass(frozen=True)
class Decision:
    kind: str  # assign | offer | pool
    rule_id: str
    step: int
    strategy: str
    user_ids: list[str] = field(default_factory=list)
    claim_within_s: float | None = None
    reason: str = ""
    business_hours: bool = False  # the claim timer counts only the instance's business hours
    explanation: dict[str, Any] = field(default_factory=dict)
    state_key: str | None = None  # rotation state to store, under this key
    state: dict[str, Any] | None = None


def _candidates(step: Step, roster: dict[str, Member]) -> list[dict[str, Any]]:
    names = step.agents if step.agents is not None else sorted(roster)
    if step.strategy is Strategy.SPECIFIC_AGENT:
        names = [step.agent or ""]
    elif step.strategy is Strategy.WEIGHTED and step.agents is None:
        names = sorted(step.weights or {})
    out = []
    for name in names:
        ok, why = eligibility(roster.get(name), name)
        out.append({"user_id": name, "eligible": ok, "why": why})
    return out


def rotation_keys(rules: RuleSet) -> list[str]:
    """The keys rotation state is kept under, one per step that rotates."""
    return [f"{r.id}/{i}" for r in rules.rules for i, s in enumerate(r.steps)
            if s.strategy in (Strategy.ROUND_ROBIN, Strategy.WEIGHTED)]


def decide_step(rule: Rule, step_index: int, roster: dict[str, Member], states: dict[str, dict[str, Any]],
                *, tried: frozenset[str] = frozenset(), story: dict[str, Any] | None = None) -> Decision:
    """Where step `step_index` of `rule` sends the lead; past the last step, the pond."""
    base = dict(story or {})
    if step_index >= len(rule.steps):
        base["chosen"] = "the pond: every step of the rule was tried"
        return Decision("pool", rule.id, step_index, "pond", reason="escalated_to_pond", explanation=base)
    step = rule.steps[step_index]
    key = f"{rule.id}/{step_index}"
    candidates = _candidates(step, roster)
    eligible = [c["user_id"] for c in candidates if c["eligible"]]
    explanation = {**base, "step": step_index, "strategy": step.strategy.value, "candidates": candidates}
    if step.strategy is Strategy.POND:
        explanation["chosen"] = "the pond, as the rule says"
        return Decision("pool", rule.id, step_index, "pond", reason="rule_sends_to_pond", explanation=explanation)
    if step.strategy is Strategy.FIRST_TO_CLAIM:
        offered = [u for u in eligible if u not in tried]
        if offered:
            explanation["chosen"] = f"offered to {len(offered)} eligible agents; the first claim wins"
            return Decision("offer", rule.id, step_index, step.strategy.value, offered, step.claim_within_s,
                            explanation=explanation, business_hours=bool(step.business_hours))
        choice_user, why, state = None, "nobody eligible to offer it to", None
    elif step.strategy is Strategy.SPECIFIC_AGENT:
        ok = step.agent in eligible and step.agent not in tried
        choice_user, why, state = (step.agent, "the rule names this agent", None) if ok else \
            (None, f"{step.agent} cannot take it", None)
    elif step.strategy is Strategy.WEIGHTED:
        c = weighted(eligible, step.weights or {}, states.get(key, {}), skip=tried)
        choice_user, why, state = c.user_id, c.why, c.state
    else:
        c = round_robin(eligible, states.get(key, {}), skip=tried)
        choice_user, why, state = c.user_id, c.why, c.state
    if choice_user is None:
        explanation["skipped"] = why
        return decide_step(rule, step_index + 1, roster, states, story={**base, f"step_{step_index}": explanation})
    explanation["chosen"] = {"user_id": choice_user, "why": why}
    return Decision("assign", rule.id, step_index, step.strategy.value, [choice_user], step.claim_within_s,
                    explanation=explanation, state_key=key if state is not None else None, state=state,
                    business_hours=bool(step.business_hours))


def decide(rules: RuleSet, channel: str, lead: dict[str, Any], roster: dict[str, Member],
           states: dict[str, dict[str, Any]]) -> Decision:
    rule, tried = first_match(rules, channel, lead)
    return decide_step(rule, 0, roster, states, story={"rules_version": rules.version, "rules_tried": tried,
                                                       "rule": rule.id})


def solo(owner: Member | None, owner_id: str) -> Decision:
    """crm_idx_solo has no routing: the owner gets every lead (the pond if they cannot take it)."""
    ok, why = eligibility(owner, owner_id)
    story = {"rule": "solo", "why": "a crm_idx_solo instance has no routing: every lead goes to its owner",
             "candidates": [{"user_id": owner_id, "eligible": ok, "why": why}]}
    if ok:
        return Decision("assign", "solo", 0, "owner", [owner_id], explanation={**story, "chosen": {"user_id": owner_id}})
    return Decision("pool", "solo", 0, "pond", reason="owner_cannot_take_leads", explanation=story)

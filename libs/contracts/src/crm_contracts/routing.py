"""routing.commands.v1 and routing.events.v1 (keyed by instanceid)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .common import CommandRejected
from .registry import Direction, KeyRule, message, topic

COMMANDS = topic(
    "routing.commands.v1", Direction.COMMANDS, "routing",
    "Commands to the routing service: rule sets, claims, transfers, agent pauses.",
)
EVENTS = topic(
    "routing.events.v1", Direction.EVENTS, "routing",
    "Routing decisions, each with its explanation.",
    key_rule=KeyRule.INSTANCE,
)


@message("routing.rules.set", on=COMMANDS)
class SetRules(BaseModel):
    """Replace an instance's ordered rule set (first match wins)."""

    instance_id: str = Field(min_length=1)
    rules: list[dict[str, Any]] = Field(max_length=500)
    version: int = Field(ge=1, le=2_147_483_647)


@message("routing.lead.claim", on=COMMANDS)
class ClaimLead(BaseModel):
    """An agent claims an offered lead."""

    lead_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)


@message("routing.lead.transfer", on=COMMANDS)
class TransferLead(BaseModel):
    """Move a lead to another instance the acting user belongs to."""

    lead_id: str = Field(min_length=1)
    to_instance_id: str = Field(min_length=1)
    by_user_id: str = Field(min_length=1)


@message("routing.agent.pause", on=COMMANDS)
class PauseAgent(BaseModel):
    """Stop routing leads to an agent in one instance."""

    instance_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)


@message("routing.agent.resume", on=COMMANDS)
class ResumeAgent(BaseModel):
    """Route leads to a paused agent again."""

    instance_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)


@message("routing.zillow_target.set", on=COMMANDS)
class SetZillowTarget(BaseModel):
    """Choose the instance that receives a user's Zillow leads."""

    user_id: str = Field(min_length=1)
    instance_id: str = Field(min_length=1)


@message("routing.lead.assigned", on=EVENTS)
class LeadAssigned(BaseModel):
    """A lead was given to an agent."""

    lead_id: str
    instance_id: str
    user_id: str
    rule_id: str
    strategy: str
    explanation: dict[str, Any] | list[Any] | str


@message("routing.lead.pooled", on=EVENTS)
class LeadPooled(BaseModel):
    """A lead went to the instance's pond."""

    lead_id: str
    instance_id: str
    pond_id: str
    reason: str
    explanation: dict[str, Any] | list[Any] | str


@message("routing.lead.reassigned", on=EVENTS)
class LeadReassigned(BaseModel):
    """A lead moved from one agent to another."""

    lead_id: str
    instance_id: str
    from_user_id: str
    to_user_id: str
    reason: str


@message("routing.lead.transferred", on=EVENTS)
class LeadTransferred(BaseModel):
    """A lead was moved to another instance by hand."""

    lead_id: str
    from_instance_id: str
    to_instance_id: str


@message("routing.lead.rejected", on=EVENTS)
class LeadRejected(BaseModel):
    """A lead could not be placed in any instance."""

    lead_id: str
    reason: str


@message("routing.command.rejected", on=EVENTS)
class RoutingCommandRejected(CommandRejected):
    """A routing command broke a rule."""

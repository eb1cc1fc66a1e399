"""routing.commands.v1 and routing.events.v1 (keyed by instanceid)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from .common import CommandRejected, Id
from .registry import Direction, KeyRule, Message, message, topic

# Who acts, when a person does: their permission in the instance is checked (an admin member, a
# lead manager, the owner; on the Enterprise instance the account's admins). Platform services
# acting on an operator's or billing's behalf leave it out.
ByUser = Field(default=None, min_length=1, max_length=200)

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# One strict format, so what is set is read back exactly: "HH:MM", 00:00 to 23:59.
Clock = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
# An open span [opens, closes]; at most 24 spans a day.
Span = Annotated[list[Clock], Field(min_length=2, max_length=2)]

COMMANDS = topic(
    "routing.commands.v1", Direction.COMMANDS, "routing",
    "Commands to the routing service: rule sets, claims, transfers, agent pauses.",
)
EVENTS = topic(
    "routing.events.v1", Direction.EVENTS, "routing",
    "Routing decisions, each with its explanation.",
    key_rule=KeyRule.INSTANCE,
)

KEY_USAGE = topic(
    "routing.api_key_usage.v1", Direction.EVENTS, "routing",
    "When each instance's Open API key was last used (at most one event a minute per key), for the key list.",
    key_rule=KeyRule.INSTANCE, ephemeral=True,
)


@message("routing.rules.set", on=COMMANDS)
class SetRules(Message):
    """Replace an instance's ordered rule set (first match wins); `version` must grow.

    Each rule: `{"id", "when": {channel, source, zip, zip_prefix, price_min, price_max, tags_any,
    tags_all, lead_type}, "steps": [{"strategy": round_robin | weighted | first_to_claim |
    specific_agent | pond, "agents": [...], "weights": {user: n}, "agent": user,
    "claim_within_s": n}, ...]}`. Conditions left out match anything; a lead not claimed within
    a step's `claim_within_s` passes to the next agent of a rotation, then to the next step, and
    after the last step to the pond. A rule with no conditions is the default; without one, a
    default (round robin over every eligible member) is added at the end. The set is checked
    as a whole and refused with the path of the first error (`invalid_rules`)."""

    instance_id: str = Id
    rules: list[dict[str, Any]] = Field(max_length=500)
    version: int = Field(ge=1, le=2_147_483_647)
    by_user_id: str | None = ByUser


@message("routing.rules.rollback", on=COMMANDS)
class RollbackRules(Message):
    """Make an earlier version of the instance's rules current again, as a new version (the next
    one): history is never rewritten. Refused for a version the instance never had
    (`unknown_version`)."""

    instance_id: str = Id
    version: int = Field(ge=1, le=2_147_483_647)
    by_user_id: str | None = ByUser


@message("routing.business_hours.set", on=COMMANDS)
class SetBusinessHours(Message):
    """The instance's business hours, for claim timers of rule steps that say `business_hours`: a
    week of open spans per day (`{"mon": [["09:00", "17:00"]], …}`) in `time_zone` (IANA), and
    holidays (dates) when it is closed. A lead captured on Friday evening with a 15-minute
    business-hours timer expires Monday 09:15 local time."""

    instance_id: str = Id
    time_zone: str = Field(min_length=1, max_length=64)
    week: dict[Day, Annotated[list[Span], Field(max_length=24)]] = Field(max_length=7)
    holidays: list[date] = Field(default_factory=list, max_length=366)
    by_user_id: str | None = ByUser


@message("routing.business_hours.changed", on=EVENTS)
class BusinessHoursChanged(Message):
    """The instance's business hours from now on."""

    instance_id: str
    time_zone: str
    week: dict[str, list[list[str]]]
    holidays: list[date]


@message("routing.lead.claim", on=COMMANDS)
class ClaimLead(Message):
    """An agent claims an offered lead."""

    lead_id: str = Id
    user_id: str = Id


@message("routing.lead.transfer", on=COMMANDS)
class TransferLead(Message):
    """Move a lead to another instance the acting user belongs to."""

    lead_id: str = Id
    to_instance_id: str = Id
    by_user_id: str = Id


@message("routing.agent.pause", on=COMMANDS)
class PauseAgent(Message):
    """Stop routing leads to an agent in one instance."""

    instance_id: str = Id
    user_id: str = Id
    by_user_id: str | None = ByUser


@message("routing.agent.resume", on=COMMANDS)
class ResumeAgent(Message):
    """Route leads to a paused agent again."""

    instance_id: str = Id
    user_id: str = Id
    by_user_id: str | None = ByUser


@message("routing.zillow_target.set", on=COMMANDS)
class SetZillowTarget(Message):
    """Choose the instance that receives a user's Zillow leads."""

    user_id: str = Id
    instance_id: str = Id


@message("routing.api_key.record_use", on=COMMANDS)
class RecordKeyUse(Message):
    """Routing's Open API to itself: a key was used at `used_at` (sent at most once a minute per key
    and process; the handler publishes `routing.api_key.used` when a minute has passed)."""

    key_id: str = Field(min_length=1, max_length=200)
    used_at: datetime


@message("routing.api_key.used", on=KEY_USAGE)
class ApiKeyUsed(Message):
    """An Open API key was used; `used_at` is the latest use this event reports."""

    key_id: str
    instance_id: str
    used_at: datetime


@message("routing.lead.claim_expired", on=COMMANDS)
class ClaimExpired(Message):
    """Routing's own timer: the lead's current step was not claimed in time (sent by routing to
    itself when a stored timer falls due; the id is the timer's, so two replicas fire it once)."""

    lead_id: str = Field(min_length=1, max_length=200)
    timer_id: str = Field(min_length=1, max_length=200)


@message("routing.rules.changed", on=EVENTS)
class RulesChanged(Message):
    """An instance routes by this rule set version from now on."""

    instance_id: str
    version: int
    rules: list[dict[str, Any]]
    by_user_id: str | None = None
    # Set when a rollback made an earlier version current again: the version it copied.
    rolled_back_from: int | None = None


@message("routing.agent.paused", on=EVENTS)
class AgentPaused(Message):
    """An agent receives no leads in this instance until resumed."""

    instance_id: str
    user_id: str
    paused: bool


@message("routing.zillow_target.changed", on=EVENTS)
class ZillowTargetChanged(Message):
    """The user's Zillow leads go to this instance from now on. `reason` is `chosen` when the user
    chose it, `left_instance` when they stopped being a member of `from_instance_id` and their
    leads fell back to the Enterprise instance."""

    user_id: str
    instance_id: str
    reason: str = "chosen"
    from_instance_id: str | None = None


@message("routing.lead.offered", on=EVENTS)
class LeadOffered(Message):
    """First-to-claim: the lead is offered to every eligible agent; the first claim wins."""

    lead_id: str
    instance_id: str
    user_ids: list[str]
    rule_id: str
    claim_within_s: float | None = None
    explanation: dict[str, Any] | list[Any] | str


@message("routing.lead.claimed", on=EVENTS)
class LeadClaimed(Message):
    """An agent claimed the lead; later claims are refused."""

    lead_id: str
    instance_id: str
    user_id: str


@message("routing.lead.assigned", on=EVENTS)
class LeadAssigned(Message):
    """A lead was given to an agent."""

    lead_id: str
    instance_id: str
    user_id: str
    rule_id: str
    strategy: str
    explanation: dict[str, Any] | list[Any] | str
    rules_version: int | None = None
    claim_within_s: float | None = None


@message("routing.lead.pooled", on=EVENTS)
class LeadPooled(Message):
    """A lead went to the instance's pond."""

    lead_id: str
    instance_id: str
    pond_id: str
    reason: str
    explanation: dict[str, Any] | list[Any] | str
    rules_version: int | None = None


@message("routing.lead.reassigned", on=EVENTS)
class LeadReassigned(Message):
    """A lead moved from one agent to another."""

    lead_id: str
    instance_id: str
    from_user_id: str
    to_user_id: str
    reason: str
    explanation: dict[str, Any] | list[Any] | str | None = None
    claim_within_s: float | None = None


@message("routing.lead.transferred", on=EVENTS)
class LeadTransferred(Message):
    """A lead was moved to another instance by hand."""

    lead_id: str
    from_instance_id: str
    to_instance_id: str
    by_user_id: str | None = None


@message("routing.lead.rejected", on=EVENTS)
class LeadRejected(Message):
    """A lead could not be placed in any instance (`unknown_website`, `unknown_parsing_email`,
    `invalid_api_key`, `api_key_in_clear`, `unknown_instance`, `unknown_user`, `missing_target`) or
    was seen before
    (`duplicate_lead`)."""

    lead_id: str
    reason: str
    message: str | None = None


@message("routing.command.rejected", on=EVENTS)
class RoutingCommandRejected(CommandRejected):
    """A routing command broke a rule."""

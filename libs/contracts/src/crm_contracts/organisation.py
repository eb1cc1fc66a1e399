"""Lead organisation per instance, on routing's topics: the pipeline and its stages, the lead
sources, tags on leads and saved segments. Each instance organises its own leads; nothing of one
instance's organisation appears in or changes another's.

Who may: the instance's owner; on the Enterprise instance also the account's admins; in a private
instance also members whose role is `admin` or `lead_manager`. A lead's stage and tags may also
be changed by the agent it is assigned to. A refusal names the missing permission
(`routing.command.rejected {reason: not_permitted}`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator

from .common import Ref
from .routing import COMMANDS, EVENTS
from .registry import Message, message

Id = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
StageId = Annotated[str, Id]
Tag = Annotated[str, Field(min_length=1, max_length=50)]
SourceName = Annotated[str, Field(min_length=1, max_length=100)]
MAX_PRICE = 10**12  # a lead's price in whole currency units; beyond it is a typo, not a listing
ByUser = Field(min_length=1, max_length=200, description="who acts; their permission is checked")
# A lead's own commands may come from the instance's Open API instead of a person: then
# `via_api_key` names the key (its id, never the key) and `by_user_id` is left out.
ViaKey = Field(default=None, min_length=1, max_length=200)


class ActsOnLead(Message):
    """Who acts on a lead: a person (`by_user_id`) or the instance's Open API key (`via_api_key`)."""

    lead_id: str = Field(min_length=1, max_length=200)
    by_user_id: str | None = Field(default=None, min_length=1, max_length=200)
    via_api_key: str | None = ViaKey

    @model_validator(mode="after")
    def _one_actor(self):
        if (self.by_user_id is None) == (self.via_api_key is None):
            raise ValueError("say who acts: by_user_id, or via_api_key for the Open API")
        return self
DEFAULT_STAGES = (("new", "New"), ("contacted", "Contacted"), ("appointment", "Appointment"),
                  ("under_contract", "Under contract"), ("closed", "Closed"), ("lost", "Lost"))
# The capture channels are every instance's first sources.
DEFAULT_SOURCES = ("website", "zillow", "parsing_email", "open_api", "manual")


class Stage(BaseModel):
    stage_id: str = Id
    name: str = Field(min_length=1, max_length=100)


@message("routing.pipeline.set", on=COMMANDS)
class SetPipeline(Message):
    """The instance's pipeline as a whole, in order: a stage kept by id may be renamed or moved; a
    new id adds a stage; a stage left out is removed — refused (`stage_not_empty`) while leads are in
    it, unless `move_leads` names the kept stage they go to."""

    instance_id: str = Field(min_length=1, max_length=200)
    stages: list[Stage] = Field(min_length=1, max_length=50)
    move_leads: dict[StageId, StageId] = Field(default_factory=dict, max_length=50)
    by_user_id: str = ByUser

    @field_validator("stages")
    @classmethod
    def _distinct(cls, stages: list[Stage]) -> list[Stage]:
        ids = [s.stage_id for s in stages]
        if len(set(ids)) != len(ids):
            raise ValueError("stage ids must be distinct")
        return stages


class StageMove(BaseModel):
    from_stage_id: str
    to_stage_id: str
    leads: int


@message("routing.pipeline.changed", on=EVENTS)
class PipelineChanged(Message):
    """The instance's pipeline from now on; `moved` says how many leads left each removed stage."""

    instance_id: str
    stages: list[Stage]
    moved: list[StageMove] = Field(default_factory=list)
    by_user_id: str | None = None


@message("routing.lead.move_stage", on=COMMANDS)
class MoveLeadStage(ActsOnLead):
    """Put a lead in another stage of its instance's pipeline."""

    stage_id: str = Id


@message("routing.lead.stage_changed", on=EVENTS)
class LeadStageChanged(Message):
    """A lead is in this stage of its instance's pipeline from now on."""

    lead_id: str
    instance_id: str
    from_stage_id: str | None
    stage_id: str
    by_user_id: str | None = None
    via_api_key: str | None = None


@message("routing.lead.tag", on=COMMANDS)
class TagLead(ActsOnLead):
    """Add and remove tags on a lead (a tag both added and removed is refused)."""

    add: list[Tag] = Field(default_factory=list, max_length=50)
    remove: list[Tag] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _something(self) -> TagLead:
        if not self.add and not self.remove:
            raise ValueError("add or remove at least one tag")
        if set(self.add) & set(self.remove):
            raise ValueError("a tag cannot be both added and removed")
        if any(not t.strip() or len(t) > 50 for t in [*self.add, *self.remove]):
            raise ValueError("a tag is 1 to 50 characters")
        return self


@message("routing.lead.tags_changed", on=EVENTS)
class LeadTagsChanged(Message):
    """A lead's tags from now on."""

    lead_id: str
    instance_id: str
    tags: list[str]
    by_user_id: str | None = None
    via_api_key: str | None = None


class Contact(BaseModel):
    """A lead's contact fields; those left out stay as they are."""

    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)


@message("routing.lead.update", on=COMMANDS)
class UpdateLead(ActsOnLead):
    """Change a lead's contact fields."""

    contact: Contact


@message("routing.lead.updated", on=EVENTS)
class LeadUpdated(Message):
    """A lead's contact fields changed: `contact` holds the new values of those that did."""

    lead_id: str
    instance_id: str
    contact: Contact
    by_user_id: str | None = None
    via_api_key: str | None = None


@message("routing.lead.assign", on=COMMANDS)
class AssignLead(Message):
    """A lead manager gives a lead to a member by hand (whatever its state; its claim timer stops).
    Answered with `routing.lead.assigned` (nobody had it) or `routing.lead.reassigned`."""

    lead_id: str = Field(min_length=1, max_length=200)
    to_user_id: str = Field(min_length=1, max_length=200)
    by_user_id: str = ByUser


@message("routing.sources.set", on=COMMANDS)
class SetSources(Message):
    """The instance's list of lead sources. A captured lead's source is its own `source` when the
    instance lists it, else its channel."""

    instance_id: str = Field(min_length=1, max_length=200)
    sources: list[SourceName] = Field(min_length=1, max_length=100)
    by_user_id: str = ByUser

    @field_validator("sources")
    @classmethod
    def _distinct(cls, sources: list[str]) -> list[str]:
        if len(set(sources)) != len(sources) or any(not s.strip() or len(s) > 100 for s in sources):
            raise ValueError("sources are distinct, 1 to 100 characters each")
        return sources


@message("routing.sources.changed", on=EVENTS)
class SourcesChanged(Message):
    """The instance's lead sources from now on."""

    instance_id: str
    sources: list[str]
    by_user_id: str | None = None


class SegmentFilter(BaseModel):
    """Conditions left out match any lead; lists match any of their values (`tags_any`) or all
    (`tags_all`); `captured_from` is inclusive and `captured_before` exclusive."""

    stages: list[StageId] | None = Field(default=None, max_length=50)
    sources: list[SourceName] | None = Field(default=None, max_length=100)
    tags_any: list[Tag] | None = Field(default=None, max_length=50)
    tags_all: list[Tag] | None = Field(default=None, max_length=50)
    assignees: list[Ref] | None = Field(default=None, max_length=200)
    price_min: int | None = Field(default=None, ge=0, le=MAX_PRICE)
    price_max: int | None = Field(default=None, ge=0, le=MAX_PRICE)
    captured_from: datetime | None = None
    captured_before: datetime | None = None

    @model_validator(mode="after")
    def _ranges(self) -> SegmentFilter:
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError("price_min is above price_max")
        if self.captured_from and self.captured_before and self.captured_from >= self.captured_before:
            raise ValueError("captured_from is not before captured_before")
        return self


@message("routing.segment.set", on=COMMANDS)
class SetSegment(Message):
    """Create or replace a named saved filter over the instance's leads."""

    instance_id: str = Field(min_length=1, max_length=200)
    segment_id: str = Id
    name: str = Field(min_length=1, max_length=100)
    filter: SegmentFilter
    by_user_id: str = ByUser


@message("routing.segment.remove", on=COMMANDS)
class RemoveSegment(Message):
    """Remove a saved segment."""

    instance_id: str = Field(min_length=1, max_length=200)
    segment_id: str = Id
    by_user_id: str = ByUser


@message("routing.segment.changed", on=EVENTS)
class SegmentChanged(Message):
    """A segment was set (`filter` given) or removed (`removed`)."""

    instance_id: str
    segment_id: str
    name: str | None = None
    filter: SegmentFilter | None = None
    removed: bool = False
    by_user_id: str | None = None

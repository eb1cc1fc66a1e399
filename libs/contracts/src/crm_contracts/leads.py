"""leads.captured.v1: leads arriving from every capture channel."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from .common import MAX_ID, MAX_LABEL, Id, Label
from .registry import Direction, KeyRule, Message, message, topic

CAPTURED = topic(
    "leads.captured.v1", Direction.COMMANDS, "routing",
    "Leads captured by the website tier, Zillow import, the e-mail parsing gateway and the Open API.",
    key_rule=KeyRule.INSTANCE,
)


class Channel(StrEnum):
    WEBSITE = "website"
    ZILLOW = "zillow"
    PARSING_EMAIL = "parsing_email"
    OPEN_API = "open_api"
    MANUAL = "manual"


Text = Field(default=None, max_length=MAX_ID)
Short = Field(default=None, max_length=MAX_LABEL)


class Lead(BaseModel):
    first_name: str | None = Text
    last_name: str | None = Text
    email: str | None = Field(default=None, max_length=320)  # RFC 5321's longest address
    phone: str | None = Field(default=None, max_length=50)
    zip: str | None = Field(default=None, max_length=20)
    price: int | None = Field(default=None, ge=0, le=10**12)
    source: str | None = Short
    tags: list[Label] = Field(default_factory=list, max_length=100)
    lead_type: str | None = Short


@message("leads.lead.captured", on=CAPTURED)
class LeadCaptured(Message):
    """A lead was captured; one of website_id, parsing_email, api_key_sha256, instance_id says where.

    An Open API lead names its instance by the SHA-256 (hex) of the API key it came with: the key
    itself must not travel on the topic, which is kept four weeks. A lead that still carries
    `api_key` in clear is refused (`routing.lead.rejected {reason: api_key_in_clear}`)."""

    lead_id: str = Id
    channel: Channel
    website_id: str | None = Text
    parsing_email: str | None = Field(default=None, max_length=320)
    api_key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    # Deprecated: refused when present. Kept in the schema so that such a lead is answered, not
    # dead-lettered.
    api_key: str | None = Text
    instance_id: str | None = Text
    user_id: str | None = Text
    lead: Lead

"""The CloudEvents 1.0 envelope (structured JSON mode) and the builders every producer uses."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .registry import Message, spec_of, type_of

# Attributes the runtime stores (inbox, outbox keys) and uses as record keys: bounded, and free
# of NUL, which PostgreSQL text cannot hold.
_NON_EMPTY = Field(min_length=1, max_length=500, pattern=r"^[^\x00]+$")
_OPTIONAL = Field(default=None, max_length=500, pattern=r"^[^\x00]*$")
TRACE_MAX_LENGTH = 512  # a W3C tracestate holds at most 32 members
_TRACE = Field(default=None, max_length=TRACE_MAX_LENGTH, pattern=r"^[\x20-\x7e]*$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")

# Structured mode: the value is the whole envelope as JSON. The content type is what tells a
# CloudEvents reader the mode (the Kafka binding, section 3.1); `ce_type` repeats the type so a
# consumer can route a record without parsing it (EVENTS.md).
STRUCTURED_JSON = b"application/cloudevents+json"


def record_headers(type_: str) -> list[tuple[str, bytes]]:
    """The headers of every record a producer here writes for a message of `type_`."""
    return [("ce_type", type_.encode()), ("content-type", STRUCTURED_JSON)]


class CloudEvent(BaseModel):
    """One Kafka record value. `data` stays a plain dict here; `parse_data` types it."""

    # Further CloudEvents extension attributes are allowed and carried along untouched.
    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: str = _NON_EMPTY
    source: str = _NON_EMPTY
    type: str = _NON_EMPTY
    time: datetime | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    subject: str | None = _OPTIONAL
    accountid: str = _NON_EMPTY
    instanceid: str | None = _OPTIONAL
    correlationid: str | None = _OPTIONAL
    causationid: str | None = _OPTIONAL
    # The CloudEvents distributed-tracing extension (W3C Trace Context): carried from a command to
    # every event it causes, so a trace follows one flow through every service. Bounded, and never
    # a reason to refuse a message: a value that is not a trace context is carried, not read.
    traceparent: str | None = _TRACE
    tracestate: str | None = _TRACE
    data: dict[str, Any]
    # When the platform received it: the broker's append time of the record it came in (set by the
    # runtime as it reads; never on the wire). `time` stays the sender's claim, kept for audit.
    _received_at: datetime | None = PrivateAttr(default=None)

    @property
    def received_at(self) -> datetime | None:
        return self._received_at

    def received(self, at: datetime) -> CloudEvent:
        self._received_at = at
        return self

    @property
    def correlation(self) -> str:
        """The id that ties a conversation together: the sender's correlationid, else its id."""
        return self.correlationid or self.id

    def parse_data(self) -> Message:
        """Validate `data` against the model registered for `type` (raises on failure)."""
        return spec_of(self.type).model.model_validate(self.data)

    @property
    def topic(self) -> str:
        return spec_of(self.type).topic.name

    @property
    def key(self) -> str:
        return spec_of(self.type).topic.key_rule.key_for(self.accountid, self.instanceid)

    @property
    def trace_id(self) -> str | None:
        """The W3C trace id of `traceparent`, when it is one (all zeros is not)."""
        found = _TRACEPARENT.match(self.traceparent or "")
        return found.group(1) if found and found.group(1) != "0" * 32 else None

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> CloudEvent:
        return cls.model_validate_json(raw)


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(UTC)


def command(
    data: Message,
    *,
    source: str,
    accountid: str,
    instanceid: str | None = None,
    subject: str | None = None,
    correlationid: str | None = None,
    id: str | None = None,  # noqa: A002 - the CloudEvents attribute is called id
    traceparent: str | None = None,
    tracestate: str | None = None,
) -> CloudEvent:
    """Build a command as another platform service would send it."""
    return CloudEvent(
        specversion="1.0",
        id=id or new_id(),
        source=source,
        type=type_of(data),
        time=now(),
        subject=subject,
        accountid=accountid,
        instanceid=instanceid,
        correlationid=correlationid,
        traceparent=traceparent,
        tracestate=tracestate,
        data=data.model_dump(mode="json"),
    )


def event_caused_by(
    cause: CloudEvent,
    data: Message,
    *,
    source: str,
    subject: str | None = None,
    accountid: str | None = None,
    instanceid: str | None = None,
) -> CloudEvent:
    """Build an event answering `cause`: same correlation, causationid = the cause's id."""
    return CloudEvent(
        specversion="1.0",
        id=new_id(),
        source=source,
        type=type_of(data),
        time=now(),
        subject=subject if subject is not None else cause.subject,
        accountid=accountid or cause.accountid,
        instanceid=instanceid if instanceid is not None else cause.instanceid,
        correlationid=cause.correlation,
        causationid=cause.id,
        traceparent=cause.traceparent,
        tracestate=cause.tracestate,
        data=data.model_dump(mode="json"),
    )

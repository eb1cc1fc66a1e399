"""Value types shared by several services' messages."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .registry import Message

# Every string and list a sender may fill has a bound, published in the JSON Schema
# (tests/contracts check that none is left open). Ids and names share one generous width.
MAX_ID = 200
Id = Field(min_length=1, max_length=MAX_ID)
OptionalId = Field(default=None, min_length=1, max_length=MAX_ID)
Ref = Annotated[str, Field(min_length=1, max_length=MAX_ID)]
# A tag, a stage or a source: short labels people type.
MAX_LABEL = 100
Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL)]
MAX_LABELS = 100
# An e-mail template: subject on one line, an HTML body of at most 64 KB.
MAX_SUBJECT = 500
MAX_TEMPLATE_BODY = 65_536

# Bounds that keep every value storable and every answer publishable; the JSON Schema carries
# them, so senders see them before sending. Seat counts and prices leave room for automatic
# upgrades and pro-rated charges inside a 32-bit integer column.
MAX_SEATS = 1_000_000
MAX_PRICE_CENTS = 100_000_000
MAX_IMPORT_ROWS = 1_000
# An import's answer is published in parts of at most this many rows, so it always fits in a record.
IMPORT_RESULTS_PER_EVENT = 250


class CommandRejected(Message):
    """A well-formed command that broke a rule; `reason` is a stable snake_case code."""

    command_id: str
    command_type: str
    reason: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    message: str


class Refused(Exception):  # noqa: N818 - a decision, not an error
    """A rule said no to a command: `reason` is the stable code and `message` the sentence that a
    `*.command.rejected` answer carries. Domain code raises it without importing the runtime,
    which answers any exception of this shape (`crm_runtime.handlers.as_refusal`)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message

"""Which types travel on which topic, and how each topic is keyed.

The registry is filled by the `message` decorator in the per-service modules; importing
`crm_contracts` imports all of them, so lookups always see the whole contract. It knows nothing
of the envelope: the envelope looks types up here, never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, TypeVar

from pydantic import BaseModel


class Message(BaseModel):
    """The payload of one message type. Its class carries the CloudEvents `type` it travels as,
    set once by `message` when it is registered."""

    TYPE: ClassVar[str]


M = TypeVar("M", bound=type[Message])


class KeyRule(StrEnum):
    ACCOUNT = "accountid"
    INSTANCE = "instanceid"

    def key_for(self, accountid: str, instanceid: str | None) -> str:
        if self is KeyRule.ACCOUNT:
            return accountid
        # An instance-keyed message about no instance (say, the rejection of a command that
        # named none) still needs a key; the account keeps it ordered with its tenant.
        return instanceid or accountid


class Direction(StrEnum):
    COMMANDS = "commands"
    EVENTS = "events"


@dataclass(frozen=True)
class Topic:
    name: str
    direction: Direction
    key_rule: KeyRule
    owner: str  # the service that consumes commands from it or publishes events to it
    description: str
    # Events that say only the latest of something (not facts a read model is rebuilt from) are
    # kept four weeks, like commands, instead of forever.
    ephemeral: bool = False
    types: dict[str, type[Message]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


@dataclass(frozen=True)
class MessageSpec:
    type_name: str  # the CloudEvents `type` it travels as
    topic: Topic
    model: type[Message]
    description: str


TOPICS: dict[str, Topic] = {}
MESSAGES: dict[str, MessageSpec] = {}


def topic(
    name: str, direction: Direction, owner: str, description: str, key_rule: KeyRule = KeyRule.ACCOUNT,
    *, ephemeral: bool = False,
) -> Topic:
    t = Topic(name=name, direction=direction, key_rule=key_rule, owner=owner, description=description,
              ephemeral=ephemeral)
    TOPICS[name] = t
    return t


def message(type_: str, on: Topic) -> Callable[[M], M]:
    """Register a data model as the payload of `type_`, carried on topic `on`."""

    def register(model: M) -> M:
        if type_ in MESSAGES:
            raise ValueError(f"{type_} is registered twice")
        if "TYPE" in model.__dict__:
            raise ValueError(f"{model.__name__} is already registered as {model.TYPE}")
        model.TYPE = type_
        description = (model.__doc__ or type_).strip()
        MESSAGES[type_] = MessageSpec(type_name=type_, topic=on, model=model, description=description)
        on.types[type_] = model
        return model

    return register


def spec_of(type_: str) -> MessageSpec:
    try:
        return MESSAGES[type_]
    except KeyError:
        raise UnknownType(type_) from None


def type_of(model: type[Message] | Message) -> str:
    return model.TYPE


class UnknownType(LookupError):
    def __init__(self, type_: str) -> None:
        super().__init__(f"unknown message type {type_!r}")
        self.type = type_

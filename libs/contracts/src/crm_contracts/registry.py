"""Which types travel on which topic, and how each topic is keyed.

The registry is filled by the `message` decorator in the per-service modules; importing
`crm_contracts` imports all of them, so lookups always see the whole contract.
"""

from __future__ import annotations

import builtins

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from collections.abc import Callable

    from .envelope import CloudEvent


class KeyRule(StrEnum):
    ACCOUNT = "accountid"
    INSTANCE = "instanceid"

    def key_for(self, event: CloudEvent) -> str:
        if self is KeyRule.ACCOUNT:
            return event.accountid
        # An instance-keyed message about no instance (say, the rejection of a command that
        # named none) still needs a key; the account keeps it ordered with its tenant.
        return event.instanceid or event.accountid


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
    types: dict[str, type[BaseModel]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


@dataclass(frozen=True)
class MessageSpec:
    type: str  # the CloudEvents `type` it travels as
    topic: Topic
    model: builtins.type[BaseModel]  # `type` above is the field: the builtin by its full name
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


def message(type_: str, on: Topic) -> Callable[[type[BaseModel]], type[BaseModel]]:
    """Register a data model as the payload of `type_`, carried on topic `on`."""

    def register(model: type[BaseModel]) -> type[BaseModel]:
        if type_ in MESSAGES:
            raise ValueError(f"{type_} is registered twice")
        model.TYPE = type_  # type: ignore[attr-defined]
        description = (model.__doc__ or type_).strip()
        MESSAGES[type_] = MessageSpec(type=type_, topic=on, model=model, description=description)
        on.types[type_] = model
        return model

    return register


def spec_of(type_: str) -> MessageSpec:
    try:
        return MESSAGES[type_]
    except KeyError:
        raise UnknownType(type_) from None


def type_of(model: type[BaseModel] | BaseModel) -> str:
    return model.TYPE  # type: ignore[union-attr]


class UnknownType(LookupError):
    def __init__(self, type_: str) -> None:
        super().__init__(f"unknown message type {type_!r}")
        self.type = type_

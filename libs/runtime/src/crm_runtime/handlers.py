"""What a handler sees: its transaction, the message, and a way to emit events or reject."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel, ValidationError

from crm_contracts import CloudEvent, event_caused_by, type_of

from . import tracing
from .settings import ServiceSettings


_IDS = uuid.UUID("3f0c6a52-7d5e-4c55-9d0e-2b8f6f1f4a11")


class Rejected(Exception):  # noqa: N818 - a decision, not an error
    """A well-formed command broke a rule; answered with `<service>.command.rejected`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def as_refusal(exc: BaseException) -> Rejected | None:
    """A rule's refusal, whoever defined it: `Rejected`, or any exception with a text `reason` (a
    stable code) and `message` (for people). Domain packages define their own errors this way
    and import nothing from the runtime."""
    if isinstance(exc, Rejected):
        return exc
    reason, message = getattr(exc, "reason", None), getattr(exc, "message", None)
    if isinstance(reason, str) and reason and isinstance(message, str):
        return Rejected(reason, message)
    return None


# Given the message being handled, or None outside a handler (an HTTP read), what time it is.
Clock = Callable[[CloudEvent | None], datetime]


def platform_time(message: CloudEvent | None) -> datetime:
    """The default clock: when the platform received the message — the broker's append time of its
    record — so handling it again (a redelivery, a replay) happens on the same day and no sender
    chooses the day by the `time` it writes. A message handed over in-process (a command given over
    HTTP) or outside a handler (an HTTP read): this server's clock."""
    return ((message.received_at if message else None) or datetime.now(UTC)).astimezone(UTC)



@dataclass
class HandlerContext:
    conn: asyncpg.Connection
    message: CloudEvent
    service: str
    settings: ServiceSettings
    # Events emitted by this handler; the runtime writes them to the outbox together with the
    # rest of the batch, in the same transaction, only if this message's work is kept.
    staged: list[CloudEvent] = field(default_factory=list)
    # Where handlers take "now" from; tests fix it.
    clock: Clock = platform_time

    def now(self) -> datetime:
        return self.clock(self.message)

    def today(self) -> date:
        """The UTC day of `now()`."""
        return self.now().astimezone(UTC).date()

    def derived_id(self, prefix: str, *parts: str) -> str:
        """An id made from the message being handled (and `parts`), not drawn at random: handling
        the same message again — a replay into a new database — names the same things."""
        return f"{prefix}_" + uuid.uuid5(_IDS, "/".join((self.message.id, *parts))).hex

    async def emit(self, data: BaseModel, **attributes: Any) -> CloudEvent:
        """Stage an event caused by the message being handled, in the handler's transaction. An
        attribute the wire cannot carry (say, a subject over 500 characters taken from the
        message) is the sender's value: the message is refused `invalid_value`, not retried."""
        try:
            event = event_caused_by(self.message, data, source=f"crm/{self.service}", **attributes)
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) or "(root)" for e in exc.errors())
            raise Rejected("invalid_value", f"the answer cannot carry {fields}: {exc.errors()[0]['msg']}") from None
        event = tracing.producing(event)
        self.staged.append(event)
        return event


M = TypeVar("M", bound=BaseModel)
Handler = Callable[[HandlerContext, Any], Awaitable[None]]


class Handlers:
    """One handler per message type, registered with `@handlers.on(Model)`."""

    def __init__(self) -> None:
        self._by_type: dict[str, Handler] = {}

    def on(self, model: type[M]) -> Callable[[Callable[[HandlerContext, M], Awaitable[None]]], Handler]:
        def register(fn: Callable[[HandlerContext, M], Awaitable[None]]) -> Handler:
            type_ = type_of(model)
            if type_ in self._by_type:
                raise ValueError(f"two handlers for {type_}")
            self._by_type[type_] = fn
            return fn

        return register

    @classmethod
    def combine(cls, *parts: Handlers) -> Handlers:
        """One registry of a service whose handlers are split by aggregate across modules."""
        combined = cls()
        for part in parts:
            for type_, fn in part._by_type.items():
                if type_ in combined._by_type:
                    raise ValueError(f"two handlers for {type_}")
                combined._by_type[type_] = fn
        return combined

    def get(self, type_: str) -> Handler | None:
        return self._by_type.get(type_)

    @property
    def types(self) -> list[str]:
        return sorted(self._by_type)

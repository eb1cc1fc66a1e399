"""A fetched record on its way through a batch: read (`decode`), the outcome it ends with, and
`DeadLetter`, the outcome of a record that cannot be handled."""

from __future__ import annotations


from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import ConsumerRecord
from pydantic import BaseModel, ValidationError

from crm_contracts import MESSAGES, CloudEvent, Direction, Topic

from .handlers import Handler


class DeadLetter(Exception):  # noqa: N818 - an outcome, raised to leave the pipeline early
    def __init__(self, reason: str, error: str, message: CloudEvent | None = None) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason = reason
        self.error = error
        self.message = message  # the envelope, when it could be read: its sender can be answered


@dataclass(frozen=True)
class Outcome:
    name: str  # handled | duplicate | rejected | ignored | dead_lettered
    message: CloudEvent | None = None
    reason: str | None = None  # for rejected and dead_lettered: the stable reason code
    detail: str | None = None


IGNORED = Outcome("ignored")


@dataclass(eq=False)
class Item:
    """One record on its way through a batch."""

    record: ConsumerRecord | None  # None for a command the service gives itself (HTTP)
    topic: Topic
    message: CloudEvent | None = None
    data: BaseModel | None = None
    handler: Handler | None = None
    outcome: Outcome | None = None
    dead: DeadLetter | None = None
    failures: int = 0
    timeouts: int = 0  # statement or lock timeouts of this record's own transaction

    @property
    def offset(self) -> int:
        return self.record.offset if self.record is not None else -1


# Kafka's timestamp type of a record the broker stamped itself (topics.APPEND_TIME).
LOG_APPEND_TIME = 1


def decode(record: ConsumerRecord, topic: Topic) -> tuple[CloudEvent, BaseModel | None]:
    """The envelope and typed data; data is None for an event type this consumer may skip."""
    try:
        message = CloudEvent.model_validate_json(record.value if record.value is not None else b"")
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise DeadLetter("invalid_json", _short(exc)) from None
        raise DeadLetter("invalid_envelope", _short(exc)) from None
    if record.timestamp_type == LOG_APPEND_TIME and record.timestamp is not None:
        message.received(datetime.fromtimestamp(record.timestamp / 1000, UTC))
    spec = MESSAGES.get(message.type)
    if spec is None or spec.topic.name != topic.name:
        if topic.direction is Direction.EVENTS:
            return message, None  # a newer producer's type: tolerated, not ours to judge
        where = "" if spec is None else f" (it belongs on {spec.topic.name})"
        raise DeadLetter("unknown_type", f"{message.type!r} is not a type of {topic.name}{where}", message)
    try:
        return message, spec.model.model_validate(message.data)
    except ValidationError as exc:
        raise DeadLetter("invalid_data", _short(exc), message) from None


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
    )[:2000]


def header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name and value is not None:
            try:
                return value.decode()
            except UnicodeDecodeError:
                return None
    return None

"""notifications.commands.v1 and notifications.events.v1."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from .common import MAX_SUBJECT, MAX_TEMPLATE_BODY, CommandRejected, Id, OptionalId, Ref
from .registry import Direction, Message, message, topic

COMMANDS = topic(
    "notifications.commands.v1", Direction.COMMANDS, "notifications",
    "Commands to the notifications service: templates, device sessions, read receipts.",
)
EVENTS = topic(
    "notifications.events.v1", Direction.EVENTS, "notifications",
    "E-mails sent or failed, pushes sent, unread counts.",
)


class TemplateName(StrEnum):
    OPT_IN_INVITATION = "opt_in_invitation"
    STANDARD_INVITATION = "standard_invitation"
    INSTANCE_INVITATION = "instance_invitation"


class Device(StrEnum):
    WEB = "web"
    MOBILE = "mobile"


@message("notifications.template.set", on=COMMANDS)
class SetTemplate(Message):
    """Set an account's e-mail template (subject and body with named placeholders)."""

    template: TemplateName
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    body: str = Field(min_length=1, max_length=MAX_TEMPLATE_BODY)
    by_user_id: str | None = Field(default=None, min_length=1, max_length=200)  # the account admin acting


@message("notifications.template.reset", on=COMMANDS)
class ResetTemplate(Message):
    """Put an account's e-mail template back to the default."""

    template: TemplateName
    by_user_id: str | None = Field(default=None, min_length=1, max_length=200)  # the account admin acting


@message("notifications.session.set", on=COMMANDS)
class SetSession(Message):
    """Record which instance a user's device is logged into."""

    user_id: str = Id
    device: Device
    device_id: str = Id
    instance_id: str = Id


@message("notifications.notification.read", on=COMMANDS)
class ReadNotifications(Message):
    """Mark notifications as read: those named, or every one of the user's in `instance_id`."""

    user_id: str = Id
    notification_ids: list[Ref] = Field(default_factory=list, max_length=1000)
    instance_id: str | None = OptionalId

    @model_validator(mode="after")
    def _which(self) -> ReadNotifications:
        if bool(self.notification_ids) == (self.instance_id is not None):
            raise ValueError("name the notifications (notification_ids) or the instance (instance_id), one of them")
        return self


@message("notifications.template.changed", on=EVENTS)
class TemplateChanged(Message):
    """An account's e-mail template was set, or reset to the default (`custom` false)."""

    template: TemplateName
    subject: str
    custom: bool = True


@message("notifications.session.changed", on=EVENTS)
class SessionChanged(Message):
    """A device of a user is now logged into an instance."""

    user_id: str
    device: Device
    device_id: str
    instance_id: str


@message("notifications.email.sent", on=EVENTS)
class EmailSent(Message):
    """An e-mail was handed to the SMTP server."""

    message_id: str
    to: str
    template: str
    cause_event_id: str


@message("notifications.email.failed", on=EVENTS)
class EmailFailed(Message):
    """An e-mail could not be delivered after retries."""

    to: str
    template: str
    cause_event_id: str
    error: str


@message("notifications.push.sent", on=EVENTS)
class PushSent(Message):
    """A push notification went to a device."""

    notification_id: str
    user_id: str
    device_id: str
    instance_id: str
    source_instance_name: str
    cause_event_id: str


@message("notifications.unread.changed", on=EVENTS)
class UnreadChanged(Message):
    """A user's unread counts per instance."""

    user_id: str
    counts: dict[str, int]


@message("notifications.command.rejected", on=EVENTS)
class NotificationsCommandRejected(CommandRejected):
    """A notifications command broke a rule."""

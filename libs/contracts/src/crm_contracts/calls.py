"""Call settings, on seats' topics. "The bridge number and personal number are the same on any
instance the Lofty user has access to. All other Call settings are independent to the different
instances": a user's bridge number is given once, with their first calling package, from the
platform's pool (`number_pool_empty` when it has none left); the settings below are per user and
instance."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .registry import Message, message
from .seats import COMMANDS, EVENTS


class CallSettings(BaseModel):
    voicemail_greeting: str | None = Field(default=None, max_length=500)
    call_recording: bool = False
    forward_to: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")  # E.164
    ring_seconds: int = Field(default=20, ge=5, le=120)


@message("seats.call_settings.set", on=COMMANDS)
class SetCallSettings(Message):
    """A member's call settings in one instance (the user must belong to it)."""

    instance_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    settings: CallSettings


@message("seats.call_settings.changed", on=EVENTS)
class CallSettingsChanged(Message):
    """A member's call settings in one instance from now on."""

    instance_id: str
    user_id: str
    settings: CallSettings


@message("seats.bridge_number.assigned", on=EVENTS)
class BridgeNumberAssigned(Message):
    """A user got their bridge number (once, with their first calling package); it is the same on
    every instance they can use."""

    user_id: str
    number: str

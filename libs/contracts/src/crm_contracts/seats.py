"""seats.commands.v1 and seats.events.v1."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field, model_validator

from .common import MAX_PRICE_CENTS, MAX_SEATS, CommandRejected
from .registry import Direction, message, topic

COMMANDS = topic(
    "seats.commands.v1", Direction.COMMANDS, "seats",
    "Commands to the seats service: subscriptions, add-ons, calling packages.",
)
EVENTS = topic(
    "seats.events.v1", Direction.EVENTS, "seats",
    "Facts published by the seats service: seat ledger changes, upgrades, charges.",
)

Currency = Field(pattern=r"^[A-Z]{3}$")


@message("seats.subscription.set", on=COMMANDS)
class SetSubscription(BaseModel):
    """Set an account's paid seats and billing period (from billing)."""

    seats_total: int = Field(ge=0, le=MAX_SEATS)
    seat_price_cents: int = Field(ge=0, le=MAX_PRICE_CENTS)
    currency: str = Currency
    period_start: date
    period_end: date

    @model_validator(mode="after")
    def _period_is_forward(self) -> SetSubscription:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self


@message("seats.addon.purchase", on=COMMANDS)
class PurchaseAddon(BaseModel):
    """Buy an add-on for one instance."""

    instance_id: str = Field(min_length=1)
    addon: str = Field(min_length=1)
    buyer_user_id: str = Field(min_length=1)


@message("seats.calling_package.purchase", on=COMMANDS)
class PurchaseCallingPackage(BaseModel):
    """Buy a calling/texting package for an agent."""

    package_id: str = Field(min_length=1)
    buyer_user_id: str = Field(min_length=1)
    assigned_user_id: str = Field(min_length=1)
    instance_id: str = Field(min_length=1)


@message("seats.subscription.changed", on=EVENTS)
class SubscriptionChanged(BaseModel):
    """An account's subscription (seat total, price, period) was set."""

    seats_total: int
    seats_used: int
    seat_price_cents: int
    currency: str
    period_start: date
    period_end: date


@message("seats.seat.reserved", on=EVENTS)
class SeatReserved(BaseModel):
    """A member holds a seat."""

    user_id: str
    seats_used: int
    seats_total: int
    auto_upgraded: bool


@message("seats.seat.released", on=EVENTS)
class SeatReleased(BaseModel):
    """A member gave a seat back."""

    user_id: str
    seats_used: int
    seats_total: int


@message("seats.seat.denied", on=EVENTS)
class SeatDenied(BaseModel):
    """A seat could not be given."""

    user_id: str
    reason: str


@message("seats.account.upgraded", on=EVENTS)
class AccountUpgraded(BaseModel):
    """The seat total was raised automatically."""

    from_total: int
    to_total: int
    unit_price_cents: int
    reason: str
    user_id: str


class Proration(BaseModel):
    days_remaining: int
    days_in_period: int


@message("seats.charge.created", on=EVENTS)
class ChargeCreated(BaseModel):
    """A (pro-rated) charge was recorded for billing."""

    charge_id: str
    amount_cents: int
    currency: str
    description: str
    period_end: date
    proration: Proration


@message("seats.command.rejected", on=EVENTS)
class SeatsCommandRejected(CommandRejected):
    """A seats command broke a rule."""

"""seats.commands.v1: subscriptions, price lists, add-ons, calling packages, integrations."""

from __future__ import annotations

from datetime import date

from pydantic import Field, model_validator

from ..common import MAX_PRICE_CENTS, MAX_SEATS
from ..registry import Message, message
from .vocabulary import COMMANDS, AutoUpgrade, Currency, Interval, NumberKind

@message("seats.subscription.set", on=COMMANDS)
class SetSubscription(Message):
    """Set an account's paid seats and billing (from billing). `period_start`..`period_end` is the
    first period; later ones renew every `interval` from `period_start` (the anchor: calendar
    months or years, an anchor on the 31st falling on the last day of shorter months)."""

    seats_total: int = Field(ge=0, le=MAX_SEATS)
    seat_price_cents: int = Field(ge=0, le=MAX_PRICE_CENTS)
    currency: str = Currency
    period_start: date
    period_end: date
    interval: Interval = Interval.MONTH
    auto_upgrade: AutoUpgrade = Field(default_factory=AutoUpgrade)
    # The account's time zone (IANA): its billing day ends at its own midnight, not UTC's.
    time_zone: str = Field(default="UTC", min_length=1, max_length=64)

    @model_validator(mode="after")
    def _period_is_forward(self) -> SetSubscription:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self


@message("seats.subscription.schedule_reduction", on=COMMANDS)
class ScheduleReduction(Message):
    """Lower the paid seats at the next renewal (refused `below_seats_in_use` while more are held)."""

    seats_total: int = Field(ge=0, le=MAX_SEATS)


# What can be bought or connected (PI9, PI10). Kept as plain strings on the wire so that an item
# this version does not know is refused by name (`unknown_addon`, …) rather than dead-lettered.


@message("seats.addon.purchase", on=COMMANDS)
class PurchaseAddon(Message):
    """Buy an add-on for one instance, charged pro-rated (PI10). The buyer must be a member of it."""

    instance_id: str = Field(min_length=1, max_length=200)
    addon: str = Field(min_length=1, max_length=100)
    buyer_user_id: str = Field(min_length=1, max_length=200)


@message("seats.addon.cancel", on=COMMANDS)
class CancelAddon(Message):
    """Stop an add-on at the end of the billing period it is cancelled in: usable and paid for to
    then, not renewed after (no credit for the days left). Who bought it, or the account's admins."""

    instance_id: str = Field(min_length=1, max_length=200)
    addon: str = Field(min_length=1, max_length=100)
    by_user_id: str = Field(min_length=1, max_length=200)


@message("seats.calling_package.purchase", on=COMMANDS)
class PurchaseCallingPackage(Message):
    """Buy a calling/texting package for an agent (PI9): usable on every instance of the agent
    when the buyer is the agent, otherwise only on the buyer's instance (`instance_id`)."""

    package_id: str = Field(min_length=1, max_length=100)
    buyer_user_id: str = Field(min_length=1, max_length=200)
    assigned_user_id: str = Field(min_length=1, max_length=200)
    instance_id: str = Field(min_length=1, max_length=200)
    number_kind: NumberKind = NumberKind.PERSONAL


@message("seats.integration.connect", on=COMMANDS)
class ConnectIntegration(Message):
    """A user connects an integration; it is theirs and shared by all of their instances (PI10)."""

    user_id: str = Field(min_length=1, max_length=200)
    integration: str = Field(min_length=1, max_length=100)


@message("seats.integration.disconnect", on=COMMANDS)
class DisconnectIntegration(Message):
    """A user disconnects an integration, on every instance at once."""

    user_id: str = Field(min_length=1, max_length=200)
    integration: str = Field(min_length=1, max_length=100)


@message("seats.price_list.set", on=COMMANDS)
class SetPriceList(Message):
    """Billing changes an account's monthly prices (packages, add-ons, calling packages), in cents.
    Items left out keep their price; a change applies to later purchases only."""

    prices: dict[str, int] = Field(min_length=1, max_length=100)
    currency: str = Currency

    @model_validator(mode="after")
    def _prices_in_range(self) -> SetPriceList:
        for item, cents in self.prices.items():
            if not 0 <= cents <= MAX_PRICE_CENTS:
                raise ValueError(f"price of {item} must be between 0 and {MAX_PRICE_CENTS} cents")
        return self

"""seats.commands.v1 and seats.events.v1."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from .common import MAX_PRICE_CENTS, MAX_SEATS, CommandRejected
from .registry import Direction, Message, message, topic

COMMANDS = topic(
    "seats.commands.v1", Direction.COMMANDS, "seats",
    "Commands to the seats service: subscriptions, add-ons, calling packages.",
)
EVENTS = topic(
    "seats.events.v1", Direction.EVENTS, "seats",
    "Facts published by the seats service: seat ledger changes, upgrades, charges.",
)

Currency = Field(pattern=r"^[A-Z]{3}$")


class Interval(StrEnum):
    MONTH = "month"
    YEAR = "year"


class AutoUpgradeMode(StrEnum):
    ON = "on"        # an accepted opt-in with no free seat buys one (AO9)
    OFF = "off"      # it waits as seat_unavailable instead (AO10)
    LIMIT = "limit"  # seats are bought automatically up to `max_seats` in total


class AutoUpgrade(BaseModel):
    mode: AutoUpgradeMode = AutoUpgradeMode.ON
    max_seats: int | None = Field(default=None, ge=0, le=MAX_SEATS)

    @model_validator(mode="after")
    def _limit_has_a_number(self) -> AutoUpgrade:
        if self.mode is AutoUpgradeMode.LIMIT and self.max_seats is None:
            raise ValueError("auto_upgrade mode 'limit' needs max_seats")
        return self


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
ADDONS = ("ai_assistant", "home_report", "cma", "social_studio_pro", "revaluate", "direct_mail",
          "agent_website", "vanity_domain", "lead_generation")
INTEGRATIONS = ("gmail", "office_365", "imap", "google_calendar", "outlook_calendar", "calendly",
                "slybroadcast", "google_contacts", "bombbomb", "dotloop", "skyslope", "brokermint", "cloud_cma")
CALLING_PACKAGES = ("calling_basic", "calling_pro", "texting", "calling_texting_unlimited")
PACKAGES = ("crm_only", "crm_idx_solo", "crm_idx_team")


class NumberKind(StrEnum):
    PERSONAL = "personal"  # usable on every instance of the user
    COMPANY = "company"    # usable only on the instance it was bought on


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


@message("seats.subscription.changed", on=EVENTS)
class SubscriptionChanged(Message):
    """An account's subscription (seat total, price, period) was set."""

    seats_total: int
    seats_used: int
    seat_price_cents: int
    currency: str
    period_start: date
    period_end: date
    interval: Interval = Interval.MONTH
    auto_upgrade: AutoUpgrade = Field(default_factory=AutoUpgrade)
    time_zone: str = "UTC"


@message("seats.period.renewed", on=EVENTS)
class PeriodRenewed(Message):
    """The account entered a new billing period (published once per period, when the first message
    of the account falls in it); `seats_total` is what is paid for in it."""

    period_start: date
    period_end: date
    seats_total: int
    seat_price_cents: int
    currency: str


@message("seats.subscription.reduction_scheduled", on=EVENTS)
class ReductionScheduled(Message):
    """The paid seats will be lowered to `seats_total` when the current period ends."""

    seats_total: int
    effective_on: date


@message("seats.subscription.reduced", on=EVENTS)
class SubscriptionReduced(Message):
    """A scheduled reduction took effect at a renewal (never below the seats held then)."""

    from_total: int
    to_total: int
    period_start: date


@message("seats.seat.reserved", on=EVENTS)
class SeatReserved(Message):
    """A member holds a seat, or the account's owner (who holds one from the first subscription)."""

    user_id: str
    seats_used: int
    seats_total: int
    auto_upgraded: bool
    account_owner: bool = False


@message("seats.seat.released", on=EVENTS)
class SeatReleased(Message):
    """A member gave a seat back."""

    user_id: str
    seats_used: int
    seats_total: int


@message("seats.seat.denied", on=EVENTS)
class SeatDenied(Message):
    """A seat could not be given: `no_seat_available` (an immediate add, a reactivation),
    `auto_upgrade_off` or `auto_upgrade_limit_reached` (an accepted opt-in the account's limits
    stopped), `no_subscription`. The seat counts are the account's as the seat was refused."""

    user_id: str
    reason: str
    seats_used: int | None = None
    seats_total: int | None = None


@message("seats.account.upgraded", on=EVENTS)
class AccountUpgraded(Message):
    """The seat total was raised automatically."""

    from_total: int
    to_total: int
    unit_price_cents: int
    reason: str = Field(description="opt_in_accepted (a member accepted with no seat free) or account_owner "
                                    "(the owner's own seat, bought with the first subscription)")
    user_id: str


class Proration(BaseModel):
    days_remaining: int
    days_in_period: int


@message("seats.charge.created", on=EVENTS)
class ChargeCreated(Message):
    """A charge was recorded for billing: a purchase (pro-rated over the rest of its period) or
    the renewal of a recurring item (package, add-on, calling package) for a whole period."""

    charge_id: str
    amount_cents: int
    currency: str
    description: str
    period_end: date
    proration: Proration
    # The period the charge pays for starts here, and the day it was made (absent on older charges).
    period_start: date | None = None
    charged_on: date | None = None
    # What was bought, when it is not a seat: `package:<name>`, `addon:<name>`, `calling:<id>`.
    item: str | None = None
    instance_id: str | None = None
    buyer_user_id: str | None = None


@message("seats.price_list.changed", on=EVENTS)
class PriceListChanged(Message):
    """An account's price list now reads so (every item, defaults included)."""

    prices: dict[str, int]
    currency: str


@message("seats.addon.purchased", on=EVENTS)
class AddonPurchased(Message):
    """An add-on is active on an instance (`resumed`: bought again before a cancellation took
    effect, so it simply goes on and nothing more is charged; `charge_id` is the charge it runs on)."""

    instance_id: str
    addon: str
    buyer_user_id: str
    charge_id: str
    resumed: bool = False


@message("seats.addon.cancelled", on=EVENTS)
class AddonCancelled(Message):
    """An add-on stops after `ends_on` (the end of the period it was cancelled in): no renewal after."""

    instance_id: str
    addon: str
    buyer_user_id: str
    by_user_id: str
    ends_on: date


@message("seats.calling_package.purchased", on=EVENTS)
class CallingPackagePurchased(Message):
    """A calling/texting package was bought for an agent."""

    purchase_id: str
    package_id: str
    buyer_user_id: str
    assigned_user_id: str
    instance_id: str
    number_kind: NumberKind
    charge_id: str


@message("seats.integration.changed", on=EVENTS)
class IntegrationChanged(Message):
    """A user's integration was connected or disconnected (for all of their instances)."""

    user_id: str
    integration: str
    connected: bool


@message("seats.command.rejected", on=EVENTS)
class SeatsCommandRejected(CommandRejected):
    """A seats command broke a rule."""

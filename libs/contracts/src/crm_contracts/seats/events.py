"""seats.events.v1: the seat ledger, upgrades, charges and what was bought."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from ..common import CommandRejected
from ..registry import Message, message
from .vocabulary import EVENTS, AutoUpgrade, Interval, NumberKind

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

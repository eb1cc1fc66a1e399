"""An account's seat ledger: how many seats are paid for and how many are held (AO9, AO10), the
billing period they are paid for, and the limits set on automatic upgrades."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_contracts.common import Refused

from .periods import Interval, Period, periods_until


class LedgerError(Refused):
    """A rule broken; the runtime answers it with `<service>.command.rejected`."""


AUTO_UPGRADE_MODES = ("on", "off", "limit")


@dataclass(frozen=True)
class Renewal:
    """A period entered: the seats paid for in it, and what a scheduled reduction did."""

    period: Period
    seats_total: int
    reduced_from: int | None = None


@dataclass(frozen=True)
class Subscription:
    account_id: str
    seats_total: int
    seats_used: int
    seat_price_cents: int
    currency: str
    period_start: date | None
    period_end: date | None
    anchor: date | None = None
    interval: str = Interval.MONTH.value
    auto_upgrade_mode: str = "on"
    auto_upgrade_max: int | None = None
    scheduled_seats_total: int | None = None
    time_zone: str = "UTC"
    owner_user_id: str | None = None

    def day_at(self, instant: datetime) -> date:
        """The account's billing day at `instant`: its own calendar day, in its time zone."""
        return instant.astimezone(ZoneInfo(self.time_zone)).date()

    @property
    def available(self) -> int:
        return self.seats_total - self.seats_used

    @property
    def has_plan(self) -> bool:
        return self.period_start is not None and self.period_end is not None

    @property
    def period(self) -> Period | None:
        if self.period_start is None or self.period_end is None:
            return None
        return Period(self.period_start, self.period_end)

    def set_plan(self, *, seats_total: int, seat_price_cents: int, currency: str, period_start: date,
                 period_end: date, interval: str = Interval.MONTH.value, auto_upgrade_mode: str = "on",
                 auto_upgrade_max: int | None = None, time_zone: str = "UTC") -> Subscription:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise LedgerError("unknown_time_zone", f"{time_zone!r} is not an IANA time zone") from None
        if seats_total < self.seats_used:
            raise LedgerError("seats_below_used",
                              f"{seats_total} seats is fewer than the {self.seats_used} held")
        if self.seats_used and currency != self.currency:
            raise LedgerError("currency_change_not_allowed",
                              f"seats are held in {self.currency}; cannot switch to {currency}")
        anchor = period_start
        if self.anchor == anchor and self.interval == interval and (current := self.period) is not None \
                and current.start >= period_end:
            # The same billing cycle, renewed past the first period already: the new seats and price
            # apply from the current period on, and no period is entered (or published) twice.
            period_start, period_end = current.start, current.end
        # A new plan supersedes a reduction scheduled under the old one.
        return replace(self, seats_total=seats_total, seat_price_cents=seat_price_cents, currency=currency,
                       period_start=period_start, period_end=period_end, anchor=anchor,
                       interval=Interval(interval).value, auto_upgrade_mode=auto_upgrade_mode,
                       auto_upgrade_max=auto_upgrade_max if auto_upgrade_mode == "limit" else None,
                       scheduled_seats_total=None, time_zone=time_zone)

    def renewed_to(self, day: date) -> tuple[Subscription, list[Renewal]]:
        """The subscription in the period containing `day`, and each period entered on the way.
        A scheduled reduction applies at the first renewal, down to the seats held then at most."""
        if (current := self.period) is None or self.anchor is None:
            return self, []
        entered = periods_until(self.anchor, Interval(self.interval), current, day)
        if not entered:
            return self, []
        sub, renewals = self, []
        for period in entered:
            reduced_from = None
            if sub.scheduled_seats_total is not None:
                target = max(sub.scheduled_seats_total, sub.seats_used)
                if target < sub.seats_total:
                    reduced_from = sub.seats_total
                sub = replace(sub, seats_total=min(sub.seats_total, target), scheduled_seats_total=None)
            sub = replace(sub, period_start=period.start, period_end=period.end)
            renewals.append(Renewal(period, sub.seats_total, reduced_from))
        return sub, renewals

    def schedule_reduction(self, seats_total: int) -> Subscription:
        """Lower the total at the next renewal; refused while more seats than that are held."""
        if not self.has_plan:
            raise LedgerError("no_subscription", f"account {self.account_id} has no subscription to reduce")
        if seats_total >= self.seats_total:
            raise LedgerError("not_a_reduction",
                              f"{seats_total} seats is not fewer than the {self.seats_total} paid for")
        if seats_total < self.seats_used:
            raise LedgerError("below_seats_in_use",
                              f"{self.seats_used} seats are held; release seats before reducing to {seats_total}")
        return replace(self, scheduled_seats_total=seats_total)

    def reserve(self) -> Subscription:
        """Take a free seat; LedgerError `no_seat_available` when there is none."""
        if self.available <= 0:
            raise LedgerError("no_seat_available",
                              f"all {self.seats_total} seats of account {self.account_id} are taken")
        return replace(self, seats_used=self.seats_used + 1)

    def release(self) -> Subscription:
        return replace(self, seats_used=self.seats_used - 1)

    def upgrade_one(self, *, for_owner: bool = False) -> Subscription:
        """Raise the total by exactly the one missing seat (charged at the current unit price,
        pro-rated: `prices.charge`), within the limit the account set on automatic upgrades.

        The owner's own seat is bought whatever that limit: the limit governs the seats others'
        acceptances add, and an account whose owner holds no seat has nobody to use it."""
        if not self.has_plan:
            raise LedgerError("no_subscription", f"account {self.account_id} has no subscription to upgrade")
        if for_owner:
            return replace(self, seats_total=self.seats_total + 1)
        if self.auto_upgrade_mode == "off":
            raise LedgerError("auto_upgrade_off", f"account {self.account_id} does not add seats automatically")
        if self.auto_upgrade_mode == "limit" and self.seats_total + 1 > (self.auto_upgrade_max or 0):
            raise LedgerError("auto_upgrade_limit_reached",
                              f"account {self.account_id} adds seats automatically up to {self.auto_upgrade_max}")
        return replace(self, seats_total=self.seats_total + 1)


def acted_by(cause_type: str, data: dict) -> str | None:
    """The person a seat change is owed to: who the causing event names as acting (an admin adding,
    deactivating or reactivating a member), or the member accepting their own invitation; None
    when the platform acted."""
    if cause_type == "identity.invitation.accepted":
        return data.get("user_id")
    return data.get("by_user_id")

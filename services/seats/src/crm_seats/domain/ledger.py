"""An account's seat ledger: how many seats are paid for and how many are held (AO9, AO10)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from crm_runtime.handling import Rejected


class LedgerError(Rejected):
    """A rule broken; the runtime answers it with `<service>.command.rejected`."""


@dataclass(frozen=True)
class Subscription:
    account_id: str
    seats_total: int
    seats_used: int
    seat_price_cents: int
    currency: str
    period_start: date | None
    period_end: date | None

    @property
    def available(self) -> int:
        return self.seats_total - self.seats_used

    @property
    def has_plan(self) -> bool:
        return self.period_start is not None and self.period_end is not None

    def set_plan(self, *, seats_total: int, seat_price_cents: int, currency: str,
                 period_start: date, period_end: date) -> Subscription:
        if seats_total < self.seats_used:
            raise LedgerError("seats_below_used",
                              f"{seats_total} seats is fewer than the {self.seats_used} held")
        if self.seats_used and currency != self.currency:
            raise LedgerError("currency_change_not_allowed",
                              f"seats are held in {self.currency}; cannot switch to {currency}")
        return replace(self, seats_total=seats_total, seat_price_cents=seat_price_cents,
                       currency=currency, period_start=period_start, period_end=period_end)

    def reserve(self) -> Subscription:
        """Take a free seat; LedgerError `no_seat_available` when there is none."""
        if self.available <= 0:
            raise LedgerError("no_seat_available",
                              f"all {self.seats_total} seats of account {self.account_id} are taken")
        return replace(self, seats_used=self.seats_used + 1)

    def release(self) -> Subscription:
        return replace(self, seats_used=self.seats_used - 1)

    def upgrade_one(self) -> Subscription:
        """Raise the total by exactly the one missing seat (charged at the current unit price,
        pro-rated: `prices.charge`)."""
        if not self.has_plan:
            raise LedgerError("no_subscription", f"account {self.account_id} has no subscription to upgrade")
        return replace(self, seats_total=self.seats_total + 1)

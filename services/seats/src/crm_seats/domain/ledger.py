"""An account's seat ledger: how many seats are paid for and how many are held."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date


class LedgerError(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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


def empty(account_id: str) -> Subscription:
    return Subscription(account_id=account_id, seats_total=0, seats_used=0, seat_price_cents=0,
                        currency="USD", period_start=None, period_end=None)

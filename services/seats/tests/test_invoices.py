"""Invoices add amounts of one currency only: a charge in another currency has its own total."""

from __future__ import annotations

from datetime import date, datetime, timedelta, UTC

from crm_seats.domain.invoices import invoices

START = date.today().replace(day=1)
END = START + timedelta(days=31)


def charge(n: int, cents: int, currency: str) -> dict:
    return {"charge_id": f"chg_{n}", "item": "seat", "user_id": "u", "instance_id": None, "charged_on": START,
            "created_at": datetime.now(UTC), "amount_cents": cents, "currency": currency, "description": "",
            "period_start": START, "period_end": END}


def test_totals_are_kept_per_currency():
    period = {"period_start": START, "period_end": END, "currency": "USD", "seats_total": 2, "seat_price_cents": 5000}
    [bill] = invoices([period], [charge(1, 700, "USD"), charge(2, 300, "EUR"), charge(3, 50, "EUR")])["invoices"]
    assert bill["totals_cents"] == {"USD": 2 * 5000 + 700, "EUR": 350}
    assert bill["total_cents"] == 2 * 5000 + 700  # the period's own currency, never EUR cents added to USD


def test_the_upcoming_invoice_bills_the_seats_after_a_reduction_and_every_renewal():
    from crm_seats.domain.ledger import Subscription
    from crm_seats.domain.invoices import following, upcoming

    anchor = START  # the 1st of this month, monthly
    sub = Subscription(account_id="acc", seats_total=4, seats_used=2, seat_price_cents=6200, currency="USD",
                       period_start=anchor, period_end=anchor.replace(month=anchor.month % 12 + 1,
                                                                    year=anchor.year + (anchor.month == 12)),
                       anchor=anchor, interval="month", scheduled_seats_total=3)
    after, period = following(sub, anchor + timedelta(days=3))
    assert period.start == sub.period_end and after.seats_total == 3
    bill = upcoming(after, period, [{"item": "addon:cma", "user_id": "ann", "instance_id": "ins_t",
                                     "amount_cents": 1900, "currency": "USD"}])
    assert (bill["recurring"]["amount_cents"], bill["total_cents"]) == (3 * 6200, 3 * 6200 + 1900)
    none = Subscription(account_id="acc", seats_total=0, seats_used=0, seat_price_cents=0, currency="USD",
                        period_start=None, period_end=None)
    assert following(none, START) is None

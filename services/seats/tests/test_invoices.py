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

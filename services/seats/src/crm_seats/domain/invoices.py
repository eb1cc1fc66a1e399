"""Invoices per billing period: the recurring seat line and the charges made in it (pro-rated
purchases, and the renewals of recurring items); and the next period's invoice as it stands.

A period's recurring line is `seats_total × seat_price_cents` with the seats paid for at its
start (seats bought automatically during the period are its pro-rated charges). A charge belongs
to the period it pays for — the one ending on its `period_end`. Charges made while an account had
no period (one full month each) are listed apart, under `outside_periods`.
"""

from __future__ import annotations

from datetime import date

from .ledger import Subscription
from .periods import Period


def invoices(periods: list[dict], charges: list[dict]) -> dict:
    by_end: dict[date, list[dict]] = {}
    for c in charges:
        by_end.setdefault(c["period_end"], []).append(c)
    out = []
    for p in periods:
        recurring = {"item": "seats", "quantity": p["seats_total"], "unit_price_cents": p["seat_price_cents"],
                     "amount_cents": p["seats_total"] * p["seat_price_cents"]}
        lines = [_line(c) for c in by_end.pop(p["period_end"], [])
                 if c["period_start"] is None or c["period_start"] == p["period_start"]]
        totals = {p["currency"]: recurring["amount_cents"]}
        for line in lines:
            totals[line["currency"]] = totals.get(line["currency"], 0) + line["amount_cents"]
        # `total_cents` is in the period's currency; a charge made in another (the price list
        # changed currency) is added up apart in `totals_cents`, never into another currency's cents.
        out.append({"period_start": p["period_start"], "period_end": p["period_end"], "currency": p["currency"],
                    "recurring": recurring, "charges": lines, "total_cents": totals[p["currency"]],
                    "totals_cents": totals})
    outside = [_line(c) for end in sorted(by_end) for c in by_end[end]]
    return {"invoices": out, "outside_periods": outside}


def _line(c: dict) -> dict:
    return {"charge_id": c["charge_id"], "item": c["item"] or "seat", "user_id": c["user_id"],
            "instance_id": c["instance_id"], "charged_on": c["charged_on"] or c["created_at"].date(),
            "amount_cents": c["amount_cents"], "currency": c["currency"], "description": c["description"]}



def following(sub: Subscription, today: date) -> tuple[Subscription, Period] | None:
    """The subscription as it will stand in the period after today's (a scheduled reduction
    applied), and that period; None without a billing plan."""
    if sub.anchor is None or sub.period is None or not sub.has_plan:
        return None
    now, _ = sub.renewed_to(today)
    assert now.period is not None
    after, entered = now.renewed_to(now.period.end)
    return after, entered[-1].period


def upcoming(after: Subscription, period: Period, renewals: list[dict]) -> dict:
    """The next period's invoice as it stands: its seats, and each recurring item's renewal
    (`renewals`: item, user, instance, amount and currency at today's prices)."""
    recurring = {"item": "seats", "quantity": after.seats_total, "unit_price_cents": after.seat_price_cents,
                 "amount_cents": after.seats_total * after.seat_price_cents}
    totals = {after.currency: recurring["amount_cents"]}
    for line in renewals:
        totals[line["currency"]] = totals.get(line["currency"], 0) + line["amount_cents"]
    return {"period_start": period.start, "period_end": period.end, "currency": after.currency,
            "recurring": recurring, "renewals": renewals, "total_cents": totals[after.currency],
            "totals_cents": totals}

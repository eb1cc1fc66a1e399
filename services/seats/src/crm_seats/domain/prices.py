"""The price list: monthly prices in cents of what can be bought beside seats (PI1, PI9, PI10).

These are the defaults every account starts with; billing changes an account's prices with
`seats.price_list.set`, and a change applies to purchases and renewals after it. Packages, add-ons
and calling packages recur: a purchase inside a billing period is charged pro-rated like a seat
(`proration.prorate`), and every later period bills the item again in full at renewal until it
ends (`handlers/billing.py`). On a yearly subscription an item costs twelve times its monthly
price a period — there is no separate yearly price. An account with no billing period yet pays
one full month. `quote` is what a purchase on a given day costs; the charge made that day is the
same number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from crm_contracts.common import Refused
from crm_contracts.seats import ADDONS, CALLING_PACKAGES, PACKAGES

from .ledger import Subscription
from .periods import MONTHS, Interval, period_containing
from .proration import prorate

DEFAULT_CURRENCY = "USD"
DEFAULT_PRICES: dict[str, int] = {
    "package:crm_only": 2900,
    "package:crm_idx_solo": 7900,
    "package:crm_idx_team": 14900,
    "addon:ai_assistant": 2500,
    "addon:home_report": 1500,
    "addon:cma": 1900,
    "addon:social_studio_pro": 2900,
    "addon:revaluate": 4900,
    "addon:direct_mail": 3900,
    "addon:agent_website": 1900,
    "addon:vanity_domain": 500,
    "addon:lead_generation": 9900,
    "calling:calling_basic": 1900,
    "calling:calling_pro": 3900,
    "calling:texting": 1500,
    "calling:calling_texting_unlimited": 5900,
}
assert set(DEFAULT_PRICES) == {f"package:{p}" for p in PACKAGES} | {f"addon:{a}" for a in ADDONS} | {
    f"calling:{c}" for c in CALLING_PACKAGES}
FULL_MONTH = 30


class PriceError(Refused):
    """A price list change that names something not for sale."""


@dataclass(frozen=True)
class PriceList:
    prices: dict[str, int]
    currency: str

    @classmethod
    def of(cls, overrides: dict[str, int], currency: str | None) -> PriceList:
        return cls({**DEFAULT_PRICES, **overrides}, currency or DEFAULT_CURRENCY)

    def changed(self, prices: dict[str, int], currency: str) -> PriceList:
        unknown = sorted(set(prices) - set(DEFAULT_PRICES))
        if unknown:
            raise PriceError("unknown_item", f"not for sale: {', '.join(unknown)}; items are "
                                             "package:<name>, addon:<name> and calling:<id>")
        return PriceList({**self.prices, **prices}, currency)


@dataclass(frozen=True)
class Quote:
    item: str
    amount_cents: int
    currency: str
    unit_price_cents: int
    days_remaining: int
    days_in_period: int
    period_start: date
    period_end: date

    def as_dict(self) -> dict:
        return {**self.__dict__, "period_start": self.period_start.isoformat(),
                "period_end": self.period_end.isoformat()}


def period_price(monthly_cents: int, interval: str) -> int:
    """A monthly price over one billing period of the subscription's interval."""
    return monthly_cents * MONTHS[Interval(interval)]


def unit_price(item: str, sub: Subscription, prices: PriceList) -> tuple[int, str]:
    """The price per period of `item` (`seat`, `package:…`, `addon:…`, `calling:…`) and its currency."""
    if item == "seat":
        return sub.seat_price_cents, sub.currency
    if item not in prices.prices:
        raise PriceError("unknown_item", f"not for sale: {item}; items are seat, package:<name>, addon:<name> "
                                         "and calling:<id>")
    return period_price(prices.prices[item], sub.interval), prices.currency


def quote(item: str, unit_price_cents: int, currency: str, sub: Subscription, on: date) -> Quote:
    """What buying `item` on `on` costs: pro-rated over the period containing that day (renewed
    from the anchor when the stored one is over), or one full month when there is no period."""
    if sub.period is None or sub.anchor is None:
        return Quote(item, unit_price_cents, currency, unit_price_cents, FULL_MONTH, FULL_MONTH, on,
                     on + timedelta(days=FULL_MONTH))
    period = period_containing(sub.anchor, Interval(sub.interval), sub.period, on)
    p = prorate(unit_price_cents, period.start, period.end, on)
    return Quote(item, p.amount_cents, currency, unit_price_cents, p.days_remaining, p.days_in_period,
                 period.start, period.end)


def renewal_lines(held: list[dict], sub: Subscription, prices: PriceList) -> list[dict]:
    """Each recurring item held (`repository.purchases.recurring_items`) with what renewing it for one period
    costs today: its price per period and currency."""
    lines = []
    for item in held:
        price, currency = unit_price(item["item"], sub, prices)
        lines.append({**item, "amount_cents": price, "currency": currency})
    return lines

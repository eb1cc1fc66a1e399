"""The price list: monthly prices in cents of what can be bought beside seats (PI1, PI9, PI10).

These are the defaults every account starts with; billing changes an account's prices with
`seats.price_list.set`, and a change applies to purchases made after it. A purchase inside a
billing period is charged pro-rated like a seat (`proration.prorate`); an account with no
billing period yet pays one full month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from crm_contracts.seats import ADDONS, CALLING_PACKAGES, PACKAGES
from crm_runtime.handling import Rejected

from .proration import Proration, prorate

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


class PriceError(Rejected):
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


def charge(price_cents: int, period_start: date | None, period_end: date | None, on: date) -> tuple[Proration, date]:
    """What a purchase on `on` costs, and the end of the period it pays for."""
    if period_start is None or period_end is None:
        return Proration(price_cents, FULL_MONTH, FULL_MONTH), on + timedelta(days=FULL_MONTH)
    return prorate(price_cents, period_start, period_end, on), period_end

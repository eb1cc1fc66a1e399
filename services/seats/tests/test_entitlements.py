from datetime import date

import pytest

from crm_seats.domain.entitlements import CallingPurchase, entitlements
from crm_seats.domain.prices import DEFAULT_PRICES, PriceError, PriceList, quote
from crm_seats.domain.ledger import Subscription


def by_item(items):
    return {i.item: i for i in items}


def purchase(buyer="ann", agent="ann", instance="ins_a", kind="personal", pid="p1"):
    return CallingPurchase(pid, "calling_pro", buyer, agent, instance, kind)


def test_a_non_member_may_use_nothing_and_is_told_so():
    items = entitlements("bob", "ins_a", member=False, addons_here={"cma": "ann"}, calling=[purchase()],
                         integrations={"gmail"})
    assert not any(i.available for i in items)
    assert {i.reason for i in items} == {"not_a_member"}


def test_add_ons_are_per_instance():
    here = by_item(entitlements("bob", "ins_a", member=True, addons_here={"cma": "ann"}, calling=[],
                                integrations=set()))
    assert here["addon:cma"].available and here["addon:cma"].reason == "bought_here"
    assert not here["addon:home_report"].available and here["addon:home_report"].reason == "not_bought_here"


def test_a_package_the_agent_bought_for_themselves_works_on_every_instance_of_theirs():
    for instance in ("ins_a", "ins_b"):
        item = by_item(entitlements("ann", instance, member=True, addons_here={}, calling=[purchase()],
                                    integrations=set()))["calling:calling_pro"]
        assert item.available and item.reason == "bought_by_agent_for_themselves"


def test_a_package_bought_for_an_agent_by_someone_else_works_only_on_the_buyers_instance():
    bought = [purchase(buyer="owner", agent="bob", instance="ins_a")]
    on_a = by_item(entitlements("bob", "ins_a", member=True, addons_here={}, calling=bought, integrations=set()))
    on_b = by_item(entitlements("bob", "ins_b", member=True, addons_here={}, calling=bought, integrations=set()))
    assert on_a["calling:calling_pro"].available and on_a["calling:calling_pro"].reason == "bought_here"
    assert not on_b["calling:calling_pro"].available
    assert on_b["calling:calling_pro"].reason == "bought_for_another_instance"


def test_company_numbers_stay_on_their_instance_and_personal_numbers_follow_the_user():
    bought = [purchase(kind="company", pid="c"), purchase(kind="personal", pid="p")]
    on_b = by_item(entitlements("ann", "ins_b", member=True, addons_here={}, calling=bought, integrations=set()))
    assert not on_b["number:c"].available and on_b["number:c"].reason == "company_number_of_another_instance"
    assert on_b["number:p"].available and on_b["number:p"].reason == "personal_number"
    on_a = by_item(entitlements("ann", "ins_a", member=True, addons_here={}, calling=bought, integrations=set()))
    assert on_a["number:c"].available


def test_integrations_are_the_users_on_every_instance():
    for instance in ("ins_a", "ins_b"):
        items = by_item(entitlements("ann", instance, member=True, addons_here={}, calling=[],
                                     integrations={"gmail"}))
        assert items["integration:gmail"].reason == "shared_integration"
        assert items["integration:dotloop"].reason == "not_connected"


def test_prices_default_change_by_item_and_refuse_what_is_not_for_sale():
    prices = PriceList.of({}, None)
    assert prices.prices == DEFAULT_PRICES and prices.currency == "USD"
    changed = prices.changed({"addon:cma": 2500}, "USD")
    assert changed.prices["addon:cma"] == 2500 and changed.prices["addon:ai_assistant"] == 2500
    with pytest.raises(PriceError) as err:
        prices.changed({"addon:jetpack": 1}, "USD")
    assert err.value.reason == "unknown_item"


def test_a_purchase_is_pro_rated_like_a_seat_or_a_full_month_without_a_period():
    nov = Subscription("acc", 1, 0, 4900, "USD", date(2026, 11, 1), date(2026, 12, 1), anchor=date(2026, 11, 1))
    q = quote("package:crm_idx_team", 14900, "USD", nov, date(2026, 11, 16))
    assert (q.amount_cents, q.days_remaining, q.period_end) == (7450, 15, date(2026, 12, 1))  # 14900 × 15/30
    none = Subscription("acc", 0, 0, 0, "USD", None, None)
    q = quote("package:crm_idx_team", 14900, "USD", none, date(2026, 11, 16))
    assert (q.amount_cents, q.period_end) == (14900, date(2026, 12, 16))

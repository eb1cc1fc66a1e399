"""Private instances end to end: API keys (PI11), the purchase's charge (PI1), entitlements (PI9, PI10)."""

from __future__ import annotations

import hashlib
import httpx
import pytest
from crm_contracts import identity, seats
from money import this_month_price
from instance_steps import instances_of

pytestmark = pytest.mark.stack

# --- PI11: API keys ----------------------------------------------------------------------------------


async def test_api_keys_are_shown_once_stored_hashed_listed_and_revoked_by_the_owner_only(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=3)
    await platform.active(acc, "ann")
    await platform.active(acc, "bob")
    ins = (await platform.bought(acc, "ann")).data["instance_id"]
    other = (await platform.bought(acc, "bob", "crm_only")).data["instance_id"]
    base = f"{platform.stack.http('identity')}/v1/instances"
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(f"{base}/{ins}/api-keys", json={"name": "website form"}, headers=platform.stack.auth.as_user("ann"))
        assert r.status_code == 201, r.text
        issued = r.json()
        key = issued["key"]
        assert key.startswith("crmk_") and len(key) >= len("crmk_") + 43
        refused = await client.post(f"{base}/{ins}/api-keys", json={"name": "mine"}, headers=platform.stack.auth.as_user("bob"))
        assert refused.status_code == 403 and refused.json()["error"] == "not_instance_owner"
        assert (await client.get(f"{base}/{ins}/api-keys", headers=platform.stack.auth.as_user("bob"))).status_code == 403
        listed = (await client.get(f"{base}/{ins}/api-keys", headers=platform.stack.auth.as_user("ann"))).json()["keys"]
        assert [(k["key_id"], k["name"], k["last_four"], k["revoked"]) for k in listed] == [
            (issued["key_id"], "website form", key[-4:], False)]
        assert key not in r.text.replace(key, "", 1) and all(f != "key" for f in listed[0])

        event = (await platform.bus.wait_event("identity.api_key.issued",
                                               where=lambda e: e.data["key_id"] == issued["key_id"]))[0]
        assert event.data["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
        assert not platform.bus.matching(lambda rec: key.encode() in rec.value)

        # A key of one instance is unknown to another, even to that one's owner.
        r = await client.delete(f"{base}/{other}/api-keys/{issued['key_id']}", headers=platform.stack.auth.as_user("bob"))
        assert r.status_code == 404 and r.json()["error"] == "unknown_api_key"
        r = await client.delete(f"{base}/{ins}/api-keys/{issued['key_id']}", headers=platform.stack.auth.as_user("ann"))
        assert r.status_code == 200, r.text
        revoked = (await platform.bus.wait_event("identity.api_key.revoked",
                                                 where=lambda e: e.data["key_id"] == issued["key_id"]))[0]
        assert revoked.data["key_hash"] == event.data["key_hash"]
        listed = (await client.get(f"{base}/{ins}/api-keys", headers=platform.stack.auth.as_user("ann"))).json()["keys"]
        assert listed[0]["revoked"] is True

    # Over Kafka a key is issued only by its hash; the key itself never travels.
    cmd = await platform.send(acc, identity.IssueApiKey(instance_id=ins, name="x", by_user_id="ann"))
    assert await platform.rejected(cmd) == "key_hash_required"


# --- PI1: the charge; PI9, PI10: entitlements ------------------------------------------------------


async def charges_for(platform, acc: str, instance_id: str) -> list[dict]:
    return [c for c in (await platform.seats(acc))["charges"] if c["instance_id"] == instance_id]


async def test_a_purchase_is_charged_pro_rated_at_the_price_list_of_its_time(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=3)  # billed monthly from the 1st of this month
    await platform.active(acc, "ann")
    await platform.active(acc, "bob")
    created = await platform.bought(acc, "ann", "crm_idx_team")
    ins = created.data["instance_id"]
    charged = await platform.answer(created, "seats.charge.created")
    assert charged.data["item"] == "package:crm_idx_team" and charged.data["instance_id"] == ins
    assert charged.data["amount_cents"] == this_month_price(14900)

    # Billing changes the price: later purchases pay it, the earlier charge stays as it was.
    change = await platform.send(acc, seats.SetPriceList(prices={"package:crm_only": 1000}, currency="USD"))
    assert (await platform.answer(change, "seats.price_list.changed")).data["prices"]["package:crm_only"] == 1000
    later = await platform.bought(acc, "bob", "crm_only")
    assert (await platform.answer(later, "seats.charge.created")).data["amount_cents"] == this_month_price(1000)
    assert [c["amount_cents"] for c in await charges_for(platform, acc, ins)] == [charged.data["amount_cents"]]
    bad = await platform.send(acc, seats.SetPriceList(prices={"package:yacht": 1}, currency="USD"))
    assert await platform.rejected(bad, "seats") == "unknown_item"


async def test_entitlements_follow_purchases_and_membership(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=3)
    await platform.active(acc, "ann")
    await platform.active(acc, "bob")
    a = (await platform.bought(acc, "ann", "crm_idx_team")).data["instance_id"]
    b = (await platform.bought(acc, "bob", "crm_only")).data["instance_id"]
    assert (await platform.entitlements("bob", a))["addon:cma"]["reason"] == "not_a_member"

    issued = await platform.answer(await platform.invite(acc, a, "bob"), "identity.invitation.issued")
    await platform.click(platform.stack.auth.invitation_link(issued))
    await platform.seats_has_member(a, "bob")
    await platform.answer(await platform.send(acc, seats.ConnectIntegration(user_id="bob", integration="gmail")),
                          "seats.integration.changed")
    addon = await platform.send(acc, seats.PurchaseAddon(instance_id=a, addon="cma", buyer_user_id="ann"))
    assert (await platform.answer(addon, "seats.addon.purchased")).data["charge_id"].startswith("chg_")
    assert (await platform.answer(addon, "seats.charge.created")).data["item"] == "addon:cma"
    for_bob = await platform.send(acc, seats.PurchaseCallingPackage(
        package_id="calling_pro", buyer_user_id="ann", assigned_user_id="bob", instance_id=a, number_kind="company"))
    await platform.answer(for_bob, "seats.calling_package.purchased")
    own = await platform.send(acc, seats.PurchaseCallingPackage(
        package_id="texting", buyer_user_id="bob", assigned_user_id="bob", instance_id=b))
    await platform.answer(own, "seats.calling_package.purchased")

    on_a = await platform.entitlements("bob", a)
    on_b = await platform.entitlements("bob", b)
    assert on_a["addon:cma"]["available"] and on_a["addon:cma"]["reason"] == "bought_here"
    assert not on_b["addon:cma"]["available"]
    assert on_a["calling:calling_pro"]["available"] and not on_b["calling:calling_pro"]["available"]
    assert on_b["calling:calling_pro"]["reason"] == "bought_for_another_instance"
    assert on_a["calling:texting"]["reason"] == on_b["calling:texting"]["reason"] == "bought_by_agent_for_themselves"
    assert on_a["integration:gmail"]["available"] and on_b["integration:gmail"]["available"]
    company = next(k for k, v in on_a.items() if v["kind"] == "number" and v["reason"] == "company_number")
    assert not on_b[company]["available"]

    # Leaving the instance changes the answer with no other command.
    await platform.answer(await platform.send(acc, identity.RemoveInstanceMember(
        instance_id=a, user_id="bob", by_user_id="ann")), "identity.instance.member_removed")
    await platform.stack.settled()
    on_a = await platform.entitlements("bob", a)
    assert not any(v["available"] for v in on_a.values()) and on_a["addon:cma"]["reason"] == "not_a_member"


async def test_every_refused_purchase_names_its_reason(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=3)
    await platform.active(acc, "ann")
    await platform.active(acc, "bob")
    a = (await platform.bought(acc, "ann")).data["instance_id"]
    await platform.answer(await platform.send(acc, seats.PurchaseAddon(instance_id=a, addon="cma",
                                                                       buyer_user_id="ann")), "seats.addon.purchased")
    calling = seats.PurchaseCallingPackage(package_id="calling_pro", buyer_user_id="ann", assigned_user_id="ann",
                                           instance_id=a)
    await platform.answer(await platform.send(acc, calling), "seats.calling_package.purchased")
    cases = [
        # The same package for the same agent in the same instance is refused, not charged twice.
        (calling, "already_owned"),
        (seats.PurchaseAddon(instance_id=a, addon="jetpack", buyer_user_id="ann"), "unknown_addon"),
        (seats.PurchaseAddon(instance_id=a, addon="cma", buyer_user_id="ann"), "addon_already_active"),
        (seats.PurchaseAddon(instance_id=a, addon="revaluate", buyer_user_id="bob"), "not_instance_member"),
        (seats.PurchaseAddon(instance_id="ins_nowhere", addon="cma", buyer_user_id="ann"), "unknown_instance"),
        (seats.PurchaseCallingPackage(package_id="calling_pro", buyer_user_id="ann", assigned_user_id="bob",
                                      instance_id=a), "assignee_not_instance_member"),
        (seats.PurchaseCallingPackage(package_id="satellite", buyer_user_id="ann", assigned_user_id="ann",
                                      instance_id=a), "unknown_calling_package"),
        (seats.ConnectIntegration(user_id="ann", integration="fax"), "unknown_integration"),
    ]
    for data, reason in cases:
        assert await platform.rejected(await platform.send(acc, data), "seats") == reason, reason
    assert len([c for c in await charges_for(platform, acc, a) if c["item"] == "addon:cma"]) == 1
    assert len([c for c in await charges_for(platform, acc, a) if c["item"] == "calling:calling_pro"]) == 1


@pytest.mark.parametrize("service", ["identity", "seats"])
async def test_a_restart_in_the_middle_of_a_purchase_makes_one_instance_and_one_charge(
        platform, new_account_id, service):
    if not platform.stack.owns_parts:
        pytest.skip("the services are not ours to stop")
    acc = new_account_id()
    await platform.enterprise(acc)
    await platform.active(acc, "ann")
    platform.stack.services.stop(service)
    try:
        cmd = await platform.buy(acc, "ann")
        duplicate = await platform.buy(acc, "ann")  # a caller's retry while nothing answers
    finally:
        platform.stack.services.start(service)
        await platform.stack.health.wait(service)
    created = await platform.answer(cmd, "identity.instance.created", timeout=60)
    assert await platform.rejected(duplicate) == "instance_already_owned"
    await platform.answer(created, "seats.charge.created", timeout=60)
    await platform.stack.settled()
    assert len(await instances_of(platform, "ann", acc)) == 1
    assert len(await charges_for(platform, acc, created.data["instance_id"])) == 1


async def test_an_idx_package_comes_with_one_mls_and_crm_only_with_none(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=3)
    await platform.active(acc, "ann")
    await platform.active(acc, "bob")
    buy = identity.PurchaseInstance
    assert await platform.rejected(await platform.send(acc, buy(buyer_user_id="ann", package="crm_idx_solo",
                                                                name="Solo"))) == "mls_required"
    assert await platform.rejected(await platform.send(acc, buy(buyer_user_id="bob", package="crm_only", name="C",
                                                                mls_id="SFAR"))) == "mls_not_available"
    created = await platform.answer(await platform.send(acc, buy(buyer_user_id="ann", package="crm_idx_solo",
                                                                 name="Solo", mls_id="CRMLS")),
                                    "identity.instance.created")
    assert created.data["mls_id"] == "CRMLS"
    await platform.stack.settled()
    [listed] = await instances_of(platform, "ann", acc)
    assert listed["mls_id"] == "CRMLS"
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.get(f"{platform.stack.http('seats')}/v1/entitlements",
                             params={"instance_id": created.data["instance_id"]}, headers=platform.stack.auth.as_user("ann"))
    assert r.json()["mls_id"] == "CRMLS"

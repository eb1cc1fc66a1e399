"""Call settings end to end: "The bridge number and personal number are the same on any instance
the Lofty user has access to. All other Call settings are independent to the different instances."
"""

from __future__ import annotations

import httpx
import pytest

from crm_contracts import calls, seats
from routing_steps import team

pytestmark = pytest.mark.stack


async def read(platform, user: str, instance_id: str, as_user: str | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(f"{platform.stack.http('seats')}/v1/call-settings",
                                params={"user_id": user, "instance_id": instance_id},
                                headers=platform.stack.auth.as_user(as_user or user))


async def test_a_bridge_number_is_given_once_and_other_call_settings_are_per_instance(platform, new_account_id):
    acc = new_account_id()
    ins = (await team(platform, acc, "bob"))["instance_id"]
    enterprise = (await platform.bus.wait_event("identity.account.created",
                                                where=lambda e: e.accountid == acc))[0].data["enterprise_instance_id"]
    first = await platform.send(acc, seats.PurchaseCallingPackage(
        package_id="calling_pro", buyer_user_id="ann", assigned_user_id="bob", instance_id=ins, number_kind="company"))
    [given] = await platform.bus.wait_event("seats.bridge_number.assigned", correlationid=first.correlation)
    assert given.data["user_id"] == "bob" and given.data["number"].startswith("+15550")
    second = await platform.send(acc, seats.PurchaseCallingPackage(
        package_id="texting", buyer_user_id="bob", assigned_user_id="bob", instance_id=enterprise))
    await platform.answer(second, "seats.calling_package.purchased")
    assert not platform.bus.events(lambda e: e.type == "seats.bridge_number.assigned"
                                   and e.correlationid == second.correlation)

    mine = calls.CallSettings(call_recording=True, forward_to="+15550142000", ring_seconds=30,
                              voicemail_greeting="Bob's team line")
    await platform.answer(await platform.send(acc, calls.SetCallSettings(instance_id=ins, user_id="bob",
                                                                         settings=mine)),
                          "seats.call_settings.changed")
    here, there = (await read(platform, "bob", ins)).json(), (await read(platform, "bob", enterprise)).json()
    assert here["bridge_number"] == there["bridge_number"] == given.data["number"]
    assert (here["custom"], here["settings"]["ring_seconds"], here["settings"]["forward_to"]) == (True, 30,
                                                                                                  "+15550142000")
    assert (there["custom"], there["settings"]["ring_seconds"], there["settings"]["call_recording"]) == (False, 20,
                                                                                                       False)
    # Refusals: someone who is not in the instance; a number that is not E.164; another user's reading.
    assert await platform.rejected(await platform.send(acc, calls.SetCallSettings(
        instance_id=ins, user_id="stranger", settings=mine)), "seats") == "not_in_account"
    not_e164 = calls.CallSettings.model_construct(**{**mine.model_dump(), "forward_to": "555-0142"})
    bad = await platform.send(acc, calls.SetCallSettings.model_construct(instance_id=ins, user_id="bob",
                                                                         settings=not_e164))
    assert await platform.rejected(bad, "seats") == "invalid_data"
    assert (await read(platform, "bob", ins, as_user="ann")).status_code == 403

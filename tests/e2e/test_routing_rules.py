"""An instance's routing rules read back, their history with what changed, a dry run that changes
nothing and that the next live lead agrees with, and a rollback — end to end."""

from __future__ import annotations

import httpx
import pytest

from crm_contracts import routing
from routing_steps import capture, outcome, team

pytestmark = pytest.mark.stack

ROUND_ROBIN = [{"id": "everyone", "steps": [{"strategy": "round_robin"}]}]
BY_ZIP = [{"id": "mission", "when": {"zip": ["94110"]}, "steps": [{"strategy": "specific_agent", "agent": "cy"}]},
          *ROUND_ROBIN]


async def call(platform, method: str, path: str, user: str = "ann", **kw) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.request(method, f"{platform.stack.http('routing')}{path}",
                                    headers=platform.stack.auth.as_user(user), **kw)


async def test_rules_are_read_back_dry_run_and_rolled_back(platform, new_account_id):
    acc = new_account_id()
    ins = (await team(platform, acc, "bob", "cy"))["instance_id"]
    base = f"/v1/instances/{ins}/rules"
    for version, rules in ((1, ROUND_ROBIN), (2, BY_ZIP)):
        await platform.answer(await platform.send(acc, routing.SetRules(
            instance_id=ins, rules=rules, version=version, by_user_id="ann")), "routing.rules.changed")

    now = (await call(platform, "GET", base, user="bob")).json()
    assert (now["version"], [r["id"] for r in now["rules"]], now["set_by"]) == (2, ["mission", "everyone"], "ann")
    history = (await call(platform, "GET", f"{base}/versions")).json()["versions"]
    assert [(v["version"], v["changes"]["added"], v["changes"]["reordered"]) for v in history] == [
        (1, ["everyone"], False), (2, ["mission"], False)]

    # A dry run changes nothing: asked twice, it answers the same, and the live lead gets it.
    asked = {"lead": {"first_name": "Dry", "zip": "10001"}, "channel": "manual"}
    first = (await call(platform, "POST", f"{base}/dry-run", json=asked)).json()
    again = (await call(platform, "POST", f"{base}/dry-run", json=asked)).json()
    assert first["event"]["type"] == "routing.lead.assigned" and first["rules_version"] == 2
    assert again["user_id"] == first["user_id"]
    lid, _ = await capture(platform, acc, channel="manual", instance_id=ins, lead=asked["lead"])
    live = await outcome(platform, lid)
    assert (live.type, live.data["user_id"]) == (first["event"]["type"], first["user_id"])
    assert live.data["explanation"] == first["event"]["data"]["explanation"]
    mission = (await call(platform, "POST", f"{base}/dry-run", json={"lead": {"zip": "94110"}})).json()
    assert (mission["user_id"], mission["event"]["data"]["rule_id"]) == ("cy", "mission")
    # A draft is tried, not set; a broken draft is answered as routing.rules.set would refuse it.
    draft = (await call(platform, "POST", f"{base}/dry-run",
                        json={**asked, "rules": [{"id": "hold", "steps": [{"strategy": "pond"}]}]})).json()
    assert (draft["state"], draft["draft"]) == ("pooled", True)
    broken = await call(platform, "POST", f"{base}/dry-run", json={**asked, "rules": [{"id": "x", "steps": "no"}]})
    assert (broken.status_code, broken.json()["error"]) == (422, "invalid_rules")
    assert (await call(platform, "GET", base)).json()["version"] == 2
    assert not platform.bus.events(lambda e: e.data.get("lead_id") == "dry_run")
    assert (await call(platform, "GET", base, user="stranger")).status_code == 403

    # Rollback: an earlier version made current again, as the next version.
    rollback = routing.RollbackRules
    assert await platform.rejected(await platform.send(acc, rollback(instance_id=ins, version=9, by_user_id="ann")),
                                   "routing") == "unknown_version"
    assert await platform.rejected(await platform.send(acc, rollback(instance_id=ins, version=1, by_user_id="bob")),
                                   "routing") == "not_permitted"
    back = await platform.answer(await platform.send(acc, rollback(instance_id=ins, version=1, by_user_id="ann")),
                                 "routing.rules.changed")
    assert (back.data["version"], back.data["rolled_back_from"], [r["id"] for r in back.data["rules"]]) == (
        3, 1, ["everyone"])
    history = (await call(platform, "GET", f"{base}/versions")).json()["versions"]
    assert (history[-1]["rolled_back_from"], history[-1]["changes"]["removed"]) == (1, ["mission"])
    mission = (await call(platform, "POST", f"{base}/dry-run", json={"lead": {"zip": "94110"}})).json()
    assert mission["event"]["data"]["rule_id"] == "everyone"


async def test_a_business_hours_timer_waits_for_opening_time(platform, new_account_id):
    """The instance is open only the day after tomorrow, 09:00–17:00 UTC: a lead captured now with
    a 15-minute business-hours claim timer falls due then at 09:15, not in 15 minutes."""
    from datetime import UTC, date, datetime, timedelta

    acc = new_account_id()
    ins = (await team(platform, acc, "bob"))["instance_id"]
    opening = date.today() + timedelta(days=2)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[opening.weekday()]
    await platform.answer(await platform.send(acc, routing.SetBusinessHours(
        instance_id=ins, time_zone="UTC", week={day: [["09:00", "17:00"]]}, by_user_id="ann")),
        "routing.business_hours.changed")
    assert await platform.rejected(await platform.send(acc, routing.SetBusinessHours(
        instance_id=ins, time_zone="UTC", week={day: [["09:00", "12:00"], ["11:00", "13:00"]]}, by_user_id="ann")),
        "routing") == "invalid_business_hours"
    # Seconds would be lost once stored (and the hours then unreadable): the contract's one format
    # refuses them before any handler runs.
    for week in ({day: [["09:00:10", "09:00:50"]]}, {"funday": [["09:00", "10:00"]]}):
        assert await platform.rejected(await platform.send(acc, routing.SetBusinessHours.model_construct(
            instance_id=ins, time_zone="UTC", week=week, holidays=[], by_user_id="ann")), "routing") == "invalid_data"
    hours = (await call(platform, "GET", f"/v1/instances/{ins}/business-hours", user="bob")).json()
    assert hours["business_hours"] == {"time_zone": "UTC", "week": {day: [["09:00", "17:00"]]}, "holidays": []}
    steps = [{"strategy": "specific_agent", "agent": "bob", "claim_within_s": 900, "business_hours": True}]
    await platform.answer(await platform.send(acc, routing.SetRules(
        instance_id=ins, version=1, rules=[{"id": "bob", "steps": steps}], by_user_id="ann")), "routing.rules.changed")
    lid, _ = await capture(platform, acc, channel="manual", instance_id=ins)
    assert (await outcome(platform, lid)).data["user_id"] == "bob"
    timer = (await call(platform, "GET", f"/v1/leads/{lid}", user="bob")).json()["timer"]
    assert datetime.fromisoformat(timer["due_at"]) == datetime.combine(opening, datetime.min.time(), UTC) + \
        timedelta(hours=9, minutes=15)

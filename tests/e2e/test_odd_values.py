"""Odd values at the door: every query parameter with a range is answered 422 naming it — never a
500, never a loop over thousands of years — and a rule version near the top of its range cannot
freeze an instance's rules."""

from __future__ import annotations

import base64
from datetime import date, timedelta

import httpx
import pytest

from crm_contracts import routing
from routing_steps import set_rules, team

pytestmark = pytest.mark.stack


async def ask(platform, service: str, path: str, **params) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"{platform.stack.http(service)}{path}", params=params,
                                headers=platform.stack.auth.as_operator())


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


async def test_out_of_range_query_values_are_answered_422_naming_the_parameter(platform, new_account_id):
    acc = new_account_id()
    ins = (await team(platform, acc, "bob"))["instance_id"]
    await set_rules(platform, acc, ins, [{"id": "all", "steps": [{"strategy": "round_robin"}]}])
    segments = f"/v1/instances/{ins}/segments/everything/leads"
    far = (date.today() + timedelta(days=20 * 366)).isoformat()
    cases = [
        ("seats", "/v1/quotes", {"account_id": acc, "item": "seat", "on": "9999-12-31"}, "on"),
        ("seats", "/v1/quotes", {"account_id": acc, "item": "seat", "on": far}, "on"),
        ("seats", "/v1/quotes", {"account_id": acc, "item": "seat", "on": "0001-01-01"}, "on"),
        ("seats", "/v1/quotes", {"account_id": acc, "item": "seat", "on": "next tuesday"}, "on"),
        ("seats", "/v1/seats/dormant", {"account_id": acc, "days": "-1"}, "days"),
        ("seats", "/v1/seats/dormant", {"account_id": acc, "days": "9" * 40}, "days"),
        ("routing", segments, {"cursor": cursor("9999-12-31T23:59:59+00:00|x")}, "cursor"),
        ("routing", segments, {"cursor": cursor("0001-01-01T00:00:00|x")}, "cursor"),
        ("routing", segments, {"cursor": "%%%not-base64"}, "cursor"),
        ("routing", segments, {"cursor": cursor("x" * 5000)}, "cursor"),
        ("routing", segments, {"limit": "0"}, "limit"),
        ("routing", segments, {"limit": "1e9"}, "limit"),
        ("identity", f"/v1/instances/{ins}/candidates", {"limit": str(2**70)}, "limit"),
        ("identity", f"/v1/instances/{ins}/candidates", {"after": "u" * 1000}, "after"),
    ]
    answers = [(params, await ask(platform, service, path, **params)) for service, path, params, _ in cases]
    for (service, path, params, name), (_, r) in zip(cases, answers, strict=True):
        assert r.status_code == 422, (service, path, params, r.status_code, r.text)
        assert r.json()["parameter"] == name and r.json()["error"] == "invalid_query", r.text
    # The same routes still answer what is in range.
    assert (await ask(platform, "seats", "/v1/quotes", account_id=acc, item="seat",
                      on=(date.today() + timedelta(days=40)).isoformat())).status_code == 200


async def test_a_rule_version_cannot_jump_to_the_top_of_its_range(platform, new_account_id):
    acc = new_account_id()
    ins = (await team(platform, acc, "bob"))["instance_id"]
    rules = [{"id": "all", "steps": [{"strategy": "round_robin"}]}]
    await set_rules(platform, acc, ins, rules, version=1)
    top = await platform.send(acc, routing.SetRules(instance_id=ins, rules=rules, version=2**31 - 1, by_user_id="ann"))
    assert await platform.rejected(top, "routing") == "version_too_far"
    await set_rules(platform, acc, ins, rules, version=2)  # the instance can still change its rules

"""Reading a user's instances the way an operator would (a deactivated or pending user cannot)."""

from __future__ import annotations

import httpx


async def instances_of(platform, user_id: str, account_id: str, kind: str | None = "private") -> list[dict]:
    """As an operator: what a deactivated or pending user belongs to, which they may not read themselves."""
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.get(f"{platform.stack.http('identity')}/v1/instances",
                             params={"account_id": account_id, "user_id": user_id},
                             headers=platform.stack.auth.as_operator())
    assert r.status_code == 200, r.text
    return [i for i in r.json()["instances"] if kind is None or i["kind"] == kind]

"""Who may call what over HTTP: bearer tokens on every endpoint but health, the probes, metrics and the
invitation page, and each service's rules for whose data a token's subject may read or manage."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.stack


async def test_no_token_or_a_bad_token_gets_401_with_the_reason(stack):
    protected = [("identity", "/v1/accounts?account_id=a"), ("identity", "/v1/instances"),
                 ("identity", "/v1/instances/i/members"), ("identity", "/v1/instances/i/api-keys"),
                 ("seats", "/v1/seats?account_id=a"), ("seats", "/v1/entitlements?instance_id=i"),
                 ("seats", "/v1/prices?account_id=a"), ("notifications", "/v1/notifications"),
                 ("routing", "/v1/leads/l"), ("routing", "/v1/instances/i/leads")]
    async with httpx.AsyncClient(timeout=5) as client:
        for service, path in protected:
            r = await client.get(stack.http(service) + path)
            assert r.status_code == 401 and r.json()["error"] == "unauthenticated", (service, path, r.text)
            assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        expired = await client.get(stack.http("notifications") + "/v1/notifications",
                                   headers=stack.auth.as_user("u", ttl_s=-60))
        assert (expired.status_code, expired.json()["message"]) == (401, "the token has expired")
        wrong_audience = await client.get(stack.http("seats") + "/v1/seats?account_id=a",
                                          headers=stack.auth.as_user("u", audience="another-platform"))
        assert wrong_audience.status_code == 401 and "(aud)" in wrong_audience.json()["message"]
        for service in ("identity", "seats", "notifications", "routing"):  # what stays open
            assert (await client.get(stack.http(service) + "/health")).status_code == 200
            assert (await client.get(stack.http(service) + "/metrics")).status_code == 200
            assert (await client.get(stack.http(service) + "/livez")).status_code == 200
            assert (await client.get(stack.http(service) + "/readyz")).status_code == 200
        assert (await client.get(stack.http("identity") + "/invitations/accept?token=x")).status_code == 404
    log = stack.log_text("notifications")
    assert '"reason": "the token has expired", "event": "access_unauthenticated"' in log


async def test_owners_admins_members_and_strangers_each_see_what_is_theirs(platform, new_account_id):
    stack = platform.stack
    acc, elsewhere = new_account_id(), new_account_id()
    owner, admin, agent, stranger = f"{acc}_owner", f"{acc}_adm", f"{acc}_agt", f"{elsewhere}_owner"
    await platform.enterprise(acc, seats_total=3)
    await platform.enterprise(elsewhere, seats_total=1)
    await platform.active(acc, admin, role="admin")
    await platform.active(acc, agent)
    team = (await platform.bought(acc, agent)).data["instance_id"]
    await stack.settled()

    async def call(method: str, service: str, path: str, user: str | None, **kw) -> httpx.Response:
        headers = stack.auth.as_operator() if user == "operator" else stack.auth.as_user(user)
        async with httpx.AsyncClient(timeout=5) as client:
            return await client.request(method, stack.http(service) + path, headers=headers, **kw)

    expectations = [
        # An account, its members (with e-mail addresses) and its seats: owner and admins.
        ("GET", "identity", f"/v1/accounts?account_id={acc}", {owner: 200, admin: 200, "operator": 200,
                                                              agent: "not_account_admin", stranger: "not_in_account"}),
        ("GET", "seats", f"/v1/seats?account_id={acc}", {owner: 200, admin: 200, "operator": 200,
                                                        agent: "not_account_admin", stranger: "not_in_account"}),
        ("GET", "seats", f"/v1/prices?account_id={acc}", {owner: 200, agent: "not_account_admin"}),
        # A user's own instances, notifications and entitlements.
        ("GET", "identity", f"/v1/instances?user_id={agent}", {agent: 200, admin: "not_yourself", "operator": 200}),
        ("GET", "notifications", f"/v1/notifications?user_id={agent}", {agent: 200, owner: "not_yourself"}),
        ("GET", "seats", f"/v1/entitlements?instance_id={team}&user_id={agent}",
         {agent: 200, owner: 200, admin: 200, stranger: "not_in_account"}),
        ("GET", "seats", f"/v1/entitlements?instance_id={team}&user_id={admin}", {agent: "not_account_admin"}),
        # An instance's roster and leads: its members (and, for the roster, the account's admins).
        ("GET", "identity", f"/v1/instances/{team}/members", {agent: 200, owner: "not_instance_member",
                                                              stranger: "not_in_account"}),
        ("GET", "routing", f"/v1/instances/{team}/leads", {agent: 200, admin: "not_instance_member",
                                                          stranger: "not_in_account", "operator": 200}),
        # Keys: the instance's owner only; operators read the list (no key is in it) but never act for an owner.
        ("GET", "identity", f"/v1/instances/{team}/api-keys", {agent: 200, owner: "not_instance_owner",
                                                              "operator": 200}),
        ("POST", "identity", f"/v1/instances/{team}/api-keys", {admin: "not_instance_owner",
                                                               "operator": "operator_read_only", agent: 201}),
    ]
    for method, service, path, who in expectations:
        for user, want in who.items():
            r = await call(method, service, path, user, **({"json": {"name": "k"}} if method == "POST" else {}))
            if isinstance(want, int):
                assert r.status_code == want, (method, path, user, r.text)
            else:
                assert (r.status_code, r.json()["error"]) == (403, want), (method, path, user, r.text)
                assert "@" not in r.text  # a refusal carries no one's data
    denied = [line for line in stack.log_text("identity").splitlines()
              if '"event": "access_denied"' in line and stranger in line]
    assert denied and '"reason": "not_in_account"' in denied[0]


async def _raw_post(url: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict]:
    """A POST that declares its length but sends only `body`: what the server answers from the
    headers alone (a real client streaming 100 MiB would still be writing when the answer came)."""
    import asyncio
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": parts.netloc, "Connection": "close", **headers}.items())
    writer.write(f"POST {parts.path} HTTP/1.1\r\n{head}\r\n".encode() + body)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    status = int(raw.split(b" ", 2)[1])
    return status, json.loads(raw.split(b"\r\n\r\n", 1)[1] or b"{}")


async def test_no_request_body_is_read_past_its_limit(stack):
    """The public invitation page takes a few KB and the APIs 1 MiB: a body declared larger is
    refused 413 from its headers, before the service reads any of it (a streamed body that passes
    the limit is cut the same way: libs/runtime/tests/test_body_limit.py)."""
    hundred_mib = str(100 * 1024 * 1024)
    page = await _raw_post(stack.http("identity") + "/invitations/accept",
                           {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": hundred_mib})
    assert page == (413, {"error": "body_too_large", "message": "a request body here is at most 4096 bytes"})
    token = stack.auth.as_user("u")["Authorization"]
    api = await _raw_post(stack.http("routing") + "/v1/instances/ins_x/rules/dry-run",
                          {"Authorization": token, "Content-Type": "application/json", "Content-Length": hundred_mib})
    assert api[0] == 413 and api[1]["error"] == "body_too_large"
    async with httpx.AsyncClient(timeout=10) as client:
        small = await client.post(stack.http("identity") + "/invitations/accept", content=b"token=x&csrf=y")
    assert small.status_code == 403  # read, and refused for what it is: no confirmation from the page

"""E-mail addresses, phone numbers, names and invitation tokens stay out of the services' logs.

One person's whole story — invited by opt-in, e-mailed, accepting by the link, onboarding with a
phone, a private instance with an API key — then every service log is searched for what it used."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from crm_contracts import identity

pytestmark = pytest.mark.stack


async def test_the_logs_of_a_whole_story_hold_no_personal_data_or_secrets(platform, stack, new_account_id):
    if not stack.owns_parts:
        pytest.skip("the services' logs are not ours to read")
    services = ("identity", "seats", "notifications", "routing")
    start = {s: len(stack.log_text(s)) for s in services}
    acc = new_account_id()
    tag = uuid.uuid4().hex[:8]
    digits = tag[:7].translate(str.maketrans("abcdef", "123456"))
    email, first, last, phone = f"zelda.{tag}@example.com", f"Zelda{tag}", f"Quartz{tag}", f"+1555{digits}"
    await platform.enterprise(acc, seats_total=1)
    add = await platform.send(acc, identity.AddMember(by_user_id=f"{acc}_owner", user_id="zq", email=email, first_name=first, last_name=last,
                                                      user_type="platform", activation="opt_in", group_id=None,
                                                      role="agent"))
    issued = await platform.answer(add, "identity.invitation.issued")
    await platform.answer(add, "notifications.email.sent")
    token = parse_qs(urlparse(platform.stack.auth.invitation_link(issued)).query)["token"][0]
    assert (await platform.click(platform.stack.auth.invitation_link(issued))).status_code == 200
    await platform.status(acc, "zq", "pending_activation")
    await platform.answer(await platform.send(acc, identity.CompleteOnboarding(user_id="zq", phone=phone)),
                          "identity.member.status_changed")
    ins = (await platform.bought(acc, "zq")).data["instance_id"]
    async with httpx.AsyncClient(timeout=10) as client:
        key = (await client.post(f"{stack.http('identity')}/v1/instances/{ins}/api-keys",
                                 json={"name": "k"}, headers=stack.auth.as_user("zq"))).json()["key"]
    await stack.settled()
    logs = {}
    for service in services:  # what each service wrote while it handled this story
        logs[service] = stack.log_text(service)[start[service]:]
    assert logs["identity"]  # the accept link was handled over HTTP, which is logged
    secrets = {"e-mail": email, "first name": first, "last name": last, "phone": phone, "token": token, "API key": key}
    for name, text in logs.items():
        leaked = [what for what, value in secrets.items() if value in text]
        assert not leaked, f"{name}.log holds {', '.join(leaked)}"

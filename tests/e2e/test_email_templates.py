"""E-mail templates read back, previewed as they would be sent, and reset ("you may return to this
setting to edit it at any time"), for the account's owner and admins only."""

from __future__ import annotations

import httpx
import pytest

from crm_contracts import notifications

pytestmark = pytest.mark.stack

KINDS = {"opt_in_invitation", "standard_invitation", "instance_invitation", "seat_upgrade", "seat_unavailable"}


async def call(platform, path: str, user: str, **params) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(f"{platform.stack.http('notifications')}{path}", params=params,
                                headers=platform.stack.as_user(user))


async def test_templates_are_read_previewed_and_reset_by_the_accounts_admins(platform, new_account_id):
    acc = new_account_id()
    owner = f"{acc}_owner"
    await platform.enterprise(acc, seats_total=3)
    await platform.active(acc, "ada", role="admin")
    await platform.active(acc, "abe")
    await platform.stack.settled()

    listed = {t["kind"]: t for t in (await call(platform, "/v1/templates", owner, account_id=acc)).json()["templates"]}
    assert set(listed) == KINDS and not any(t["custom"] for t in listed.values())
    assert {k for k, t in listed.items() if t["settable"]} == {"opt_in_invitation", "standard_invitation",
                                                              "instance_invitation"}
    default_subject = listed["opt_in_invitation"]["subject"]

    body = '<p>Hello {first_name} of {account_name}</p><p><a href="{accept_url}">Start</a></p>'
    await platform.answer(await platform.send(acc, notifications.SetTemplate(by_user_id=platform.owner_of(acc),
        template="opt_in_invitation", subject="Welcome to {account_name}", body=body)),
        "notifications.template.changed")
    mine = {t["kind"]: t for t in (await call(platform, "/v1/templates", "ada", account_id=acc)).json()["templates"]}
    assert (mine["opt_in_invitation"]["custom"], mine["opt_in_invitation"]["body"]) == (True, body)
    shown = (await call(platform, "/v1/templates/opt_in_invitation/preview", "ada", account_id=acc)).json()
    assert shown["subject"] == "Welcome to Harbor & Bay Realty"  # a subject is text, not HTML
    assert shown["html"] == ('<p>Hello Jamie of Harbor &amp; Bay Realty</p>'
                             '<p><a href="https://crm.example/invitations/accept#token=PREVIEW">Start</a></p>')

    reset = await platform.answer(await platform.send(acc, notifications.ResetTemplate(by_user_id=platform.owner_of(acc), template="opt_in_invitation")),
                                  "notifications.template.changed")
    assert (reset.data["custom"], reset.data["subject"]) == (False, default_subject)
    back = {t["kind"]: t for t in (await call(platform, "/v1/templates", owner, account_id=acc)).json()["templates"]}
    assert (back["opt_in_invitation"]["custom"], back["opt_in_invitation"]["subject"]) == (False, default_subject)

    assert (await call(platform, "/v1/templates", "abe", account_id=acc)).status_code == 403
    assert (await call(platform, "/v1/templates/opt_in_invitation/preview", "abe", account_id=acc)).status_code == 403
    assert (await call(platform, "/v1/templates/nothing/preview", owner, account_id=acc)).status_code == 404

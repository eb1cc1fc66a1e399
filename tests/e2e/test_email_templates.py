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
                                headers=platform.stack.auth.as_user(user))


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


async def test_a_sent_invitation_is_its_preview_with_the_real_link_byte_for_byte(platform, new_account_id):
    """The invitee and the account carry the preview's sample values (Jamie Rivera, Harbor & Bay
    Realty), so the e-mail sent must equal the preview but for the link, which only a real
    invitation has — `{last_name}` included, which sent e-mails once left blank."""
    from mail_steps import html_of, unique_email, wait_mail

    from crm_contracts import identity

    acc = new_account_id()
    created = await platform.bus.command(identity.CreateAccount(
        account_id=acc, name="Harbor & Bay Realty", tier="enterprise",
        owner={"user_id": f"{acc}_owner", "email": "owner@example.com", "first_name": "Olive", "last_name": "Owner"}),
        accountid=acc)
    await platform.bus.wait_event("identity.account.created", correlationid=created.id)
    await platform.subscription(acc, 2)
    await platform.answer(await platform.send(acc, identity.SetOptIn(enabled=True)), "identity.account.opt_in_changed")
    subject = "{first_name} {last_name}, {account_name} is waiting"
    body = '<p>Hello {first_name} {last_name} of {account_name}</p><p><a href="{accept_url}">Start</a></p>'
    await platform.answer(await platform.send(acc, notifications.SetTemplate(
        by_user_id=f"{acc}_owner", template="opt_in_invitation", subject=subject, body=body)),
        "notifications.template.changed")
    preview = (await call(platform, "/v1/templates/opt_in_invitation/preview", f"{acc}_owner", account_id=acc)).json()

    address = unique_email("jamie")
    add = await platform.send(acc, identity.AddMember(
        by_user_id=f"{acc}_owner", user_id="jamie", email=address, first_name="Jamie", last_name="Rivera",
        user_type="platform", activation="opt_in", group_id=None, role="agent"))
    issued = await platform.answer(add, "identity.invitation.issued")
    await platform.answer(add, "notifications.email.sent")
    mail = await wait_mail(platform.stack, address)
    link = platform.stack.auth.invitation_link(issued)
    assert mail["Subject"] == preview["subject"] == "Jamie Rivera, Harbor & Bay Realty is waiting"
    sample_link = "https://crm.example/invitations/accept#token=PREVIEW"
    assert html_of(mail).rstrip("\r\n") == preview["html"].replace(sample_link, link)  # but MIME's line end
    assert "Hello Jamie Rivera of Harbor &amp; Bay Realty" in preview["html"]


async def test_an_invitation_template_without_its_link_is_refused(platform, new_account_id):
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=1)
    refused = await platform.answer(await platform.send(acc, notifications.SetTemplate(
        by_user_id=platform.owner_of(acc), template="standard_invitation", subject="Welcome",
        body="<p>Hi {first_name}, your account is ready.</p>")), "notifications.command.rejected")
    assert refused.data["reason"] == "missing_placeholder" and "{accept_url}" in refused.data["message"]
    listed = {t["kind"]: t for t in (await call(platform, "/v1/templates", platform.owner_of(acc),
                                                account_id=acc)).json()["templates"]}
    assert listed["standard_invitation"]["custom"] is False  # the default, with its link, still goes out

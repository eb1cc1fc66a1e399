"""Notifications end to end (AO13, PI8): real SMTP into a Maildir, pushes, unread counts."""

from __future__ import annotations

import re
import uuid

import asyncpg
import pytest

from crm_contracts import identity, notifications
from crm_runtime.faults import CRASH_AFTER_SEND
from crm_devstack.waiting import eventually
from mail_steps import arrivals, html_of, mails_to, unique_email, wait_mail
from money import this_month_price

pytestmark = pytest.mark.stack


async def test_the_opt_in_story_by_e_mail(platform, stack, account_id):
    await platform.enterprise(account_id, seats_total=0)  # the click will have to upgrade
    address = unique_email("ana")
    add = await platform.add(account_id, "ana", email=address)
    mail = await wait_mail(stack, address)
    assert "invites you to the CRM" in mail["Subject"]
    link = re.search(r'href="([^"]+)"', html_of(mail)).group(1).replace("&amp;", "&")
    sent = await platform.answer(add, "notifications.email.sent")
    issued = await platform.answer(add, "identity.invitation.issued")
    assert sent.data["cause_event_id"] == issued.id and sent.data["to"] == address
    assert sent.data["message_id"] == mail["Message-ID"]

    page = await platform.click(link)  # the person follows the link in the e-mail
    assert page.status_code == 200
    reserved = (await platform.bus.wait_event("seats.seat.reserved", where=lambda e: e.accountid == account_id))[0]
    assert reserved.data["auto_upgraded"] is True
    await platform.status(account_id, "ana", "pending_activation")

    # Many tests share owner@example.com, so the owner's mail is checked by its event here.
    upgrade_mail = await platform.bus.wait_event(
        "notifications.email.sent", where=lambda e: e.accountid == account_id and e.data["template"] == "seat_upgrade")
    assert upgrade_mail[0].data["to"] == "owner@example.com"


async def test_the_owner_is_mailed_the_new_total_and_the_charge(platform, stack, bus, account_id):
    owner = unique_email("owner")
    cmd = await bus.command(identity.CreateAccount(
        account_id=account_id, name="Lane Realty", tier="enterprise",
        owner={"user_id": "olive", "email": owner, "first_name": "Olive", "last_name": "Owner"}),
        accountid=account_id)
    await platform.answer(cmd, "identity.account.created")
    await platform.subscription(account_id, 2)  # Olive's seat and one more
    await platform.answer(await platform.send(account_id, identity.SetOptIn(enabled=True)),
                          "identity.account.opt_in_changed")
    taken = await platform.add(account_id, "first", activation="immediate")
    await platform.answer(taken, "seats.seat.reserved")
    await platform.add(account_id, "second")
    await platform.click(platform.stack.auth.invitation_link(await platform.invitation(account_id, "second")))
    charge = (await bus.wait_event("seats.charge.created", where=lambda e: e.accountid == account_id))[0]
    mail = await wait_mail(stack, owner)
    assert mail["Subject"] == "Lane Realty now has 3 seats"
    body = html_of(mail)
    amount = f"{this_month_price(4900) / 100:.2f} USD"
    assert charge.data["amount_cents"] == this_month_price(4900)
    assert "Hi Olive" in body and "from 2 to 3 seats" in body and amount in body


async def test_a_custom_template_is_used_an_invalid_one_refused_and_data_escaped(platform, stack, account_id):
    await platform.enterprise(account_id, seats_total=2)
    custom = await platform.send(account_id, notifications.SetTemplate(by_user_id=platform.owner_of(account_id),
        template="opt_in_invitation", subject="{account_name}: your seat is waiting, {first_name}",
        body="<h1>Hello {first_name}</h1><p><a href=\"{accept_url}\">Join {account_name}</a></p>"))
    await platform.answer(custom, "notifications.template.changed")
    invalid = await platform.send(account_id, notifications.SetTemplate(by_user_id=platform.owner_of(account_id),
        template="opt_in_invitation", subject="Hi", body="Join {team_name} at {accept_url}"))
    rejected = await platform.answer(invalid, "notifications.command.rejected")
    assert rejected.data["reason"] == "unknown_placeholder" and "{team_name}" in rejected.data["message"]
    broken = await platform.send(account_id, notifications.SetTemplate(by_user_id=platform.owner_of(account_id),
        template="opt_in_invitation", subject="Hi", body="Join {accept_url"))
    assert (await platform.answer(broken, "notifications.command.rejected")).data["reason"] == "template_invalid"

    address = unique_email("xss")
    add = await platform.bus.command(identity.AddMember(
        user_id="xss", email=address, first_name="<script>alert(1)</script>", last_name="Agent",
        user_type="platform", activation="opt_in", role="agent", by_user_id=platform.owner_of(account_id)),
        accountid=account_id)
    await platform.answer(add, "notifications.email.sent")
    mail = await wait_mail(stack, address)
    assert mail["Subject"].strip() == f"Brokerage {account_id}: your seat is waiting, <script>alert(1)</script>"
    body = html_of(mail)
    assert "<h1>Hello &lt;script&gt;alert(1)&lt;/script&gt;</h1>" in body and "<script>" not in body
    # The invalid templates sent after the custom one did not replace it.
    assert body.count("Join Brokerage") == 1


async def test_a_redelivered_invitation_sends_no_second_e_mail(platform, stack, bus, account_id):
    await platform.enterprise(account_id, seats_total=2)
    address = unique_email("dup")
    add = await platform.add(account_id, "dup", email=address)
    issued = await platform.answer(add, "identity.invitation.issued")
    await platform.answer(add, "notifications.email.sent")
    await bus.send(issued)
    await bus.send(issued)
    await stack.settled()
    assert arrivals(stack, address) == ["stored"]
    assert len({e.id for e in bus.events(lambda e: e.type == "notifications.email.sent"
                                          and e.data["to"] == address)}) == 1


@pytest.mark.local_stack
async def test_killed_between_sending_and_recording_the_person_still_gets_one_e_mail(platform, stack, account_id):
    await platform.enterprise(account_id, seats_total=2)
    address = unique_email("crash")
    stack.services.stop("notifications")
    try:
        stack.services.start("notifications", env={CRASH_AFTER_SEND: address})
        await stack.health.wait("notifications")
        add = await platform.add(account_id, "crash", email=address)
        await eventually(lambda: stack.services.pid("notifications") is None, timeout=60,
                         what="notifications reaching the crash point")
    finally:
        stack.services.start("notifications")
        await stack.health.wait("notifications")
    sent = await platform.answer(add, "notifications.email.sent", timeout=60)
    # Sent twice under one Message-ID (at least once), stored once: one e-mail for the person.
    assert arrivals(stack, address) == ["stored", "duplicate"]
    [mail] = mails_to(stack, address)
    assert mail["Message-ID"] == sent.data["message_id"]


async def test_an_smtp_outage_ends_in_delivery_after_recovery(platform, stack, account_id):
    await platform.enterprise(account_id, seats_total=2)
    address = unique_email("outage")
    stack.mail.stop()
    try:
        add = await platform.add(account_id, "outage", email=address)
        await platform.answer(add, "identity.invitation.issued")

        async def failed_twice() -> bool:
            conn = await asyncpg.connect(stack.database_url("notifications"))
            try:
                return await conn.fetchval("SELECT coalesce(max(attempts), 0) >= 2 FROM emails WHERE to_address = $1 "
                                           "AND status = 'pending'", address)
            finally:
                await conn.close()

        # Two attempts failed and the e-mail is still pending: nothing was said sent or failed.
        await eventually(failed_twice, timeout=30, what="two failed attempts to send")
        assert not platform.bus.events(lambda e: e.type.startswith("notifications.email") and e.data.get("to") == address)
    finally:
        stack.mail.start()
        await stack.mail.wait()
    sent = await platform.answer(add, "notifications.email.sent", timeout=60)
    assert sent.data["to"] == address and len(mails_to(stack, address)) == 1


@pytest.mark.local_stack
async def test_a_refusing_server_or_a_long_outage_ends_in_email_failed(platform, stack, account_id):
    await platform.enterprise(account_id, seats_total=5)
    refused = await platform.add(account_id, "refused", email=f"someone-{uuid.uuid4().hex[:6]}@refused.example.com")
    failed = await platform.answer(refused, "notifications.email.failed")
    assert "550" in failed.data["error"] and failed.data["template"] == "opt_in_invitation"

    stack.services.stop("notifications")
    stack.mail.stop()
    try:
        stack.services.start("notifications", env={"SMTP_MAX_ATTEMPTS": "3", "SMTP_RETRY_FIRST_DELAY_S": "0.2"})
        await stack.health.wait("notifications")
        down = await platform.add(account_id, "down", email=unique_email("down"))
        failed = await platform.answer(down, "notifications.email.failed", timeout=60)
        assert "Connect" in failed.data["error"] or "refused" in failed.data["error"].lower()
    finally:
        stack.mail.start()
        await stack.mail.wait()
        stack.services.stop("notifications")
        stack.services.start("notifications")
        await stack.health.wait("notifications")

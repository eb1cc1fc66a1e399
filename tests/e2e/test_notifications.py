"""Notifications end to end (AO13, PI8): real SMTP into a Maildir, pushes, unread counts."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from email import message_from_bytes
from email.policy import default

import asyncpg
import httpx
import pytest

from crm_contracts import command, identity, notifications, routing
from crm_devstack.mailserver import stored_for
from crm_runtime.faults import CRASH_AFTER_SEND
from crm_devstack.waiting import eventually
from money import this_month_price

pytestmark = pytest.mark.stack


def mails_to(stack, address: str) -> list:
    return [message_from_bytes(path.read_bytes(), policy=default) for path in stored_for(stack.maildir, address)]


def arrivals(stack, address: str) -> list[str]:
    log = stack.maildir / "received.log"
    return [line.split("\t")[2].strip() for line in log.read_text().splitlines()
            if line.split("\t")[1] == address] if log.exists() else []


async def wait_mail(stack, address: str, timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while not mails_to(stack, address):
        if time.monotonic() > deadline:
            raise AssertionError(f"no e-mail to {address} in {stack.maildir}")
        await asyncio.sleep(0.2)
    return mails_to(stack, address)[0]


def html_of(msg) -> str:
    return msg.get_body(preferencelist=("html",)).get_content()


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


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
    await platform.click(platform.stack.invitation_link(await platform.invitation(account_id, "second")))
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
    stack.stop_service("notifications")
    try:
        stack.start_service("notifications", env={CRASH_AFTER_SEND: address})
        await stack.wait_healthy("notifications")
        add = await platform.add(account_id, "crash", email=address)
        await eventually(lambda: stack.service_pid("notifications") is None, timeout=60,
                         what="notifications reaching the crash point")
    finally:
        stack.start_service("notifications")
        await stack.wait_healthy("notifications")
    sent = await platform.answer(add, "notifications.email.sent", timeout=60)
    # Sent twice under one Message-ID (at least once), stored once: one e-mail for the person.
    assert arrivals(stack, address) == ["stored", "duplicate"]
    [mail] = mails_to(stack, address)
    assert mail["Message-ID"] == sent.data["message_id"]


async def test_an_smtp_outage_ends_in_delivery_after_recovery(platform, stack, account_id):
    await platform.enterprise(account_id, seats_total=2)
    address = unique_email("outage")
    stack.stop_mail()
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
        stack.start_mail()
        await stack.wait_mail()
    sent = await platform.answer(add, "notifications.email.sent", timeout=60)
    assert sent.data["to"] == address and len(mails_to(stack, address)) == 1


@pytest.mark.local_stack
async def test_a_refusing_server_or_a_long_outage_ends_in_email_failed(platform, stack, account_id):
    await platform.enterprise(account_id, seats_total=5)
    refused = await platform.add(account_id, "refused", email=f"someone-{uuid.uuid4().hex[:6]}@refused.example.com")
    failed = await platform.answer(refused, "notifications.email.failed")
    assert "550" in failed.data["error"] and failed.data["template"] == "opt_in_invitation"

    stack.stop_service("notifications")
    stack.stop_mail()
    try:
        stack.start_service("notifications", env={"SMTP_MAX_ATTEMPTS": "3", "SMTP_RETRY_FIRST_DELAY_S": "0.2"})
        await stack.wait_healthy("notifications")
        down = await platform.add(account_id, "down", email=unique_email("down"))
        failed = await platform.answer(down, "notifications.email.failed", timeout=60)
        assert "Connect" in failed.data["error"] or "refused" in failed.data["error"].lower()
    finally:
        stack.start_mail()
        await stack.wait_mail()
        stack.stop_service("notifications")
        stack.start_service("notifications")
        await stack.wait_healthy("notifications")


# --- PI8: push across instances ----------------------------------------------------------------


def pushes(stack, user_id: str) -> list[dict]:
    if not stack.push_log.exists():
        return []
    return [p for p in map(json.loads, stack.push_log.read_text().splitlines()) if p["user_id"] == user_id]


async def center(stack, user_id: str, *, operator: bool = False) -> dict:
    """The user's notification center, read by them (or by an operator: someone who cannot sign in
    yet may not read it themselves)."""
    async with httpx.AsyncClient(timeout=5) as client:
        return (await client.get(f"{stack.http('notifications')}/v1/notifications", params={"user_id": user_id},
                                 headers=stack.as_operator() if operator else stack.as_user(user_id))).json()


async def test_web_and_mobile_pushes_and_unread_counts_across_two_instances(platform, stack, bus, account_id):
    await platform.enterprise(account_id, seats_total=1)
    created = bus.events(lambda e: e.type == "identity.account.created" and e.accountid == account_id)[0]
    user, home = f"{account_id}_owner", created.data["enterprise_instance_id"]
    team = "ins_team_" + uuid.uuid4().hex[:8]
    # Private instances are not built yet: announce one as identity will.
    await bus.send(command(identity.InstanceCreated(
        instance_id=team, owner_user_id=user, package="crm_idx_team", name="Lane Team", parsing_email="t@x",
        website_id=None), source="crm/identity", accountid=account_id, instanceid=team))
    async def session(device: str, device_id: str, instance: str) -> None:
        cmd = await bus.command(notifications.SetSession(user_id=user, device=device, device_id=device_id,
                                                         instance_id=instance), accountid=account_id)
        await platform.answer(cmd, "notifications.session.changed")

    await session("web", "web-1", home)
    await session("mobile", "phone-1", home)

    async def lead(instance: str, lead_id: str):
        cmd = await bus.send(command(routing.LeadAssigned(
            lead_id=lead_id, instance_id=instance, user_id=user, rule_id="r1", strategy="round_robin",
            explanation="test"), source="crm/routing", accountid=account_id, instanceid=instance))
        return (await bus.wait_event("notifications.unread.changed", correlationid=cmd.id))[0]

    unread = await lead(team, "lead-in-team")
    assert unread.data["counts"] == {home: 0, team: 1}
    sent = await bus.wait_event("notifications.push.sent", where=lambda e: e.data["user_id"] == user)
    assert [(p.data["device_id"], p.data["source_instance_name"]) for p in sent] == [("web-1", "Lane Team")]
    await stack.settled()
    assert [(p["device_id"], p["instance_name"]) for p in pushes(stack, user)] == [("web-1", "Lane Team")]
    [first] = pushes(stack, user)  # the web device is at home: the team's push says where it comes from and leads
    assert first["destination"] == {"instance_id": team, "path": "/leads/lead-in-team"}
    assert first["source"] == {"instance_id": team, "instance_name": "Lane Team"}

    unread = await lead(home, "lead-at-home")
    assert unread.data["counts"] == {home: 1, team: 1}
    await bus.wait_event("notifications.push.sent", count=3, where=lambda e: e.data["user_id"] == user)
    home_pushes = {p["device_id"] for p in pushes(stack, user) if p["instance_id"] == home}
    assert home_pushes == {"web-1", "phone-1"}
    assert all(p["source"] is None for p in pushes(stack, user) if p["instance_id"] == home)  # each device is there

    # The phone's session decides what it reads: its own instance's details, counts of the others.
    base = f"{stack.http('notifications')}/v1/notifications"
    async with httpx.AsyncClient(timeout=5) as client:
        phone = (await client.get(base, params={"device_id": "phone-1"}, headers=stack.as_user(user))).json()
        elsewhere = await client.get(base, params={"device_id": "phone-1", "instance_id": team},
                                     headers=stack.as_user(user))
        unknown = await client.get(base, params={"device_id": "tablet-9"}, headers=stack.as_user(user))
    assert phone["instance_id"] == home and {i["instance_id"] for i in phone["items"]} == {home}
    assert {e["instance_id"]: e["unread"] for e in phone["elsewhere"]} == {team: 1}
    assert (elsewhere.status_code, elsewhere.json()["error"]) == (403, "not_signed_into_instance")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_device")

    # The phone switches to the team instance: now it hears from there and not from home.
    await session("mobile", "phone-1", team)
    await lead(team, "lead-2")
    await bus.wait_event("notifications.push.sent", count=5, where=lambda e: e.data["user_id"] == user)
    assert {p["device_id"] for p in pushes(stack, user) if p["instance_id"] == team} == {"web-1", "phone-1"}

    items = (await center(stack, user))["items"]
    assert {i["instance_name"] for i in items} == {"Lane Team", f"Brokerage {account_id}"}
    team_items = [i["notification_id"] for i in items if i["instance_id"] == team]
    read = await bus.command(notifications.ReadNotifications(user_id=user, notification_ids=team_items),
                             accountid=account_id)
    unread = (await bus.wait_event("notifications.unread.changed", correlationid=read.id))[0]
    assert unread.data["counts"] == {home: 1, team: 0}
    assert (await center(stack, user))["unread"] == {home: 1, team: 0}


async def test_a_member_without_a_seat_is_told_to_the_owner_and_every_active_admin_once(platform, stack, bus,
                                                                                       account_id):
    """AO10: the owner and each active account admin get one e-mail and one notification-center
    item; an admin who is not active, and an agent, get nothing."""
    owner, idle_admin, agent = (unique_email(t) for t in ("owner", "idle", "agent"))
    # User ids are global to notifications (a person's items span accounts): unique to this run.
    olive, ada, amy, ian, zed = (f"{account_id}_{n}" for n in ("olive", "ada", "amy", "ian", "zed"))
    cmd = await bus.command(identity.CreateAccount(
        account_id=account_id, name="Cove Realty", tier="enterprise",
        owner={"user_id": olive, "email": owner, "first_name": "Olive", "last_name": "Owner"}),
        accountid=account_id)
    await platform.answer(cmd, "identity.account.created")
    await platform.subscription(account_id, 4)  # Olive's, Ada's, Amy's and Ian's
    await platform.active(account_id, ada, role="admin")
    await platform.active(account_id, amy)
    await platform.status(account_id, ada, "active")
    await platform.answer(await platform.send(account_id, identity.AddMember.model_validate({**platform.member_row(
        ian, activation="immediate", role="admin", email=idle_admin), "by_user_id": olive})),
        "seats.seat.reserved")  # not active
    full = await platform.add(account_id, zed, activation="immediate", email=agent)
    denied = await platform.answer(full, "seats.seat.denied")
    assert denied.data == {"user_id": zed, "reason": "no_seat_available", "seats_used": 4, "seats_total": 4}
    alerted = await platform.answer(full, "identity.account.owner_alerted")

    sent = await bus.wait_event("notifications.email.sent", count=2, correlationid=full.id,
                                where=lambda e: e.data["template"] == "seat_unavailable")
    assert sorted(e.data["to"] for e in sent) == sorted([owner, f"{ada}@example.com"])
    mail = await wait_mail(stack, owner)
    assert mail["Subject"] == f"Agent {zed} is waiting for a seat in Cove Realty"
    assert "Hi Olive" in html_of(mail) and "4 of 4 seats are in use" in html_of(mail)
    await stack.settled()
    def alerts(address: str) -> list:
        return [m for m in mails_to(stack, address) if "waiting for a seat" in m["Subject"]]

    assert (len(alerts(owner)), alerts(idle_admin), alerts(agent)) == (1, [], [])
    for user in (olive, ada):
        items = [i for i in (await center(stack, user))["items"] if i["kind"] == "seat_unavailable"]
        assert [i["title"] for i in items] == [f"Agent {zed} is waiting for a seat"], user
    for user in (ian, amy):
        items = (await center(stack, user, operator=True))["items"]
        assert [i for i in items if i["kind"] == "seat_unavailable"] == []
    assert alerted.data["member_name"] == f"Agent {zed}"


async def test_the_local_relay_takes_mail_only_over_starttls_with_its_certificate(stack):
    """The stack's SMTP server requires STARTTLS, so every e-mail the tests above saw delivered went
    encrypted: a plain-text sender is refused, one that upgrades with the stack's certificate is not."""
    import ssl
    from email.message import EmailMessage

    import aiosmtplib

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "t@crm.example", unique_email("tls"), "over TLS"
    msg.set_content("hello")
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await aiosmtplib.send(msg, hostname="127.0.0.1", port=stack.smtp_port, start_tls=False, use_tls=False)
    assert refused.value.code == 530
    trusted = ssl.create_default_context(cafile=str(stack.run / "mail-tls" / "smtp-cert.pem"))
    await aiosmtplib.send(msg, hostname="127.0.0.1", port=stack.smtp_port, start_tls=True, tls_context=trusted)
    await wait_mail(stack, msg["To"])


async def test_signed_into_one_instance_a_user_sees_its_details_and_only_counts_of_the_others(
        platform, new_account_id):
    """PI8: details of the instance signed into; others by name and unread count; each item says
    where clicking it leads; read one, or all of an instance."""
    from test_routing import capture, outcome, set_rules, team

    acc = new_account_id()
    created = await team(platform, acc, "bob")
    ins = created["instance_id"]
    enterprise = (await platform.bus.wait_event("identity.account.created",
                                                where=lambda e: e.accountid == acc))[0].data["enterprise_instance_id"]
    to_bob = [{"id": "bob", "steps": [{"strategy": "specific_agent", "agent": "bob"}]}]
    for where in (ins, enterprise):
        await set_rules(platform, acc, where, to_bob)
    here, _ = await capture(platform, acc, channel="manual", instance_id=ins)
    there, _ = await capture(platform, acc, channel="manual", instance_id=enterprise)
    for lid in (here, there):
        assert (await outcome(platform, lid)).data["user_id"] == "bob"
    await platform.stack.settled()

    base = f"{platform.stack.http('notifications')}/v1/notifications"
    bob = platform.stack.as_user("bob")
    async with httpx.AsyncClient(timeout=5) as client:
        seen = (await client.get(base, params={"instance_id": ins}, headers=bob)).json()
        assert {i["instance_id"] for i in seen["items"]} == {ins}
        mine = next(i for i in seen["items"] if i["kind"] == "lead_assigned")
        assert mine["destination"] == {"instance_id": ins, "path": f"/leads/{here}"}
        assert mine["source"] == created["name"]
        others = {e["instance_id"]: e for e in seen["elsewhere"]}
        # (user ids repeat across this suite's accounts, so bob has other accounts' instances too)
        assert ins not in others and others[enterprise]["unread"] >= 1
        assert set(others[enterprise]) == {"instance_id", "instance_name", "unread"}  # no details elsewhere

        before = seen["unread"][ins]
        after = (await client.post(f"{base}/{mine['notification_id']}/read", headers=bob)).json()["unread"]
        assert after[ins] == before - 1
        counted = await platform.bus.wait_event("notifications.unread.changed",
                                                where=lambda e: e.data["user_id"] == "bob"
                                                and e.data["counts"].get(ins) == before - 1)
        assert counted
        cleared = (await client.post(f"{base}/read-all", params={"instance_id": enterprise}, headers=bob)).json()
        assert cleared["unread"][enterprise] == 0 and cleared["unread"][ins] == before - 1
        assert (await client.post(f"{base}/ntf_not_mine/read", headers=bob)).status_code == 404

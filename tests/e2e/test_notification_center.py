"""The notification center end to end (PI8): pushes across instances, unread counts, what a phone's session may read."""

from __future__ import annotations

import json
import uuid
import httpx
import pytest
from crm_contracts import command, identity, notifications, routing
from mail_steps import html_of, mails_to, unique_email, wait_mail

pytestmark = pytest.mark.stack

# --- PI8: push across instances ----------------------------------------------------------------


def pushes(stack, user_id: str) -> list[dict]:
    if not stack.mail.push_log.exists():
        return []
    return [p for p in map(json.loads, stack.mail.push_log.read_text().splitlines()) if p["user_id"] == user_id]


async def center(stack, user_id: str, *, operator: bool = False) -> dict:
    """The user's notification center, read by them (or by an operator: someone who cannot sign in
    yet may not read it themselves)."""
    async with httpx.AsyncClient(timeout=5) as client:
        return (await client.get(f"{stack.http('notifications')}/v1/notifications", params={"user_id": user_id},
                                 headers=stack.auth.as_operator() if operator else stack.auth.as_user(user_id))).json()


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
        phone = (await client.get(base, params={"device_id": "phone-1"}, headers=stack.auth.as_user(user))).json()
        elsewhere = await client.get(base, params={"device_id": "phone-1", "instance_id": team},
                                     headers=stack.auth.as_user(user))
        unknown = await client.get(base, params={"device_id": "tablet-9"}, headers=stack.auth.as_user(user))
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
    from routing_steps import capture, outcome, set_rules, team

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
    bob = platform.stack.auth.as_user("bob")
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

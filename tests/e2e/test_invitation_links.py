"""Invitation links (AO8): opening one accepts nothing, only the person's confirmation from the
page does; and once the e-mail is out, no table and no topic holds a token that would work."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import asyncpg
import httpx
import pytest

from crm_devstack import people
from crm_devstack.stack import SERVICES

pytestmark = pytest.mark.stack


async def sent_link(platform, account_id: str, user_id: str) -> tuple[str, object]:
    issued = await platform.invitation(account_id, user_id)
    await platform.bus.wait_event("notifications.email.sent", correlationid=issued.correlationid)
    return people.link_in_mail(platform.stack.mail.maildir, f"{user_id}@example.com"), issued


async def test_opening_the_link_asks_and_only_a_same_site_confirmation_accepts(platform, account_id):
    await platform.enterprise(account_id, seats_total=2)
    await platform.add(account_id, "u1")
    link, issued = await sent_link(platform, account_id, "u1")
    assert link == platform.stack.auth.invitation_link(issued)  # the e-mail carries the link the token makes

    async with httpx.AsyncClient(timeout=10) as scanner:  # a mail scanner and a link preview open it
        for _ in range(2):
            page = await scanner.get(link)
            assert page.status_code == 200 and f"Join Brokerage {account_id}" in page.text
            assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
            assert people.confirm_form(page.text) is not None
        form = people.confirm_form(page.text)
        # A post without the page's cookie (another site's form, a replayed body) is refused.
        assert (await httpx.AsyncClient().post(link.split("?")[0], data=form)).status_code == 403
        cross = await scanner.post(link.split("?")[0], data=form, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403
        foreign = await scanner.post(link.split("?")[0], data=form, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403
        stuffed = await scanner.post(link.split("?")[0], data={**form, "a": "1", "b": "2", "c": "3"})
        assert stuffed.status_code == 403  # not the page's form
    await platform.stack.settled()
    assert (await platform.status(account_id, "u1", "pending_opt_in"))["status"] == "pending_opt_in"
    assert not platform.events(account_id, "identity.invitation.accepted")
    assert not platform.events(account_id, "seats.seat.reserved", "u1")

    async with httpx.AsyncClient(timeout=10) as person:
        page, confirmed = await people.accept(person, link)
    assert confirmed is not None and confirmed.status_code == 200 and "Welcome to" in confirmed.text
    await platform.bus.wait_event("seats.seat.reserved",
                                  where=lambda e: e.accountid == account_id and e.data["user_id"] == "u1")


async def tables_holding(stack, needle: str) -> list[str]:
    """Every (database, table, column) of the four services whose value contains `needle`."""
    found = []
    for service in SERVICES:
        conn = await asyncpg.connect(stack.admin_url.rsplit("/", 1)[0] + f"/crm_{service}")
        try:
            columns = await conn.fetch(
                """SELECT table_name, column_name, data_type FROM information_schema.columns
                   WHERE table_schema = 'public'""")
            for c in columns:
                column = f'"{c["column_name"]}"'
                test = (f"position(convert_to($1, 'UTF8') in {column}) > 0" if c["data_type"] == "bytea"
                        else f"{column}::text LIKE '%' || $1 || '%'")
                if await conn.fetchval(f'SELECT count(*) FROM "{c["table_name"]}" WHERE {test}', needle):
                    found.append(f"crm_{service}.{c['table_name']}.{c['column_name']}")
        finally:
            await conn.close()
    return found


async def test_after_delivery_no_table_or_topic_holds_a_usable_token(platform, account_id):
    await platform.enterprise(account_id, seats_total=2)
    await platform.add(account_id, "u2")
    link, issued = await sent_link(platform, account_id, "u2")
    token = parse_qs(urlparse(link).query)["token"][0]
    sealed = issued.data["sealed_token"]
    await platform.stack.settled()

    assert await tables_holding(platform.stack, token) == []
    # The sealed copy notifications kept for sending is erased once the e-mail is out; identity's
    # outbox may still hold its sealed copy until pruned, which only notifications' key opens.
    assert not [t for t in await tables_holding(platform.stack, sealed) if t.startswith("crm_notifications")]
    assert not platform.bus.matching(lambda rec: token.encode() in rec.value)
    assert "accept_url" not in issued.data and token not in issued.to_json().decode()

    async with httpx.AsyncClient(timeout=10) as person:  # and the link itself still works
        _, confirmed = await people.accept(person, link)
    assert confirmed is not None and confirmed.status_code == 200

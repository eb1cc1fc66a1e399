"""A small driver of the platform for end-to-end tests: what an admin console and a person do."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from crm_contracts import CloudEvent, identity, seats
from crm_devstack import people
from crm_devstack.bus import Bus
from crm_devstack.stack import Stack
from crm_devstack.dates import period_args

PRICE = 4900


class Platform:
    def __init__(self, stack: Stack, bus: Bus) -> None:
        self.stack = stack
        self.bus = bus

    # --- commands ----------------------------------------------------------------------------

    async def enterprise(self, account_id: str, *, seats_total: int = 3, opt_in: bool = True,
                         tier: str = "enterprise") -> None:
        """An account whose owner holds one of its `seats_total` seats (the rest are free)."""
        cmd = await self.bus.command(identity.CreateAccount(
            account_id=account_id, name=f"Brokerage {account_id}", tier=tier,
            owner={"user_id": f"{account_id}_owner", "email": "owner@example.com",
                   "first_name": "Olive", "last_name": "Owner"}), accountid=account_id)
        await self.bus.wait_event("identity.account.created", correlationid=cmd.id)
        await self.subscription(account_id, seats_total)
        # The owner's seat: taken by whichever of the creation and the plan reaches seats last.
        await self.bus.wait_event("seats.seat.reserved", where=lambda e: e.accountid == account_id
                                  and e.data["user_id"] == f"{account_id}_owner")
        if opt_in:
            cmd = await self.bus.command(identity.SetOptIn(enabled=True), accountid=account_id)
            await self.bus.wait_event("identity.account.opt_in_changed", correlationid=cmd.id)

    async def subscription(self, account_id: str, seats_total: int, **plan) -> CloudEvent:
        """Set the account's seats at PRICE, billed monthly from the 1st of this month (or `plan`)."""
        cmd = await self.bus.command(seats.SetSubscription.model_validate(
            {"seats_total": seats_total, "seat_price_cents": PRICE, "currency": "USD", **period_args(), **plan}),
            accountid=account_id)
        await self.bus.wait_event("seats.subscription.changed", correlationid=cmd.id)
        return cmd

    def member_row(self, user_id: str, activation: str | None = "opt_in", user_type: str = "platform",
                   group_id: str | None = None, email: str | None = None, role: str = "agent") -> dict:
        return {"user_id": user_id, "email": email or f"{user_id}@example.com", "first_name": "Agent",
                "last_name": user_id, "user_type": user_type, "activation": activation,
                "group_id": group_id, "role": role}

    async def add(self, account_id: str, user_id: str, **row) -> CloudEvent:
        return await self.bus.command(identity.AddMember.model_validate(
            {**self.member_row(user_id, **row), "by_user_id": self.owner_of(account_id)}), accountid=account_id)

    def owner_of(self, account_id: str) -> str:
        """Who adds members, as the account's owner: from its `identity.account.created`."""
        created = self.bus.events(lambda e: e.type == "identity.account.created" and e.accountid == account_id)
        return created[-1].data["owner_user_id"] if created else f"{account_id}_owner"

    async def send(self, account_id: str, data) -> CloudEvent:
        return await self.bus.command(data, accountid=account_id)

    async def active(self, account_id: str, user_id: str, *, group_id: str | None = None, role: str = "agent") -> None:
        """A member who can sign in: added immediately, seated, onboarded (with a phone)."""
        cmd = await self.add(account_id, user_id, activation="immediate", group_id=group_id, role=role)
        await self.answer(cmd, "seats.seat.reserved")
        await self.status(account_id, user_id, "pending_activation")
        phone = "+1555" + str(int(uuid.uuid5(uuid.NAMESPACE_OID, user_id)) % 10_000_000).zfill(7)
        done = await self.send(account_id, identity.CompleteOnboarding(user_id=user_id, phone=phone))
        await self.answer(done, "identity.member.status_changed")

    async def buy(self, account_id: str, user_id: str, package: str = "crm_idx_team", name: str = "Team") -> CloudEvent:
        # IDX packages come with one MLS; crm_only with none.
        mls = None if package == "crm_only" else "SFAR"
        return await self.send(account_id, identity.PurchaseInstance(buyer_user_id=user_id, package=package, name=name,
                                                                     mls_id=mls))

    async def bought(self, account_id: str, user_id: str, package: str = "crm_idx_team",
                     name: str = "Team") -> CloudEvent:
        """The `identity.instance.created` of a purchase that must succeed, once seats has charged
        its package: seats learns of the instance from that event, and a purchase for it that
        reaches seats before is refused `unknown_instance`, as it would be for any sender."""
        cmd = await self.buy(account_id, user_id, package, name)
        created = await self.answer(cmd, "identity.instance.created")
        await self.answer(cmd, "seats.charge.created", where=lambda e: e.data.get("item") == f"package:{package}")
        return created

    async def invite(self, account_id: str, instance_id: str, user_id: str, role: str = "agent",
                     by: str = "ann") -> CloudEvent:
        return await self.send(account_id, identity.InviteToInstance(instance_id=instance_id, user_id=user_id,
                                                                     role=role, by_user_id=by))

    async def join(self, account_id: str, instance_id: str, user_id: str, by: str, role: str = "agent") -> None:
        """Invite and accept through the link, until identity says the user joined."""
        issued = await self.answer(await self.invite(account_id, instance_id, user_id, role, by),
                                   "identity.invitation.issued")
        page = await self.click(self.stack.auth.invitation_link(issued))
        assert page.status_code == 200, page.text
        await self.bus.wait_event("identity.instance.member_joined",
                                  where=lambda e: e.instanceid == instance_id and e.data["user_id"] == user_id)
        await self.seats_has_member(instance_id, user_id)

    async def seats_has_member(self, instance_id: str, user_id: str, timeout: float = 30) -> None:
        """Until seats' copy of the roster has the user in the instance (its entitlements stop
        saying `not_a_member`): seats learns of a join from identity's event, which a purchase
        for the new member sent on another topic may overtake."""
        async def member() -> bool:
            return any(item["reason"] != "not_a_member" for item in (await self.entitlements(user_id, instance_id)).values())

        await self.until(member, timeout, lambda: f"seats never saw {user_id} join {instance_id}", every=0.1)

    async def entitlements(self, user_id: str, instance_id: str) -> dict[str, dict]:
        """What seats says the user may use in the instance, by item, as they read it themselves."""
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.get(f"{self.stack.http('seats')}/v1/entitlements", params={"instance_id": instance_id},
                                 headers=self.stack.auth.as_user(user_id))
        assert r.status_code == 200, r.text
        return {i["item"]: i for i in r.json()["items"]}

    # --- what comes back ---------------------------------------------------------------------

    async def answer(self, cmd: CloudEvent, type_: str, **kw) -> CloudEvent:
        return (await self.bus.wait_event(type_, correlationid=cmd.correlation, **kw))[0]

    async def rejected(self, cmd: CloudEvent, service: str = "identity") -> str:
        event = await self.answer(cmd, f"{service}.command.rejected")
        assert event.data["command_id"] == cmd.id
        return event.data["reason"]

    async def invitation(self, account_id: str, user_id: str, kind: str | None = None,
                         count: int = 1) -> CloudEvent:
        """The `count`-th invitation issued to the user (1 = the first)."""
        found = await self.bus.wait_event(
            "identity.invitation.issued", count=count,
            where=lambda e: e.accountid == account_id and e.data["user_id"] == user_id
            and (kind is None or e.data["kind"] == kind))
        return found[count - 1]

    def events(self, account_id: str, type_: str, user_id: str | None = None) -> list[CloudEvent]:
        return self.bus.events(lambda e: e.accountid == account_id and e.type == type_ and
                               (user_id is None or e.data.get("user_id") == user_id))

    async def status(self, account_id: str, user_id: str, want: str, timeout: float = 30) -> dict:
        """Poll identity's read endpoint until the member has status `want`."""
        member: dict | None = None

        async def reached() -> bool:
            nonlocal member
            member = next((m for m in await self.members(account_id) if m["user_id"] == user_id), None)
            return bool(member and member["status"] == want)

        await self.until(reached, timeout, lambda: f"{user_id} is {member and member['status']}, never {want}")
        assert member is not None
        return member

    async def until(self, reached: Callable[[], Awaitable[bool]], timeout: float, failure: Callable[[], str],
                    every: float = 0.2) -> None:
        """Poll a read endpoint through `reached` until it says yes, or fail with `failure()`."""
        deadline = time.monotonic() + timeout
        while not await reached():
            if time.monotonic() > deadline:
                raise AssertionError(failure())
            await asyncio.sleep(every)

    async def members(self, account_id: str) -> list[dict]:
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.get(f"{self.stack.http('identity')}/v1/accounts", params={"account_id": account_id},
                                 headers=self.stack.auth.as_operator())
        return r.json().get("members", []) if r.status_code == 200 else []

    async def seats(self, account_id: str) -> dict:
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.get(f"{self.stack.http('seats')}/v1/seats", params={"account_id": account_id},
                                 headers=self.stack.auth.as_operator())
        assert r.status_code == 200, r.text
        return r.json()

    async def click(self, url: str) -> httpx.Response:
        """What a person does with an invitation link: open it, then confirm on the page it shows.
        Returns the confirmation's answer (or the page, when it offers nothing to confirm)."""
        async with httpx.AsyncClient(timeout=10) as client:
            page, confirmed = await people.accept(client, url)
        return confirmed or page


@pytest.fixture
def platform(stack, bus) -> Platform:
    return Platform(stack, bus)


@pytest.fixture
def new_account_id():
    return lambda: "acc_" + uuid.uuid4().hex[:12]

"""`make demo`: the agent opt-in story on the live stack, printed as readable lines.

An Enterprise account with 2 seats and opt-in enabled invites 3 agents by opt-in; they accept
by clicking their links; the third finds no free seat and the account is upgraded by one seat
with a pro-rated charge. One agent completes onboarding; one is deactivated and reactivated.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

import httpx
from rich.console import Console

from crm_contracts import identity, seats

from .bus import Bus
from crm_cli.lines import describe_record
from .stack import Stack

console = Console(highlight=False, soft_wrap=True)


class Story:
    def __init__(self, stack: Stack, bus: Bus) -> None:
        self.stack = stack
        self.bus = bus
        run = uuid.uuid4().hex[:6]
        self.account = "acc_demo_" + run
        # People of this run only: user ids are global (notifications counts a person's unread
        # items across every instance), so a second run must not meet the first run's Olive.
        self.user = {name: f"{name}_{run}" for name in ("olive", "ana", "ben", "cy")}
        self._shown = 0

    def show(self) -> None:
        for record in self.bus.records[self._shown:]:
            arrow = "→" if record.topic.endswith("commands.v1") else "←"
            style = "cyan" if arrow == "→" else ("red" if "rejected" in record.topic or
                                                  record.topic.endswith(".dlq") else "green")
            console.print(f"[{style}]{arrow} {describe_record(record)}[/]")
        self._shown = len(self.bus.records)

    async def step(self, title: str, data, wait_for: str, count: int = 1, **where) -> list:
        console.rule(f"[bold]{title}")
        cmd = await self.bus.command(data, accountid=self.account)
        events = await self.bus.wait_event(wait_for, correlationid=cmd.correlation, count=count, timeout=30)
        await asyncio.sleep(0.3)  # let the rest of the answer arrive before printing
        self.show()
        return events

    async def run(self) -> None:
        acc = self.account
        await self.step(f"Create Enterprise account {acc}", identity.CreateAccount(
            account_id=acc, name="Harbor Realty", tier="enterprise",
            owner={"user_id": self.user["olive"], "email": "olive@example.com", "first_name": "Olive", "last_name": "Owner"}),
            "identity.account.created")
        await self.step("Billing sets 2 seats at $49.00", seats.SetSubscription(
            seats_total=2, seat_price_cents=4900, currency="USD", period_start="2026-11-01",
            period_end="2026-12-01"), "seats.subscription.changed")
        await self.step("Support enables agent opt-in", identity.SetOptIn(enabled=True),
                        "identity.account.opt_in_changed")
        links = {}
        for user, first in (("ana", "Ana"), ("ben", "Ben"), ("cy", "Cy")):
            [inv] = await self.step(f"Invite {first} by opt-in", identity.AddMember(
                user_id=self.user[user], email=f"{user}@example.com", first_name=first, last_name="Agent",
                user_type="platform", activation="opt_in", role="agent", group_id=None),
                "identity.invitation.issued")
            links[user] = inv.data["accept_url"]
        async with httpx.AsyncClient(timeout=10) as client:
            for user in links:
                console.rule(f"[bold]{user} clicks the link in the e-mail")
                page = await client.get(links[user])
                console.print(f"  GET {links[user][:60]}… → {page.status_code}")
                [reserved] = await self.bus.wait_event(
                    "seats.seat.reserved", timeout=30,
                    where=lambda e, u=user: e.accountid == acc and e.data["user_id"] == self.user[u])
                self.last_acceptance = reserved.correlationid
                await asyncio.sleep(0.5)
                self.show()
        await self.step("Ana completes onboarding", identity.CompleteOnboarding(user_id=self.user["ana"]),
                        "identity.member.status_changed")
        await self.step("Ben is deactivated", identity.DeactivateMember(user_id=self.user["ben"]), "seats.seat.released")
        await self.step("Ben is reactivated (opt-in again)", identity.ReactivateMember(user_id=self.user["ben"]),
                        "identity.invitation.issued")
        async with httpx.AsyncClient(timeout=5) as client:
            ledger = (await client.get(f"{self.stack.http('seats')}/v1/seats", params={"account_id": acc})).json()
        s = ledger["summary"]
        console.rule("[bold]Seat summary")
        console.print(f"  total {s['seats_total']}  used {s['seats_used']}  pending opt-in "
                      f"{s['seats_pending_opt_in']}  available {s['seats_available']}  "
                      f"charges {[c['amount_cents'] for c in ledger['charges']]}")
        console.rule("[bold]The last acceptance, traced: crm trace " + str(self.last_acceptance))
        await self.stack.settled()
        trace = await asyncio.create_subprocess_exec(sys.executable, "-m", "crm_cli.main", "trace",
                                                     str(self.last_acceptance), "--since", "10m",
                                                     "-b", self.stack.bootstrap)
        await trace.wait()


async def main() -> None:
    stack = Stack()
    bus = Bus(stack.bootstrap, source="demo")
    await bus.start()
    try:
        await Story(stack, bus).run()
    finally:
        await bus.stop()


def run() -> None:
    asyncio.run(main())

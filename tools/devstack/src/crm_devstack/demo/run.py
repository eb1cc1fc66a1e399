"""`make demo`: the agent opt-in story on the live stack, printed as readable lines.

An Enterprise account with 2 seats and opt-in enabled (its owner previews the opt-in e-mail)
invites 3 agents by opt-in; they accept by clicking their links; the third finds no free seat and
the account is upgraded by one seat with a pro-rated charge. One agent completes onboarding; one
is deactivated and reactivated.

Then the private-instance story: Ana buys a `crm_idx_team` instance, renames it, invites two
colleagues from other offices (their e-mails land in the Maildir), one accepts; an API key is
issued and revoked; a calling package and an add-on are bought; and what the owner and the
colleague may use in each of their instances is printed with the reasons.

Last, routing: a dry run of the team's rules that the live lead after it agrees with; leads from
the team's website, parsing address, API key and Zillow reach it, and leads from Harbor Realty's
own website and parsing address reach the Enterprise instance; round robin and first-to-claim
give them out; the team sets its own pipeline, moves and tags a lead and saves a segment; its
Open API key reads and updates its leads but cannot see Harbor Realty's; an unclaimed Zillow
lead's timer sends it to the pond; a lead is transferred to the Enterprise instance; every
decision prints its explanation; Dee's notifications are shown as seen from each instance.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from email import policy
from email.parser import BytesParser

import httpx
from crm_contracts import CloudEvent, identity, seats

from .. import dates, people
from ..bus import Bus
from ..stack import Stack, current
from .billing import BillingChapter
from .routing import RoutingChapter
from .scenes import answered, console


class Story(BillingChapter, RoutingChapter):
    """The whole story, chapter after chapter, on one account and its people."""

    def __init__(self, stack: Stack, bus: Bus) -> None:
        self.stack = stack
        self.bus = bus
        run = uuid.uuid4().hex[:6]
        self.account = "acc_demo_" + run
        # People of this run only: user ids are global (notifications counts a person's unread
        # items across every instance), so a second run must not meet the first run's Olive.
        self.user = {name: f"{name}_{run}" for name in ("olive", "ana", "ben", "cy", "dee", "eli")}
        self._shown = 0
        # Billed monthly from the 15th two months ago: that first period is over, so seats renews
        # it at once and prices today's purchases in the period containing today.
        first = dates.month_start(dates.today(), -2).replace(day=15)
        self.plan = {"period_start": first.isoformat(),
                     "period_end": dates.month_start(dates.today(), -1).replace(day=15).isoformat()}

    async def quote(self, who: str, item: str) -> dict:
        """Ask seats what `item` costs today, as `who`, and print it."""
        async with httpx.AsyncClient(timeout=5) as client:
            q = (await client.get(f"{self.stack.http('seats')}/v1/quotes", params={"account_id": self.account,
                                  "item": item}, headers=self.stack.auth.as_user(self.user[who]))).json()
        console.print(f"  [yellow]quote for {who}: {item} today costs {q['amount_cents'] / 100:.2f} {q['currency']} "
                      f"= {q['unit_price_cents'] / 100:.2f} × {q['days_remaining']}/{q['days_in_period']} days "
                      f"of {q['period_start']}..{q['period_end']}[/]")
        return q

    def charged(self, quoted: dict, charge: CloudEvent) -> None:
        same = "equal to its quote" if charge.data["amount_cents"] == quoted["amount_cents"] else "[red]NOT its quote[/]"
        console.print(f"  [yellow]charged {charge.data['amount_cents'] / 100:.2f} {charge.data['currency']}, {same}[/]")

    async def run(self) -> None:
        acc = self.account
        await self.step(f"Create Enterprise account {acc}", identity.CreateAccount(
            account_id=acc, name="Harbor Realty", tier="enterprise",
            owner={"user_id": self.user["olive"], "email": "olive@example.com", "first_name": "Olive", "last_name": "Owner"}),
            "identity.account.created")
        await self.step(f"Billing sets 3 seats at $49.00 a month from {self.plan['period_start']} (renewed since); "
                        "Olive, the owner, sits in one of them",
                        seats.SetSubscription(seats_total=3, seat_price_cents=4900, currency="USD", **self.plan),
                        "seats.seat.reserved")
        await self.step("Support enables agent opt-in", identity.SetOptIn(enabled=True),
                        "identity.account.opt_in_changed")
        await self.stack.settled()
        async with httpx.AsyncClient(timeout=5) as client:
            shown = (await client.get(f"{self.stack.http('notifications')}/v1/templates/opt_in_invitation/preview",
                                      params={"account_id": acc}, headers=self.stack.auth.as_user(self.user["olive"]))).json()
        console.rule("[bold]Olive previews the opt-in e-mail (GET :8003/v1/templates/opt_in_invitation/preview)")
        console.print(f"  subject: {shown['subject']}")
        console.print(f"  body:    {shown['html'][:110]}…")
        links = {}
        for user, first in (("ana", "Ana"), ("ben", "Ben"), ("cy", "Cy")):
            [inv] = await self.step(f"Invite {first} by opt-in", identity.AddMember(
                user_id=self.user[user], email=f"{user}@example.com", first_name=first, last_name="Agent",
                user_type="platform", activation="opt_in", role="agent", group_id=None,
                by_user_id=self.user["olive"]), "identity.invitation.issued")
            links[user] = self.stack.auth.invitation_link(inv)
        async with httpx.AsyncClient(timeout=10) as client:
            for user in links:
                console.rule(f"[bold]{user} clicks the link in the e-mail")
                if user == "cy":  # Olive's, Ana's and Ben's: every seat is taken, this acceptance buys one
                    quoted = await self.quote("olive", "seat")
                page, confirmed = await people.accept(client, links[user])
                console.print(f"  GET {links[user][:60]}… → {page.status_code} (a page asking to confirm); "
                              f"POST confirm → {answered(confirmed)}")
                def seat_of(e: CloudEvent, seated: str = self.user[user]) -> bool:
                    return e.accountid == acc and e.data["user_id"] == seated
                [reserved] = await self.bus.wait_event("seats.seat.reserved", timeout=30, where=seat_of)
                self.last_acceptance = reserved.correlationid
                await asyncio.sleep(0.5)
                self.show()
                if user == "cy":
                    self.charged(quoted, (await self.bus.wait_event(
                        "seats.charge.created", correlationid=reserved.correlationid))[0])
        await self.step("Ana completes onboarding", identity.CompleteOnboarding(user_id=self.user["ana"]),
                        "identity.member.status_changed")
        await self.step("Ben is deactivated", identity.DeactivateMember(
            user_id=self.user["ben"], by_user_id=self.user["olive"]), "seats.seat.released")
        await self.refused_while_deactivated()
        await self.step("Ben is reactivated (opt-in again)", identity.ReactivateMember(
            user_id=self.user["ben"], by_user_id=self.user["olive"]),
                        "identity.invitation.issued")
        await self.private_instance()
        await self.routing()
        async with httpx.AsyncClient(timeout=5) as client:
            # The account's owner reads its seats with her own token.
            ledger = (await client.get(f"{self.stack.http('seats')}/v1/seats", params={"account_id": acc},
                                       headers=self.stack.auth.as_user(self.user["olive"]))).json()
        s = ledger["summary"]
        console.rule("[bold]Seat summary")
        console.print(f"  total {s['seats_total']}  used {s['seats_used']}  pending opt-in "
                      f"{s['seats_pending_opt_in']}  available {s['seats_available']}  "
                      f"charges {[c['amount_cents'] for c in ledger['charges']]}")
        console.print("  holders: " + ", ".join(h["user_id"] + (" (the account owner)" if h["account_owner"] else "")
                                                for h in ledger["holders"]))
        await self.billing()
        console.rule("[bold]The last acceptance, traced: crm trace " + str(self.last_acceptance))
        await self.stack.settled()
        trace = await asyncio.create_subprocess_exec(sys.executable, "-m", "crm_cli.main", "trace",
                                                     str(self.last_acceptance), "--since", "10m",
                                                     "-b", self.stack.bootstrap, env=self.stack.kafka.cli_env())
        await trace.wait()

    async def refused_while_deactivated(self) -> None:
        """docs/permissions.md: a deactivated member's token still verifies, but opens nothing."""
        await self.stack.settled()
        enterprise = next(e.data for e in self.bus.events(
            lambda e: e.type == "identity.account.created" and e.accountid == self.account))["enterprise_instance_id"]
        console.rule("[bold]Ben's token still verifies, but a deactivated member opens nothing (docs/permissions.md)")
        async with httpx.AsyncClient(timeout=5) as client:
            for service, path in (("routing", f"/v1/instances/{enterprise}/leads"),
                                  ("notifications", "/v1/notifications")):
                r = await client.get(self.stack.http(service) + path, headers=self.stack.auth.as_user(self.user["ben"]))
                console.print(f"  Ben's token on GET {path.replace(enterprise, '{enterprise}')} → "
                              f"{r.status_code} {r.json().get('error')}")

    async def private_instance(self) -> None:
        u = self.user
        await self.step("Billing raises the account to 6 seats", seats.SetSubscription(
            seats_total=6, seat_price_cents=4900, currency="USD", **self.plan), "seats.subscription.changed")
        for group, name in (("north", "North office"), ("south", "South office")):
            await self.step(f"Create group {name}", identity.CreateGroup(group_id=group, name=name,
                                                                        parent_group_id=None), "identity.group.created")
        for user, first in (("dee", "Dee"), ("eli", "Eli")):
            await self.step(f"Add {first} to the South office, activated at once", identity.AddMember(
                user_id=u[user], email=f"{user}@example.com", first_name=first, last_name="Agent",
                user_type="platform", activation="immediate", role="agent", group_id="south",
                by_user_id=u["olive"]), "identity.invitation.issued")
            await self.step(f"{first} completes onboarding", identity.CompleteOnboarding(user_id=u[user]),
                            "identity.member.status_changed")
        console.rule("[bold]Ana asks what a private crm_idx_team instance costs")
        quoted = await self.quote("ana", "package:crm_idx_team")
        [created] = await self.step("Ana buys a private instance (crm_idx_team, with the SFAR MLS)",
                                    identity.PurchaseInstance(buyer_user_id=u["ana"], package="crm_idx_team",
                                                              name="Ana's team", mls_id="SFAR"), "seats.charge.created")
        self.charged(quoted, created)
        team = created.data["instance_id"]
        self.team = next(e.data for e in self.bus.events(
            lambda e: e.type == "identity.instance.created" and e.data["instance_id"] == team))
        await self.step("Ana renames it", identity.RenameInstance(instance_id=team, name="Harbor North Team",
                                                                  by_user_id=u["ana"]), "identity.instance.renamed")
        links = {}
        for user, role in (("dee", "lead_manager"), ("eli", "agent")):
            [sent] = await self.step(f"Ana invites {user} as {role}", identity.InviteToInstance(
                instance_id=team, user_id=u[user], role=role, by_user_id=u["ana"]), "notifications.email.sent")
            # The token is sealed to notifications on the topic; the link exists only in the e-mail.
            links[user] = people.link_in_mail(self.stack.mail.maildir, f"{user}@example.com")
        self.links = links
        console.rule("[bold]The invitations in the Maildir (the only place their links exist)")
        for path in sorted((self.stack.mail.maildir / "new").iterdir(), key=lambda p: p.stat().st_mtime)[-2:]:
            mail = BytesParser(policy=policy.default).parse(path.open("rb"), headersonly=True)
            console.print(f"  {path.name[:24]}…  To: {mail['To']}  Subject: {mail['Subject']}")
        async with httpx.AsyncClient(timeout=10) as client:
            console.rule("[bold]Dee clicks the link in the e-mail")
            page, confirmed = await people.accept(client, links["dee"])
            console.print(f"  GET {links['dee'][:60]}… → {page.status_code}; POST confirm → {answered(confirmed)}")
            await self.bus.wait_event("identity.instance.member_joined", timeout=30,
                                      where=lambda e: e.instanceid == team and e.data["user_id"] == u["dee"])
            await asyncio.sleep(0.3)
            self.show()
            mine = (await client.get(f"{self.stack.http('identity')}/v1/instances",
                                     headers=self.stack.auth.as_user(u["dee"]))).json()["instances"]
            console.print("  Dee's instances: " + "; ".join(
                f"{i['name']} as {i['role']} (captures leads at {i['capture_email']})" for i in mine))
            console.rule("[bold]Ana issues an API key for the website form (POST /v1/instances/…/api-keys)")
            keys = f"{self.stack.http('identity')}/v1/instances/{team}/api-keys"
            ana = self.stack.auth.as_user(u["ana"])
            refused = await client.post(keys, json={"name": "mine now"}, headers=self.stack.auth.as_user(u["dee"]))
            console.print(f"  Dee tries first, with her own token → {refused.status_code} {refused.json()['error']}")
            issued = (await client.post(keys, json={"name": "website form"}, headers=ana)).json()
            console.print(f"  201 key {issued['key']} — shown this once; only its SHA-256 is kept")
            await self.bus.wait_event("identity.api_key.issued", where=lambda e: e.data["key_id"] == issued["key_id"])
            await asyncio.sleep(0.3)
            self.show()
            console.rule("[bold]… and revokes it")
            r = await client.delete(f"{keys}/{issued['key_id']}", headers=ana)
            console.print(f"  DELETE → {r.status_code}")
            listed = (await client.get(keys, headers=ana)).json()["keys"]
            console.print("  " + "; ".join(f"{k['name']} …{k['last_four']} revoked={k['revoked']}" for k in listed))
        await self.step("Ana buys a calling package for Dee on the team (a company number)",
                        seats.PurchaseCallingPackage(package_id="calling_pro", buyer_user_id=u["ana"],
                                                     assigned_user_id=u["dee"], instance_id=team,
                                                     number_kind="company"), "seats.calling_package.purchased")
        await self.step("Ana buys the CMA add-on for the team", seats.PurchaseAddon(
            instance_id=team, addon="cma", buyer_user_id=u["ana"]), "seats.addon.purchased")
        await self.step("Dee connects Gmail (an integration: hers, on every instance)",
                        seats.ConnectIntegration(user_id=u["dee"], integration="gmail"), "seats.integration.changed")
        await self.stack.settled()
        self.opened = next(e.data for e in self.bus.events(
            lambda e: e.type == "identity.account.created" and e.accountid == self.account))
        self.enterprise = enterprise = self.opened["enterprise_instance_id"]
        async with httpx.AsyncClient(timeout=5) as client:
            for user in ("ana", "dee"):
                for name, instance in (("Harbor Realty (Enterprise)", enterprise), ("Harbor North Team", team)):
                    r = (await client.get(f"{self.stack.http('seats')}/v1/entitlements",
                                          params={"instance_id": instance}, headers=self.stack.auth.as_user(u[user]))).json()
                    console.rule(f"[bold]What {user} may use in {name}")
                    for item in r["items"]:
                        if item["available"] or item["kind"] in ("calling_package", "number"):
                            mark = "[green]✓[/]" if item["available"] else "[red]✗[/]"
                            console.print(f"  {mark} {item['item']:<28} {item['reason']}: {item['detail']}")
                    console.print(f"  [dim]{sum(not i['available'] for i in r['items'])} more not available[/]")

async def main() -> None:
    stack = current()
    bus = Bus(stack.kafka.args(), source="demo")
    await bus.start()
    try:
        await Story(stack, bus).run()
    finally:
        await bus.stop()


def run() -> None:
    asyncio.run(main())

"""The demo's billing chapter: this period's invoices, a reduction of seats and an add-on cancelled
for the next renewal, and the next invoice they make."""

from __future__ import annotations

import httpx
from crm_contracts import seats

from .scenes import Scenes, console


class BillingChapter(Scenes):
    async def billing(self) -> None:
        """This period's invoice, and a reduction of seats scheduled for the next renewal."""
        async with httpx.AsyncClient(timeout=5) as client:
            bills = (await client.get(f"{self.stack.http('seats')}/v1/invoices", params={"account_id": self.account},
                                      headers=self.stack.auth.as_user(self.user["olive"]))).json()
        for bill in bills["invoices"]:
            console.rule(f"[bold]Invoice {bill['period_start']}..{bill['period_end']} ({bill['currency']})")
            r = bill["recurring"]
            console.print(f"  {r['quantity']} seats × {r['unit_price_cents'] / 100:.2f} = {r['amount_cents'] / 100:.2f}")
            for c in bill["charges"]:
                console.print(f"  {c['charged_on']}  {c['item']:<24} {c['amount_cents'] / 100:>8.2f}")
            console.print(f"  total {bill['total_cents'] / 100:.2f}")
        await self.step("Billing schedules 5 seats from the next renewal",
                        seats.ScheduleReduction(seats_total=5), "seats.subscription.reduction_scheduled")
        [stopped] = await self.step("Ana cancels the CMA add-on: it runs to the end of this period, then stops",
                                    seats.CancelAddon(instance_id=self.team["instance_id"], addon="cma",
                                                      by_user_id=self.user["ana"]), "seats.addon.cancelled")
        console.print(f"  [yellow]addon:cma ends on {stopped.data['ends_on']}; not renewed after[/]")
        async with httpx.AsyncClient(timeout=5) as client:
            ahead = (await client.get(f"{self.stack.http('seats')}/v1/invoices", params={"account_id": self.account},
                                      headers=self.stack.auth.as_user(self.user["olive"]))).json()["upcoming"]
        console.rule(f"[bold]Next invoice {ahead['period_start']}..{ahead['period_end']}: the reduced seats, and "
                     f"every package, add-on and calling package renewed in full")
        r = ahead["recurring"]
        console.print(f"  {r['quantity']} seats × {r['unit_price_cents'] / 100:.2f} = {r['amount_cents'] / 100:.2f}")
        for line in ahead["renewals"]:
            console.print(f"  renews  {line['item']:<24} {line['user_id']:<14} {line['amount_cents'] / 100:>8.2f}")
        console.print(f"  total {ahead['total_cents'] / 100:.2f}")

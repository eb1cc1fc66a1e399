"""The routing chapter of `make demo`: leads from each channel land in their instance, rotations
and claims give them out, a timer sends one to the pond, one is transferred; every decision is
printed with its explanation."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import httpx
from crm_contracts import CloudEvent, leads, organisation, routing

from .. import people
from .scenes import Scenes, console


class RoutingChapter(Scenes):
    """Mixed into `demo.Story`, whose stack, bus and accounts it uses."""

    async def lead(self, title: str, channel: str, lead: dict, **target) -> CloudEvent:
        """Capture a lead as its channel would; print the decision and its explanation."""
        console.rule(f"[bold]{title}")
        lead_id = "lead_" + uuid.uuid4().hex[:10]
        await self.bus.command(leads.LeadCaptured(lead_id=lead_id, channel=channel, lead=lead, **target),
                               accountid=self.account, instanceid=target.get("instance_id"))
        [decided] = await self.bus.wait_for(lambda r: r.event is not None and r.event.data.get("lead_id") == lead_id
                                            and r.event.type in DECISIONS, timeout=30)
        await asyncio.sleep(0.3)
        self.show()
        explain(decided.event)
        return decided.event

    async def routing(self) -> None:
        u, team = self.user, self.team["instance_id"]
        async with httpx.AsyncClient(timeout=10) as client:
            console.rule("[bold]Eli clicks his invitation too")
            await people.accept(client, self.links["eli"])
            await self.bus.wait_event("identity.instance.member_joined", timeout=30,
                                      where=lambda e: e.instanceid == team and e.data["user_id"] == u["eli"])
            self.show()
            keys = f"{self.stack.http('identity')}/v1/instances/{team}/api-keys"
            key = (await client.post(keys, json={"name": "open api"}, headers=self.stack.auth.as_user(u["ana"]))).json()["key"]
            console.print(f"  a new API key for the Open API: {key[:9]}…")
        await self.step("Ana sets the team's routing rules (version 1)", routing.SetRules(
            instance_id=team, version=1, rules=[
                {"id": "hot", "when": {"tags_any": ["hot"]},
                 "steps": [{"strategy": "first_to_claim", "claim_within_s": 30}]},
                {"id": "zillow", "when": {"channel": ["zillow"]},
                 "steps": [{"strategy": "specific_agent", "agent": u["dee"], "claim_within_s": 2}]},
                {"id": "everyone", "steps": [{"strategy": "round_robin"}]}], by_user_id=u["ana"]),
            "routing.rules.changed")
        await self.step("Dee sends her Zillow leads to the team", routing.SetZillowTarget(
            user_id=u["dee"], instance_id=team), "routing.zillow_target.changed")
        await self.stack.settled()
        wes = {"first_name": "Wes", "zip": "94110"}
        async with httpx.AsyncClient(timeout=10) as client:
            dry = (await client.post(f"{self.stack.http('routing')}/v1/instances/{team}/rules/dry-run",
                                     json={"lead": wes, "channel": "website"},
                                     headers=self.stack.auth.as_user(u["ana"]))).json()
        console.rule("[bold]Ana tries the rules on a lead first (POST :8004/v1/instances/…/rules/dry-run)")
        console.print(f"  dry run: {dry['event']['type']} to {dry['user_id']} by rule "
                      f"{dry['event']['data']['rule_id']} (rules v{dry['rules_version']}); nothing published")
        live = await self.lead("A lead from the team's website", "website", wes, website_id=self.team["website_id"])
        console.print(f"  the live lead went to {live.data.get('user_id')}: "
                      + ("as the dry run said" if live.data.get("user_id") == dry["user_id"] else "NOT as the dry run said"))
        moved = await self.lead("A lead e-mailed to the team's parsing address", "parsing_email",
                                {"first_name": "Pam", "zip": "94107"}, parsing_email=self.team["parsing_email"])
        # The Open API gateway puts the key's SHA-256 on the topic, never the key.
        await self.lead("A lead through the Open API with the team's key", "open_api", {"first_name": "Otto"},
                        api_key_sha256=hashlib.sha256(key.encode()).hexdigest())
        # Harbor Realty's own (Enterprise) instance captures like any other: its website, its
        # parsing address and every member's own capture address in it.
        theirs = await self.lead("A lead from Harbor Realty's own website: into the Enterprise instance", "website",
                                 {"first_name": "Ria", "zip": "94115"}, website_id=self.opened["website_id"])
        await self.lead("A lead e-mailed to Harbor Realty's parsing address: into the Enterprise instance",
                        "parsing_email", {"first_name": "Ed", "zip": "94118"},
                        parsing_email=self.opened["parsing_email"])
        hot = await self.lead("A hot lead: offered to everyone, first to claim wins", "manual",
                              {"first_name": "Hana", "tags": ["hot"]}, instance_id=team)
        await self.step("Eli claims the hot lead", routing.ClaimLead(lead_id=hot.data["lead_id"], user_id=u["eli"]),
                        "routing.lead.claimed")
        await self.step("Dee claims it too, a moment later", routing.ClaimLead(
            lead_id=hot.data["lead_id"], user_id=u["dee"]), "routing.command.rejected")
        await self.organise(hot.data["lead_id"])
        await self.open_api(key, hot.data["lead_id"], theirs.data["lead_id"])
        zillow = await self.lead("A Zillow lead for Dee: hers to claim within 2 s", "zillow",
                                 {"first_name": "Zoe", "price": 850_000}, user_id=u["dee"])
        console.rule("[bold]Dee does not claim it; its timer passes it to the pond")
        [pooled] = await self.bus.wait_event("routing.lead.pooled", timeout=30,
                                             where=lambda e: e.data["lead_id"] == zillow.data["lead_id"])
        self.show()
        explain(pooled)
        [transferred] = await self.step(
            "Dee moves the e-mailed lead to Harbor Realty, where she also works",
            routing.TransferLead(lead_id=moved.data["lead_id"], to_instance_id=self.enterprise, by_user_id=u["dee"]),
            "routing.lead.assigned")
        explain(transferred)
        async with httpx.AsyncClient(timeout=5) as client:
            history = (await client.get(f"{self.stack.http('routing')}/v1/leads/{moved.data['lead_id']}",
                                        headers=self.stack.auth.as_user(u["dee"]))).json()
        console.rule("[bold]That lead's routing history (GET :8004/v1/leads/…)")
        for h in history["history"]:
            console.print(f"  {h['at'][11:23]}  {h['type']:<28} in {h['instance_id']}")
        await self.stack.settled()
        async with httpx.AsyncClient(timeout=5) as client:
            for name, instance in (("the team", self.team["instance_id"]), ("Harbor Realty", self.enterprise)):
                seen = (await client.get(f"{self.stack.http('notifications')}/v1/notifications",
                                         params={"instance_id": instance},
                                         headers=self.stack.auth.as_user(u["dee"]))).json()
                console.rule(f"[bold]Dee's notifications, signed into {name} (GET :8003/v1/notifications?instance_id=…)")
                for item in seen["items"][:3]:
                    console.print(f"  {item['title']} → {item['destination']['path']} ({item['source']})")
                for other in seen["elsewhere"]:
                    console.print(f"  elsewhere: {other['instance_name']}: {other['unread']} unread (details there)")


    async def organise(self, hot_lead: str) -> None:
        """The team's own lead organisation: its pipeline, a lead moved along it, a segment."""
        u, team = self.user, self.team["instance_id"]
        await self.step("Ana gives the team its own pipeline (Harbor Realty's stays as it is)", organisation.SetPipeline(
            instance_id=team, by_user_id=u["ana"], stages=[
                {"stage_id": "new", "name": "New"}, {"stage_id": "showing", "name": "Showing booked"},
                {"stage_id": "offer", "name": "Offer made"}, {"stage_id": "closed", "name": "Closed"}]),
            "routing.pipeline.changed")
        await self.step("Eli moves his hot lead to 'Showing booked'", organisation.MoveLeadStage(
            lead_id=hot_lead, stage_id="showing", by_user_id=u["eli"]), "routing.lead.stage_changed")
        await self.step("Eli tags it 'vip'", organisation.TagLead(lead_id=hot_lead, add=["vip"], by_user_id=u["eli"]),
                        "routing.lead.tags_changed")
        await self.step("Ana saves a segment: hot or vip leads", organisation.SetSegment(
            instance_id=team, segment_id="hot_or_vip", name="Hot or VIP", by_user_id=u["ana"],
            filter={"tags_any": ["hot", "vip"]}), "routing.segment.changed")
        base = f"{self.stack.http('routing')}/v1/instances"
        async with httpx.AsyncClient(timeout=5) as client:
            ana = self.stack.auth.as_user(u["ana"])
            stages = (await client.get(f"{base}/{team}/pipeline", headers=ana)).json()["stages"]
            theirs = (await client.get(f"{base}/{self.enterprise}/pipeline",
                                       headers=self.stack.auth.as_user(u["dee"]))).json()["stages"]
            found = (await client.get(f"{base}/{team}/segments/hot_or_vip/leads", headers=ana)).json()["leads"]
        console.rule("[bold]The team's pipeline and segment (GET :8004/v1/instances/…/pipeline, …/segments/…/leads)")
        console.print("  team:          " + " → ".join(f"{s['name']} ({s['leads']})" for s in stages))
        console.print("  Harbor Realty: " + " → ".join(f"{s['name']} ({s['leads']})" for s in theirs))
        for lead in found:
            console.print(f"  in 'Hot or VIP': {lead['lead_id']} {lead['lead'].get('first_name')} "
                          f"stage={lead['stage_id']} tags={','.join(lead['tags'])}")


    async def open_api(self, key: str, ours: str, theirs: str) -> None:
        """The team's Open API key reads and updates the team's leads and cannot see Harbor Realty's."""
        base, auth = f"{self.stack.http('routing')}/v1/open/leads", {"Authorization": f"Bearer {key[:9]}…"}
        headers = {"Authorization": f"Bearer {key}"}
        console.rule("[bold]An outside CRM sync uses the team's Open API key (GET/PATCH :8004/v1/open/leads)")
        async with httpx.AsyncClient(timeout=5) as client:
            listed = (await client.get(base, params={"limit": 3}, headers=headers)).json()
            console.print(f"  GET /v1/open/leads?limit=3 ({auth['Authorization']}) → "
                          + ", ".join(f"{x['lead']['first_name']} ({x['stage_id']})" for x in listed["leads"]))
            changed = await client.patch(f"{base}/{ours}", headers=headers,
                                         json={"stage_id": "offer", "contact": {"phone": "+15550142"}})
            console.print(f"  PATCH {ours} {{stage_id: offer, phone}} → {changed.status_code}: "
                          f"stage {changed.json()['stage_id']}, phone {changed.json()['lead']['phone']}")
            hidden = await client.get(f"{base}/{theirs}", headers=headers)
            console.print(f"  GET {theirs} (a Harbor Realty lead) → {hidden.status_code} {hidden.json()['error']}: "
                          "another instance's lead is as unknown as none")
        await asyncio.sleep(0.3)
        self.show()


DECISIONS = ("routing.lead.assigned", "routing.lead.offered", "routing.lead.pooled", "routing.lead.rejected")


def explain(event: CloudEvent) -> None:
    """A routing decision's explanation, as a person would want to read it."""
    x = event.data.get("explanation") or {}
    if target := x.get("target"):
        console.print(f"  why this instance: {target['why']}")
    for tried in x.get("rules_tried", []):
        mark = "[green]✓[/]" if tried["matched"] else "[dim]✗[/]"
        console.print(f"  {mark} rule {tried['rule_id']}: {'; '.join(tried['why'])}")
    for c in x.get("candidates", []):
        mark = "[green]eligible[/]" if c["eligible"] else "[red]not eligible[/]"
        console.print(f"    {c['user_id']:<14} {mark}: {c['why']}")
    chosen = x.get("chosen")
    if isinstance(chosen, dict):
        console.print(f"  → {chosen['user_id']}: {chosen.get('why', '')}")
    elif chosen:
        console.print(f"  → {chosen}")

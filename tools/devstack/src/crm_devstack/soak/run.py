"""`make soak`: a steady mixed load for `SOAK_MINUTES` (default 20), sampled every minute, to show
what weeks of running would grow: each process's memory and open files, each table's rows and
size, consumer lag, outbox backlog, and the latency of each flow.

Every second it starts `SOAK_ACCOUNTS_PER_S` account sagas (create, a two-seat subscription, opt-in
on, two members added at once, one by opt-in whose invitation is confirmed through the page — an
automatic upgrade), deactivates a member of an earlier account, buys a private instance for every
fifth account's owner (an IDX team whose rules offer each lead first-to-claim for three seconds, and
an Open API key issued over HTTP), and sends `SOAK_LEADS_PER_S` leads: manual and Zillow leads to
earlier accounts' Enterprise instances, website, parsing-address and Open API leads to the teams.
Half of the offered team leads are claimed by the owner; the others wait out their timer and go to
the pond. At the end the stack is drained and the promises of `make chaos` are checked
(every command answered once, one seat answer per member, no seat twice, one e-mail per
invitation, every outbox empty), then a verdict: RSS growth per hour, rows per table, p99 drift
(last five minutes against the first five, or the last and first minute of a short run). Figures
go to `.run/soak/soak-<time>.json` and a PNG with one panel per figure.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import Counter

import httpx
from crm_contracts import CloudEvent, command, identity, leads, routing
from rich.console import Console

from .. import people
from ..bus import Bus
from ..chaos.harness import Chaos, Wave, wave
from ..stack import SERVICES, Stack
from .figures import Readings, percentile, report, verdict

console = Console()
DECISIONS = ("routing.lead.assigned", "routing.lead.offered", "routing.lead.pooled", "routing.lead.rejected")
TEAM_RULES = [{"id": "soak", "steps": [{"strategy": "first_to_claim", "claim_within_s": 3}]}]


class Soak:
    def __init__(self, stack: Stack, bus: Bus, minutes: float, accounts_per_s: int, leads_per_s: int) -> None:
        self.stack, self.bus, self.chaos = stack, bus, Chaos(stack, bus)
        self.minutes, self.accounts_per_s, self.leads_per_s = minutes, accounts_per_s, leads_per_s
        self.waves: list[Wave] = []
        self.instances: list[tuple[str, str, str]] = []  # (account, enterprise instance, a member)
        self.sent: dict[str, tuple[str, float]] = {}  # command id -> (flow, perf_counter when sent)
        self.latency: dict[str, list[tuple[float, float]]] = {}  # flow -> (sent at, ms)
        self.samples: list[dict] = []
        self.clicked: dict[tuple[str, str], float] = {}  # (account, user) -> when the page was confirmed
        # Private teams ready for leads: (account, instance, owner, website id, parsing address, key hash).
        self.teams: list[tuple[str, str, str, str, str, str]] = []
        self.team_leads: dict[str, bool] = {}  # lead id -> whether its offer is claimed (else left to the pond)
        self.claimed: set[str] = set()
        self.readings = Readings(stack)
        self.started = time.perf_counter()

    # --- load -----------------------------------------------------------------------------------

    async def _send(self, cmd: CloudEvent, flow: str | None = None) -> None:
        if flow:
            self.sent[cmd.id] = (flow, time.perf_counter())
        await self.bus.send(cmd)

    async def tick(self, n: int) -> None:
        w = wave(f"soak{n}", self.accounts_per_s)
        self.waves.append(w)
        for cmd in w.commands:
            flow = {"identity.account.create": "create", "identity.member.add": "immediate_add"}.get(cmd.type)
            await self._send(cmd, flow)
        for acc in w.accounts:
            await self._send(command(identity.SetOptIn(enabled=True), source="soak", accountid=acc))
            opt_in = command(identity.AddMember(user_id=f"{acc}_x", email="x@example.com", first_name="X",
                                                last_name="Opt", user_type="platform", activation="opt_in",
                                                group_id=None, role="agent", by_user_id=f"{acc}_o"),
                             source="soak", accountid=acc)
            await self._send(opt_in)
        if n >= 10 and len(self.waves) > 10:  # accounts set up ten seconds ago
            old = self.waves[n - 10]
            acc = old.accounts[0]
            await self._send(command(identity.DeactivateMember(user_id=f"{acc}_m1", by_user_id=f"{acc}_o"), source="soak",
                                     accountid=acc))
            if n % 5 == 0:
                await self._send(command(identity.PurchaseInstance(buyer_user_id=f"{acc}_o", package="crm_idx_team",
                                                                   name="Soak team", mls_id="SFAR"),
                                         source="soak", accountid=acc))
            for create in old.commands[:: 5]:
                found = self.bus.first.get(("identity.account.created", create.id))
                if found is not None:
                    self.instances.append((create.accountid, found.data["enterprise_instance_id"],
                                           f"{create.accountid}_m0"))
        for i in range(self.leads_per_s if self.instances else 0):
            acc, instance, member = self.instances[(n * self.leads_per_s + i) % len(self.instances)]
            lead_id = "lead_soak_" + uuid.uuid4().hex[:12]
            target = ({"channel": "manual", "instance_id": instance} if i % 2 else
                      {"channel": "zillow", "user_id": member})
            await self._send(command(leads.LeadCaptured(lead_id=lead_id, lead={"first_name": "Soak"}, **target),
                                     source="soak", accountid=acc,
                                     instanceid=target.get("instance_id")), "lead")
        for i in range(self.leads_per_s // 3 if self.teams else 0):
            acc, instance, _, website_id, parsing_email, key_sha = self.teams[(n + i) % len(self.teams)]
            lead_id = "lead_soak_" + uuid.uuid4().hex[:12]
            target = [{"channel": "website", "website_id": website_id},
                      {"channel": "parsing_email", "parsing_email": parsing_email},
                      {"channel": "open_api", "api_key_sha256": key_sha}][(n + i) % 3]
            self.team_leads[lead_id] = i % 2 == 0
            await self._send(command(leads.LeadCaptured(lead_id=lead_id, lead={"first_name": "Team"}, **target),
                                     source="soak", accountid=acc, instanceid=instance), "team_lead")

    async def act_as_people(self) -> None:
        """What people do as events arrive (read from new records only): confirm their opt-in
        e-mail's link on the page (the seat each confirmation buys is timed from the click), give a
        new team rules and an Open API key, and claim every other lead offered to them."""
        cursor = 0
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                fresh, cursor = self.bus.records[cursor:], len(self.bus.records)
                for r in fresh:
                    e = r.event
                    if e is None:
                        continue
                    if e.type == "identity.instance.created" and e.source != "soak":
                        await self._team_created(client, e)
                    elif (e.type == "routing.lead.offered" and self.team_leads.get(e.data["lead_id"])
                          and e.data["lead_id"] not in self.claimed):
                        self.claimed.add(e.data["lead_id"])
                        await self._send(command(routing.ClaimLead(lead_id=e.data["lead_id"],
                                                                   user_id=e.data["user_ids"][0]),
                                                 source="soak", accountid=e.accountid), "claim")
                    elif e.type == "identity.invitation.issued" and e.data["kind"] == "opt_in":
                        clicked = time.perf_counter()
                        try:
                            await people.accept(client, self.stack.auth.invitation_link(e))
                            self.clicked[(e.accountid, e.data["user_id"])] = clicked
                        except httpx.HTTPError:
                            pass  # its seat will be missing from the invariants
                    elif e.type == "seats.seat.reserved" and e.data["auto_upgraded"]:
                        at = self.bus.arrivals.get((e.type, e.correlationid))
                        confirmed = self.clicked.pop((e.accountid, e.data["user_id"]), None)
                        if at is not None and confirmed is not None:
                            self.latency.setdefault("opt_in_confirmed", []).append((confirmed, (at - confirmed) * 1000))
                await asyncio.sleep(0.5)

    async def _team_created(self, client: httpx.AsyncClient, e: CloudEvent) -> None:
        if not e.accountid.startswith("acc_chaos_soak") or not e.data.get("website_id"):
            return
        owner, instance = e.data["owner_user_id"], e.data["instance_id"]
        rules = command(routing.SetRules(instance_id=instance, rules=TEAM_RULES, version=1, by_user_id=owner),
                        source="soak",
                        accountid=e.accountid, instanceid=instance)
        await self._send(rules)
        try:
            r = await client.post(f"{self.stack.http('identity')}/v1/instances/{instance}/api-keys",
                                  json={"name": "soak"}, headers=self.stack.auth.as_user(owner))
            r.raise_for_status()
        except httpx.HTTPError:
            return  # no leads for this team; the load goes to the others
        key_sha = hashlib.sha256(r.json()["key"].encode()).hexdigest()
        self.teams.append((e.accountid, instance, owner, e.data["website_id"], e.data["parsing_email"], key_sha))

    # --- figures ---------------------------------------------------------------------------------

    def collect_latency(self) -> None:
        answers = {"create": ("identity.account.created",),
                   "immediate_add": ("seats.seat.reserved", "seats.seat.denied"), "lead": DECISIONS,
                   "team_lead": DECISIONS, "claim": ("routing.lead.claimed",)}
        for cid, (flow, at) in list(self.sent.items()):
            arrived = [self.bus.arrivals[(t, cid)] for t in answers[flow] if (t, cid) in self.bus.arrivals]
            if arrived:
                self.latency.setdefault(flow, []).append((at, (min(arrived) - at) * 1000))
                del self.sent[cid]

    async def sample(self, minute: int) -> dict:
        self.collect_latency()
        since = self.started + (minute - 1) * 60
        flows = {flow: {"p50_ms": percentile([ms for at, ms in v if at >= since], 0.5),
                        "p99_ms": percentile([ms for at, ms in v if at >= since], 0.99),
                        "count": sum(1 for at, _ in v if at >= since)} for flow, v in self.latency.items()}
        return await self.readings.take(minute, flows)

    # --- the run ---------------------------------------------------------------------------------

    async def run(self) -> dict:
        people_task = asyncio.create_task(self.act_as_people())
        next_sample, n = self.started + 60, 0
        end = self.started + self.minutes * 60
        while time.perf_counter() < end:
            await self.tick(n)
            n += 1
            if time.perf_counter() >= next_sample:
                self.samples.append(await self.sample(len(self.samples) + 1))
                s = self.samples[-1]
                console.print(f"minute {s['minute']}: " + ", ".join(
                    f"{f} p99 {v['p99_ms']} ms ({v['count']})" for f, v in s["flows"].items()) + "; RSS " + ", ".join(
                    f"{k} {v['rss_mb']:.0f} MB" for k, v in s["processes"].items() if k in SERVICES)
                    + f"; machine busy {s['cpu'].get('machine_busy')}")
                next_sample += 60
            await asyncio.sleep(max(0.0, self.started + n - time.perf_counter()))
        if not self.samples or time.perf_counter() - (next_sample - 60) > 30:
            self.samples.append(await self.sample(len(self.samples) + 1))  # the load's last stretch
        console.print("load stopped; draining")
        await asyncio.sleep(10)  # the last invitations are confirmed
        people_task.cancel()
        await self.stack.settled(300)
        await self.chaos.deliveries_done(300)
        self.collect_latency()
        final = await self.sample(len(self.samples) + 1)
        return {"invariants": await self.invariants(), "samples": self.samples, "drained": final,
                "verdict": verdict(self.samples, list(self.latency), final)}

    async def invariants(self) -> dict:
        """`make chaos`'s promises over every account of the run. Charges are expected here (the
        opt-in acceptance upgrades, an instance is bought): each must match one upgrade or one
        instance, never two."""
        everything = Wave([a for w in self.waves for a in w.accounts],
                          [c for w in self.waves for c in w.commands], [c for w in self.waves for c in w.adds])
        checked = await self.chaos.check(everything)
        ledgers = await self.chaos._ledgers(everything.accounts)  # noqa: SLF001 - the same reading chaos does
        mine = set(everything.accounts)
        upgrades = Counter(e.accountid for e in self._distinct("seats.account.upgraded", mine))
        instances = Counter(e.accountid for e in self._distinct("identity.instance.created", mine))
        wrong = [acc for acc, body in ledgers.items()
                 if len(body["holders"]) != body["summary"]["seats_used"]
                 or body["summary"]["seats_used"] > body["summary"]["seats_total"]
                 or len({h["user_id"] for h in body["holders"]}) != len(body["holders"])
                 or len(body["charges"]) != upgrades[acc] + instances[acc]]
        checked["no_double_booking"] = {
            "ok": not wrong, "figure": {"ledgers_wrong": len(wrong), "upgrades": sum(upgrades.values()),
                                        "instances": sum(instances.values())},
            "says": "holders = used ≤ total; one charge per upgrade or instance"}
        confirmed = [e for e in self._distinct("seats.seat.reserved", mine) if e.data["auto_upgraded"]]
        checked["offers_end_once"] = self._offers_end_once()
        checked["opt_ins_seated"] = {"ok": len(confirmed) == sum(upgrades.values()),
                                     "figure": {"seated_by_upgrade": len(confirmed)},
                                     "says": "each upgrade seated the member who confirmed"}
        return checked

    def _offers_end_once(self) -> dict:
        """Every team lead offered ends exactly once: claimed if the owner claimed it, else pooled
        when its timer ran out."""
        ends: dict[str, Counter] = {}
        for type_ in ("routing.lead.offered", "routing.lead.claimed", "routing.lead.pooled"):
            def of_type(e: CloudEvent, t: str = type_) -> bool:
                return e.type == t and e.data.get("lead_id") in self.team_leads
            for e in {e.id: e for e in self.bus.events(of_type)}.values():
                ends.setdefault(e.data["lead_id"], Counter())[type_.rsplit(".", 1)[1]] += 1
        offered = {lid: c for lid, c in ends.items() if c["offered"]}
        wrong = [lid for lid, c in offered.items()
                 if (c["claimed"] != 1 or c["pooled"] > 1 if lid in self.claimed  # a late claim takes it from the pond
                     else (c["claimed"], c["pooled"]) != (0, 1))]
        return {"ok": bool(offered) and not wrong,
                "figure": {"offered": len(offered), "claimed": sum(c["claimed"] for c in offered.values()),
                           "pooled": sum(c["pooled"] for c in offered.values()), "wrong": len(wrong)},
                "says": "team leads offered: claimed once if claimed, else pooled once by the timer"}

    def _distinct(self, type_: str, accounts: set[str]) -> list[CloudEvent]:
        return list({e.id: e for e in self.bus.events(lambda e: e.type == type_ and e.accountid in accounts)}.values())

async def main(minutes: float, accounts_per_s: int, leads_per_s: int) -> int:
    stack = Stack()
    bus = Bus(stack.kafka.args(), source="soak")
    await bus.start()
    try:
        soak = Soak(stack, bus, minutes, accounts_per_s, leads_per_s)
        console.print(f"soak: {minutes:g} min, {accounts_per_s} account sagas/s, {leads_per_s} leads/s")
        result = await soak.run()
    finally:
        await bus.stop()
    return 0 if report(result, stack.run / "soak") else 1

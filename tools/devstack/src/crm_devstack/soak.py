"""`make soak`: a steady mixed load for `SOAK_MINUTES` (default 20), sampled every minute, to show
what weeks of running would grow: each process's memory and open files, each table's rows and
size, consumer lag, outbox backlog, and the latency of each flow.

Every second it starts `SOAK_ACCOUNTS_PER_S` account sagas (create, a two-seat subscription, opt-in
on, two members added at once, one by opt-in whose invitation is confirmed through the page — an
automatic upgrade), deactivates a member of an earlier account, buys a private instance for every
fifth account's owner, and sends `SOAK_LEADS_PER_S` leads (manual and Zillow) to earlier accounts'
Enterprise instances. At the end the stack is drained and the promises of `make chaos` are checked
(every command answered once, one seat answer per member, no seat twice, one e-mail per
invitation, every outbox empty), then a verdict: RSS growth per hour, rows per table, p99 drift
(last five minutes against the first five, or the last and first minute of a short run). Figures
go to `.run/soak/soak-<time>.json` and a PNG with one panel per figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from rich.console import Console

from crm_contracts import CloudEvent, command, identity, leads

from . import people
from .bus import Bus
from .chaos import Chaos, Wave, wave
from .stack import SERVICES, Stack

console = Console()
DECISIONS = ("routing.lead.assigned", "routing.lead.offered", "routing.lead.pooled", "routing.lead.rejected")


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


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
                                                group_id=None, role="agent"), source="soak", accountid=acc)
            await self._send(opt_in)
        if n >= 10 and len(self.waves) > 10:  # accounts set up ten seconds ago
            old = self.waves[n - 10]
            acc = old.accounts[0]
            await self._send(command(identity.DeactivateMember(user_id=f"{acc}_m1"), source="soak", accountid=acc))
            if n % 5 == 0:
                await self._send(command(identity.PurchaseInstance(buyer_user_id=f"{acc}_o", package="crm_only",
                                                                   name="Soak team"), source="soak", accountid=acc))
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

    async def confirm_invitations(self) -> None:
        """People open their opt-in e-mail's link and confirm on the page, as invitations arrive; the
        seat each confirmation buys is timed from the click (read from new records only)."""
        cursor = 0
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                fresh, cursor = self.bus.records[cursor:], len(self.bus.records)
                for r in fresh:
                    e = r.event
                    if e is None:
                        continue
                    if e.type == "identity.invitation.issued" and e.data["kind"] == "opt_in":
                        clicked = time.perf_counter()
                        try:
                            await people.accept(client, self.stack.invitation_link(e))
                            self.clicked[(e.accountid, e.data["user_id"])] = clicked
                        except httpx.HTTPError:
                            pass  # its seat will be missing from the invariants
                    elif e.type == "seats.seat.reserved" and e.data["auto_upgraded"]:
                        at = self.bus.arrivals.get((e.type, e.correlationid))
                        clicked = self.clicked.pop((e.accountid, e.data["user_id"]), None)
                        if at is not None and clicked is not None:
                            self.latency.setdefault("opt_in_confirmed", []).append((clicked, (at - clicked) * 1000))
                await asyncio.sleep(0.5)

    # --- figures ---------------------------------------------------------------------------------

    def collect_latency(self) -> None:
        answers = {"create": ("identity.account.created",),
                   "immediate_add": ("seats.seat.reserved", "seats.seat.denied"), "lead": DECISIONS}
        for cid, (flow, at) in list(self.sent.items()):
            arrived = [self.bus.arrivals[(t, cid)] for t in answers[flow] if (t, cid) in self.bus.arrivals]
            if arrived:
                self.latency.setdefault(flow, []).append((at, (min(arrived) - at) * 1000))
                del self.sent[cid]

    async def sample(self, minute: int) -> dict:
        self.collect_latency()
        since = self.started + (minute - 1) * 60
        flows = {flow: {"p50_ms": _percentile([ms for at, ms in v if at >= since], 0.5),
                        "p99_ms": _percentile([ms for at, ms in v if at >= since], 0.99),
                        "count": sum(1 for at, _ in v if at >= since)} for flow, v in self.latency.items()}
        procs = {}
        for name, pid in self._pids().items():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
                procs[name] = {"rss_mb": round(rss_kb / 1024, 1), "fds": len(os.listdir(f"/proc/{pid}/fd"))}
            except (OSError, StopIteration):
                continue
        tables = {}
        for service in SERVICES:
            conn = await asyncpg.connect(self.stack.database_url(service).replace(f"crm_{service}@", "crm@"))
            try:
                for r in await conn.fetch("""SELECT relname, n_live_tup, pg_total_relation_size(relid) AS bytes
                                             FROM pg_stat_user_tables"""):
                    tables[f"{service}.{r['relname']}"] = {"rows": r["n_live_tup"], "mb": round(r["bytes"] / 2**20, 2)}
            finally:
                await conn.close()
        healths = {s: await self.stack.health_report(s) or {} for s in SERVICES}
        return {"minute": minute, "at": datetime.now(UTC).isoformat(timespec="seconds"), "flows": flows,
                "processes": procs, "tables": tables,
                "outbox_backlog": {s: h.get("outbox_backlog") for s, h in healths.items()},
                "lag": await self.stack.lag()}

    def _pids(self) -> dict[str, int]:
        pids = {s: self.stack.service_pid(s) for s in SERVICES}
        for name, pid_file in (("kafka", self.stack.pids / "kafka.pid"), ("mail", self.stack.pids / "mail.pid"),
                               ("postgres", self.stack.pg_data / "postmaster.pid")):
            try:
                pids[name] = int(pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return {k: v for k, v in pids.items() if v}

    # --- the run ---------------------------------------------------------------------------------

    async def run(self) -> dict:
        people_task = asyncio.create_task(self.confirm_invitations())
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
                    f"{k} {v['rss_mb']:.0f} MB" for k, v in s["processes"].items() if k in SERVICES))
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
                "verdict": self.verdict(final)}

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
        checked["opt_ins_seated"] = {"ok": len(confirmed) == sum(upgrades.values()),
                                     "figure": {"seated_by_upgrade": len(confirmed)},
                                     "says": "each upgrade seated the member who confirmed"}
        return checked

    def _distinct(self, type_: str, accounts: set[str]) -> list[CloudEvent]:
        return list({e.id: e for e in self.bus.events(lambda e: e.type == type_ and e.accountid in accounts)}.values())

    def verdict(self, final: dict) -> dict:
        """Growth per hour by a least-squares line over the run after its first quarter (warm-up:
        pools filling, caches), p99 of the last five minutes against the first five (a short run:
        last minute against first), and the rows each table holds once the load is drained."""
        later = self.samples[len(self.samples) // 4:] if len(self.samples) >= 4 else self.samples

        def per_hour(values: list[tuple[int, float]]) -> float | None:
            if len(values) < 2:
                return None
            slope, _ = statistics.linear_regression([m for m, _ in values], [v for _, v in values])
            return round(slope * 60, 1)

        growth = {name: per_hour([(s["minute"], s["processes"][name]["rss_mb"]) for s in later
                                  if name in s["processes"]]) for name in self.samples[-1]["processes"]}
        fds = {name: per_hour([(s["minute"], s["processes"][name]["fds"]) for s in later
                               if name in s["processes"]]) for name in self.samples[-1]["processes"]}
        window = 5 if len(self.samples) >= 10 else 1

        def p99(samples: list[dict], flow: str) -> float | None:
            values = [s["flows"][flow]["p99_ms"] for s in samples if s["flows"].get(flow, {}).get("p99_ms")]
            return statistics.median(values) if values else None

        drift = {}
        for flow in self.latency:
            a, b = p99(self.samples[:window], flow), p99(self.samples[-window:], flow)
            drift[flow] = {"first_ms": a, "last_ms": b, "change": round(b / a - 1, 2) if a and b else None}
        # Published outbox rows are kept ten minutes: judged over the run's second half, once pruning runs.
        second_half = self.samples[len(self.samples) // 2:]
        outbox = {t: per_hour([(s["minute"], s["tables"][t]["rows"]) for s in second_half if t in s["tables"]])
                  for t in final["tables"] if t.endswith(".outbox")}
        return {"rss_growth_mb_per_hour": growth, "fd_growth_per_hour": fds, "p99_drift": drift,
                "outbox_rows_growth_per_hour": outbox,
                "rows_at_end": {t: v["rows"] for t, v in final["tables"].items()}}


async def main(minutes: float, accounts_per_s: int, leads_per_s: int) -> int:
    stack = Stack()
    bus = Bus(stack.kafka_args(), source="soak")
    await bus.start()
    try:
        soak = Soak(stack, bus, minutes, accounts_per_s, leads_per_s)
        console.print(f"soak: {minutes:g} min, {accounts_per_s} account sagas/s, {leads_per_s} leads/s")
        report = await soak.run()
    finally:
        await bus.stop()
    out = stack.run / "soak"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"soak-{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    _plot(report, out / f"soak-{stamp}.png")
    ok = all(v["ok"] for v in report["invariants"].values())
    for name, v in report["invariants"].items():
        console.print(f"  {'✓' if v['ok'] else '✗'} {name:<26} {v['figure']}  ({v['says']})")
    v = report["verdict"]
    console.print("RSS growth MB/hour (after warm-up): " + ", ".join(
        f"{k} {g:+.1f}" for k, g in v["rss_growth_mb_per_hour"].items() if g is not None))
    console.print("open files growth per hour: " + ", ".join(
        f"{k} {g:+.1f}" for k, g in v["fd_growth_per_hour"].items() if g is not None))
    console.print("outbox rows growth per hour (second half; pruned after 10 min): " + ", ".join(
        f"{k} {g:+.0f}" for k, g in v["outbox_rows_growth_per_hour"].items() if g is not None))
    console.print("p99 first → last: " + ", ".join(f"{f} {d['first_ms']} → {d['last_ms']} ms" for f, d in
                                                  v["p99_drift"].items()))
    console.print(f"figures: {out / f'soak-{stamp}.json'}\nplot:    {out / f'soak-{stamp}.png'}")
    return 0 if ok else 1


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = report["samples"]
    if not samples:
        return
    x = [s["minute"] for s in samples]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for name in samples[0]["processes"]:
        if name in SERVICES:  # the broker's and mail server's hundreds of MB would flatten them (in the JSON)
            axes[0][0].plot(x, [s["processes"].get(name, {}).get("rss_mb") for s in samples], label=name)
        axes[0][1].plot(x, [s["processes"].get(name, {}).get("fds") for s in samples], label=name)
    biggest = sorted(samples[-1]["tables"], key=lambda t: -samples[-1]["tables"][t]["rows"])[:8]
    for table in biggest:
        axes[1][0].plot(x, [s["tables"].get(table, {}).get("rows") for s in samples], label=table)
    for flow in samples[-1]["flows"]:
        axes[1][1].plot(x, [s["flows"].get(flow, {}).get("p99_ms") for s in samples], label=f"{flow} p99")
    for ax, title in zip(axes.flat, ("RSS of the services, MB", "open file descriptors", "rows (largest tables)", "p99 latency, ms"),
                         strict=True):
        ax.set_title(title)
        ax.set_xlabel("minute")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

"""`make bench`: the project's pipeline beside the limit and the naive peer, on the live stack.

1. Burst: COUNT `identity.account.create` commands sent at once (pipelined), timed until each
   `identity.account.created` is on the topic — the project's pipeline; then the same number of
   the same commands through the batched plain loop and the per-message loop (`loops.py`), each a
   process of its own on the same broker and PostgreSQL. Rounds alternate between the three; the
   table shows medians and the ratios to the batched loop.
2. Offered load: commands paced at each rate for a few seconds; p50/p95/p99 command → event,
   measured from when each command was due (so a sender that falls behind is not hidden).
3. `identity.invitation.accept` → `seats.seat.reserved` at 100/s and 200/s (members invited beforehand).
4. Two identity replicas against one, same burst.
RSS of every service process is sampled throughout. Figures go to `.run/bench/bench-<time>.json`
and a plot of latency against offered load to `.run/bench/latency-<time>.png`.

The machine is shared and noisy: compare medians and ratios of one run, not single numbers.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from rich.console import Console
from rich.progress import Progress

from crm_contracts import CloudEvent, command, identity, leads, seats

from . import loops
from .bench_figures import Rss, Run, percentile, plot, print_report, print_routing
from .bus import Bus
from .dates import period_args
from .stack import Stack

console = Console()
CREATED = "identity.account.created"
ASSIGNED = "routing.lead.assigned"


def creates(n: int) -> list[CloudEvent]:
    out = []
    for i in range(n):
        acc = f"acc_bench_{uuid.uuid4().hex[:12]}"
        out.append(command(identity.CreateAccount(
            account_id=acc, name=f"Bench {i}", tier="enterprise",
            owner={"user_id": f"{acc}_o", "email": "bench@example.com", "first_name": "B", "last_name": "B"}),
            source="bench", accountid=acc))
    return out


class Bench:
    def __init__(self, stack: Stack, bus: Bus, count: int) -> None:
        self.stack = stack
        self.bus = bus
        self.count = count

    async def _send_all(self, cmds: list[CloudEvent], topic: str | None = None) -> dict[str, float]:
        sent_at: dict[str, float] = {}
        sends = []
        for cmd in cmds:
            sent_at[cmd.id] = time.perf_counter()
            sends.append(await self.bus.producer.send(topic or cmd.topic, cmd.to_json(), key=cmd.key.encode()))
        await asyncio.gather(*sends)
        return sent_at

    async def _answers(self, sent_at: dict[str, float], type_: str, timeout: float = 300) -> dict[str, float]:
        await self.bus.wait_answered(type_, set(sent_at), timeout=timeout)
        return {cid: self.bus.arrivals[(type_, cid)] for cid in sent_at}

    def _summary(self, name: str, sent_at: dict[str, float], arrived: dict[str, float]) -> Run:
        start = min(sent_at.values())
        latencies = [arrived[c] - sent_at[c] for c in sent_at]
        return Run(name, len(sent_at) / (max(arrived.values()) - start), percentile(latencies, 0.5) * 1000,
                   percentile(latencies, 0.95) * 1000, percentile(latencies, 0.99) * 1000)

    async def pipeline_burst(self, name: str = "crm-platform (identity)") -> Run:
        cmds = creates(self.count)
        sent_at = await self._send_all(cmds)
        return self._summary(name, sent_at, await self._answers(sent_at, CREATED))

    async def loop_burst(self, mode: str) -> Run:
        group = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
        proc = subprocess.Popen([sys.executable, "-m", "crm_devstack.loops", mode, str(self.count), group],
                                stdout=subprocess.PIPE, text=True)
        try:
            ready = await asyncio.to_thread(proc.stdout.readline)
            if ready.strip() != "ready":
                raise RuntimeError(f"the {mode} loop did not start")
            cmds = creates(self.count)
            sent_at = await self._send_all(cmds, topic=loops.COMMANDS)
            arrived = await self._answers(sent_at, CREATED)
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait)
        label = {"batched": "plain loop, batched (the limit)", "per_message": "plain loop, per message"}[mode]
        return self._summary(label, sent_at, arrived)

    async def paced(self, rate: float, seconds: float, cmds: list[CloudEvent], answer: str) -> dict:
        """Send `cmds` at `rate` per second; latency from when each was due."""
        due: dict[str, float] = {}
        sends = []
        start = time.perf_counter()
        for i, cmd in enumerate(cmds):
            at = start + i / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            due[cmd.id] = at
            sends.append(await self.bus.producer.send(cmd.topic, cmd.to_json(), key=cmd.key.encode()))
        await asyncio.gather(*sends)
        arrived = await self._answers(due, answer, timeout=max(120.0, seconds * 10))
        latencies = [(arrived[c] - due[c]) * 1000 for c in due]
        return {"offered_per_s": rate, "commands": len(cmds), "p50_ms": percentile(latencies, 0.5),
                "p95_ms": percentile(latencies, 0.95), "p99_ms": percentile(latencies, 0.99),
                "achieved_per_s": len(cmds) / (max(arrived.values()) - start)}

    async def accepts(self, rate: float, seconds: float) -> dict:
        """Members invited beforehand (opt-in, free seats); their acceptances paced at `rate`."""
        total = int(rate * seconds)
        per_account = 25
        accounts = [f"acc_bench_{uuid.uuid4().hex[:12]}" for _ in range((total + per_account - 1) // per_account)]
        setup = []
        for acc in accounts:
            setup.append(command(identity.CreateAccount(
                account_id=acc, name="Bench", tier="enterprise",
                owner={"user_id": f"{acc}_o", "email": "bench@example.com", "first_name": "B", "last_name": "B"}),
                source="bench", accountid=acc))
            setup.append(command(seats.SetSubscription(seats_total=per_account + 5, seat_price_cents=4900,
                                                       currency="USD", **period_args()), source="bench", accountid=acc))
            setup.append(command(identity.SetOptIn(enabled=True), source="bench", accountid=acc))
        adds = [command(identity.AddMember(user_id=f"{acc}_m{i}", email=f"m{i}@example.com", first_name="M",
                                           last_name="B", user_type="platform", activation="opt_in",
                                           group_id=None, role="agent"), source="bench", accountid=acc)
                for acc in accounts for i in range(per_account)][:total]
        await self._answers(await self._send_all(setup[0::3]), CREATED)
        await self._send_all([c for k in (1, 2) for c in setup[k::3]])
        await asyncio.sleep(1)  # the subscription and opt-in switch land before the members
        added = await self._send_all(adds)
        await self._answers(added, "identity.invitation.issued")
        await self.stack.settled(180)  # the invitation e-mails are out before the clock starts
        issued = "identity.invitation.issued"
        # The tokens, as the invitees would read them from their e-mails.
        tokens = {cid: self.stack.invitation_link(self.bus.first[(issued, cid)]).split("token=")[1] for cid in added}
        accept_cmds = [command(identity.AcceptInvitation(token=tokens[a.id]), source="bench", accountid=a.accountid)
                       for a in adds]
        figures = await self.paced(rate, seconds, accept_cmds, "seats.seat.reserved")
        figures["path"] = "identity.invitation.accept -> seats.seat.reserved"
        return figures


    # --- routing: leads.lead.captured -> routing.lead.assigned -----------------------------------

    async def routing_setup(self, accounts: int = 24, members: int = 3) -> list[str]:
        """Enterprise accounts whose owner and `members` active agents take leads; their instances."""
        ids = [f"acc_bench_{uuid.uuid4().hex[:12]}" for _ in range(accounts)]
        created = await self._send_all([command(identity.CreateAccount(
            account_id=a, name="Bench", tier="enterprise",
            owner={"user_id": f"{a}_o", "email": "bench@example.com", "first_name": "B", "last_name": "B"}),
            source="bench", accountid=a) for a in ids])
        await self._answers(created, CREATED)
        instances = [self.bus.first[(CREATED, c)].data["enterprise_instance_id"] for c in created]
        subs = await self._send_all([command(seats.SetSubscription(
            seats_total=members + 1, seat_price_cents=4900, currency="USD", **period_args()), source="bench", accountid=a) for a in ids])
        await self._answers(subs, "seats.subscription.changed")
        adds = [command(identity.AddMember(user_id=f"{a}_m{i}", email=f"m{i}@example.com", first_name="M",
                                           last_name="B", user_type="platform", activation="immediate",
                                           group_id=None, role="agent"), source="bench", accountid=a)
                for a in ids for i in range(members)]
        await self._answers(await self._send_all(adds), "seats.seat.reserved")
        await self.stack.settled(180)
        done = await self._send_all([command(identity.CompleteOnboarding(user_id=a.data["user_id"]), source="bench",
                                             accountid=a.accountid) for a in adds])
        await self._answers(done, "identity.member.status_changed")
        await self.stack.settled(180)
        return instances

    @staticmethod
    def leads_for(instances: list[str], n: int, account_of: dict[str, str]) -> list[CloudEvent]:
        out = []
        for i in range(n):
            ins = instances[i % len(instances)]
            out.append(command(leads.LeadCaptured(
                lead_id=f"lead_{uuid.uuid4().hex[:16]}", channel="manual", instance_id=ins,
                lead={"first_name": "L", "zip": f"94{i % 1000:03d}", "price": 500_000 + i}),
                source="bench", accountid=account_of[ins], instanceid=ins))
        return out

    async def lead_burst(self, instances: list[str], account_of: dict[str, str]) -> Run:
        sent_at = await self._send_all(self.leads_for(instances, self.count, account_of))
        return self._summary("crm-platform (routing)", sent_at, await self._answers(sent_at, ASSIGNED))


async def routing_figures(stack: Stack, bench: Bench, rounds: int, rate: float, seconds: float) -> dict:
    """Lead bursts beside the batched plain loop of the same run, and p99 at `rate` leads/s."""
    instances = await bench.routing_setup()
    account_of = {e.data["enterprise_instance_id"]: e.accountid
                  for (t, _), e in bench.bus.first.items() if t == CREATED}
    await bench.lead_burst(instances, account_of)  # warm-up
    bursts, loop = [], []
    for _ in range(rounds):
        await stack.settled(180)
        bursts.append(await bench.lead_burst(instances, account_of))
        loop.append(await bench.loop_burst("batched"))
    sweep = []
    for offered in (rate / 4, rate / 2, rate):
        await stack.settled(180)
        sweep.append(await bench.paced(offered, seconds, bench.leads_for(instances, int(offered * seconds), account_of),
                                       ASSIGNED))
        sweep[-1]["path"] = "leads.lead.captured -> routing.lead.assigned"
    paced = sweep[-1]
    lead_rate = statistics.median(r.throughput for r in bursts)
    loop_rate = statistics.median(r.throughput for r in loop)
    return {"instances": len(instances), "burst_per_s": lead_rate, "batched_loop_per_s": loop_rate,
            "vs_batched_loop": lead_rate / loop_rate, "bursts": [r.__dict__ for r in bursts],
            "loop_bursts": [r.__dict__ for r in loop], "paced": paced, "sweep": sweep}


async def main(count: int, rounds: int, rates: list[float], seconds: float, only: str | None = None) -> None:
    stack = Stack()
    await _prepare(stack)
    out = stack.run / "bench"
    out.mkdir(parents=True, exist_ok=True)
    bus = Bus(stack.kafka_args(), source="bench", keep=False)
    await bus.start(watch=["identity.events.v1", "seats.events.v1", "routing.events.v1", loops.EVENTS])
    rss = Rss(stack)
    sampler = asyncio.create_task(rss.run())
    bench = Bench(stack, bus, count)
    results: dict[str, list[Run]] = {}
    report: dict = {"when": datetime.now(UTC).isoformat(), "count": count, "rounds": rounds}
    if only == "routing":
        try:
            report["routing"] = await routing_figures(stack, Bench(stack, bus, count), rounds, 1000, seconds)
        finally:
            sampler.cancel()
            await bus.stop()
        print_routing(report["routing"], count)
        path = out / f"bench-routing-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
        path.write_text(json.dumps(report, indent=2))
        console.print(f"figures: {path}")
        return
    try:
        with Progress(console=console, transient=True) as progress:
            burst = progress.add_task(f"burst of {count}: pipeline, batched loop, per-message loop", total=rounds * 3)
            await bench.pipeline_burst()  # warm-up: connections, caches, partition leaders
            for _ in range(rounds):
                await stack.settled(180)
                for step in (bench.pipeline_burst, lambda: bench.loop_burst("batched"),
                             lambda: bench.loop_burst("per_message")):
                    run = await step()
                    results.setdefault(run.name, []).append(run)
                    progress.advance(burst)
            task = progress.add_task("two identity replicas", total=1)
            await stack.settled(180)
            report["replicas"] = await _replicas(stack, bench, rounds)
            progress.advance(task)
            sweep = progress.add_task("offered load sweep", total=len(rates))
            report["sweep"] = []
            for rate in rates:
                await stack.settled(180)
                report["sweep"].append(await bench.paced(rate, seconds, creates(int(rate * seconds)), CREATED))
                progress.advance(sweep)
            task = progress.add_task("routing: lead bursts and 1,000 leads/s", total=1)
            report["routing"] = await routing_figures(stack, bench, rounds, 1000, seconds)
            progress.advance(task)
            task = progress.add_task("invitation.accept -> seat.reserved at 100/s and 200/s", total=2)
            report["accept_to_reserved"] = []
            for rate in (100, 200):
                await stack.settled(180)
                report["accept_to_reserved"].append(await bench.accepts(rate, seconds))
                progress.advance(task)
    finally:
        sampler.cancel()
        await bus.stop()
    report["burst"] = {name: [r.__dict__ for r in runs] for name, runs in results.items()}
    report["rss_peak_mb"] = rss.peak_mb
    print_report(report, results, rss)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path, png_path = out / f"bench-{stamp}.json", out / f"latency-{stamp}.png"
    json_path.write_text(json.dumps(report, indent=2))
    plot(report, png_path)
    console.print(f"figures: {json_path}\nplot:    {png_path}")


async def _prepare(stack: Stack) -> None:
    admin = AIOKafkaAdminClient(**stack.kafka_args())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 6, 1) for t in (loops.COMMANDS, loops.EVENTS)])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()
    conn = await asyncpg.connect(stack.admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", loops.DATABASE):
            await conn.execute(f'CREATE DATABASE "{loops.DATABASE}"')
    finally:
        await conn.close()


async def _replicas(stack: Stack, bench: Bench, rounds: int) -> dict:
    one = [(await bench.pipeline_burst()).throughput for _ in range(rounds)]
    stack.start_service("identity", replica=2)
    try:
        await stack.wait_healthy("identity", replica=2)
        await asyncio.sleep(3)  # the group rebalances onto both
        await bench.pipeline_burst()
        two = [(await bench.pipeline_burst()).throughput for _ in range(rounds)]
    finally:
        stack.stop_service("identity", replica=2)
    await bench.pipeline_burst()  # answered only once the group has rebalanced onto one replica again
    return {"one_replica_per_s": statistics.median(one), "two_replicas_per_s": statistics.median(two),
            "rounds_one": one, "rounds_two": two}



"""`make bench`'s plan: which runs, in which order, with the stack prepared for the plain loops,
and the report at the end (the runs themselves are `bench.Bench`'s)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from rich.progress import Progress

from ..bus import Bus
from ..stack import Stack
from . import loops
from .figures import Rss, Run, median_cost, plot, print_costs, print_report, print_routing, routing_costs
from .harness import ASSIGNED, CREATED, Bench, console, creates
from .anchor import anchor_figures
from .reads import only_reads
from .tracing import tracing_figures


async def routing_figures(stack: Stack, bench: Bench, rounds: int, rate: float, seconds: float) -> dict:
    """Lead bursts beside the batched plain loop of the same run, and p99 at `rate` leads/s."""
    instances = await bench.routing_setup()
    account_of = {e.data["enterprise_instance_id"]: e.accountid
                  for (t, _), e in bench.bus.first.items() if t == CREATED}
    await bench.lead_burst(instances, account_of)  # warm-up
    bursts, beside, costs = await costed_bursts(stack, bench, lambda: bench.lead_burst(instances, account_of), rounds)
    sweep = []
    for offered in (rate / 4, rate / 2, rate):
        await stack.settled(180)
        leads = bench.leads_for(instances, int(offered * seconds), account_of)
        # Costed too: paced, batches are small and a lead costs more than in a burst.
        paced_run, paced_run["cpu"] = await bench.costed(bench.paced(offered, seconds, leads, ASSIGNED), len(leads))
        sweep.append({**paced_run, "path": "leads.lead.captured -> routing.lead.assigned"})
    claims, claim_costs = [], []
    for _ in range(rounds):
        assigned = await bench.assigned_leads(instances, account_of)
        await stack.settled(180)
        run, cost = await bench.costed(bench.claim_burst(assigned), len(assigned))
        claims.append(run)
        claim_costs.append(cost)
    paced = sweep[-1]
    await stack.settled(180)
    await bench.paced(rate / 2, seconds, bench.leads_for(instances, int(rate / 2 * seconds), account_of), ASSIGNED,
                      profile="lead")  # an extra run, for its flame graphs only
    return {"instances": len(instances), **versus_loop(bursts, beside["batched"], costs), "paced": paced,
            "sweep": sweep, "claims": {"bursts": [r.__dict__ for r in claims], "cpu": median_cost(claim_costs),
                                       "burst_per_s": statistics.median(r.throughput for r in claims)}}


async def costed_bursts(stack: Stack, bench: Bench, burst: Callable[[], Awaitable[Run]], rounds: int,
                        loops: tuple[str, ...] = ("batched",), on_round: Callable[[], None] = lambda: None
                        ) -> tuple[list[Run], dict[str, list[Run]], list[dict]]:
    """`rounds` bursts from a settled system, each costed and followed by the plain loops of
    `loops` in the same round: the bursts, the loops' runs by mode, the costs."""
    runs: list[Run] = []
    beside: dict[str, list[Run]] = {}
    costs: list[dict] = []
    for _ in range(rounds):
        await stack.settled(180)
        run, cost = await bench.costed(burst(), bench.count)
        runs.append(run)
        costs.append(cost)
        for mode in loops:
            beside.setdefault(mode, []).append(await bench.loop_burst(mode))
        on_round()
    return runs, beside, costs


def versus_loop(runs: list[Run], loop: list[Run], costs: list[dict]) -> dict:
    """Bursts beside the batched plain loop of the same rounds: medians, their ratio, CPU per command."""
    rate, limit = statistics.median(r.throughput for r in runs), statistics.median(r.throughput for r in loop)
    return {"burst_per_s": rate, "batched_loop_per_s": limit, "vs_batched_loop": rate / limit,
            "bursts": [r.__dict__ for r in runs], "loop_bursts": [r.__dict__ for r in loop], "cpu": median_cost(costs)}


async def _only_routing(stack: Stack, bench: Bench, rounds: int, seconds: float) -> dict:
    figures = await routing_figures(stack, bench, rounds, 1000, seconds)
    print_routing(figures, bench.count)
    print_costs(routing_costs(figures))
    return figures


async def _only_create(stack: Stack, bench: Bench, rounds: int, seconds: float) -> dict:
    """Bursts of `identity.account.create` costed, each beside the batched plain loop."""
    await bench.pipeline_burst()  # warm-up
    runs, beside, costs = await costed_bursts(stack, bench, bench.pipeline_burst, rounds)
    figures = versus_loop(runs, beside["batched"], costs)
    console.print(f"create burst of {bench.count}: {figures['burst_per_s']:,.0f}/s, {figures['vs_batched_loop']:.0%} "
                  f"of the batched plain loop ({figures['batched_loop_per_s']:,.0f}/s) in the same run")
    print_costs({"create": figures["cpu"]})
    return figures


async def _only_accept(stack: Stack, bench: Bench, rounds: int, seconds: float) -> dict:
    """`rounds` runs of acceptances at 150/s: p99 to `seat.reserved` and CPU per acceptance."""
    runs = []
    for _ in range(rounds):
        await stack.settled(180)
        runs.append(await bench.accepts(150, seconds))
        console.print(f"accept at 150/s: p50 {runs[-1]['p50_ms']:.0f} ms, p99 {runs[-1]['p99_ms']:.0f} ms, "
                      f"{runs[-1]['cpu']['per_command_ms']:.2f} ms CPU "
                      f"({runs[-1]['cpu']['net_per_command_ms']:.2f} above idle; the bench client "
                      f"{runs[-1]['cpu']['client_ms']:.2f})")
    figures = {"runs": runs, "p99_ms": statistics.median(r["p99_ms"] for r in runs),
               "cpu": median_cost([r["cpu"] for r in runs])}
    print_costs({"accept at 150/s": figures["cpu"]})
    await stack.settled(180)
    await bench.accepts(150, seconds, profile="accept")  # an extra run, for its profiles only
    return figures


async def main(count: int, rounds: int, rates: list[float], seconds: float, only: str | None = None) -> None:
    if only is not None and only not in ONLY:
        raise SystemExit(f"--only takes one of {', '.join(ONLY)}, not {only!r}")
    stack = Stack()
    await _prepare(stack)
    out = stack.run / "bench"
    out.mkdir(parents=True, exist_ok=True)
    bus = Bus(stack.kafka.args(), source="bench", keep=False)
    await bus.start(watch=["identity.events.v1", "seats.events.v1", "routing.events.v1", loops.EVENTS])
    rss = Rss(stack)
    sampler = asyncio.create_task(rss.run())
    bench = Bench(stack, bus, count)
    results: dict[str, list[Run]] = {}
    report: dict = {"when": datetime.now(UTC).isoformat(), "count": count, "rounds": rounds}
    if only is not None:
        try:
            report[only] = await ONLY[only](stack, bench, rounds, seconds)
        finally:
            sampler.cancel()
            await bus.stop()
        path = out / f"bench-{only}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
        path.write_text(json.dumps(report, indent=2))
        console.print(f"figures: {path}")
        return
    try:
        with Progress(console=console, transient=True) as progress:
            burst = progress.add_task(f"burst of {count}: pipeline, batched loop, per-message loop", total=rounds * 3)
            await bench.pipeline_burst()  # warm-up: connections, caches, partition leaders
            runs, beside, create_costs = await costed_bursts(stack, bench, bench.pipeline_burst, rounds,
                                                             ("batched", "per_message"),
                                                             lambda: progress.advance(burst, 3))
            results = {r[0].name: r for r in (runs, beside["batched"], beside["per_message"])}
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
            task = progress.add_task("invitation.accept -> seat.reserved at 100/s, 150/s and 200/s", total=3)
            report["accept_to_reserved"] = []
            for rate in (100, 150, 200):
                await stack.settled(180)
                report["accept_to_reserved"].append(await bench.accepts(rate, seconds))
                progress.advance(task)
            await stack.settled(180)
            await bench.accepts(150, seconds, profile="accept")  # an extra run, for its flame graphs only
            task = progress.add_task("acceptances at 150/s, tracing off and on", total=1)
            report["tracing"] = await tracing_figures(stack, bench, rounds, seconds)
            progress.advance(task)
            task = progress.add_task("the project beside the same pipeline as plain loops", total=1)
            report["anchor"] = await anchor_figures(stack, bench, rounds, seconds)
            progress.advance(task)
    finally:
        sampler.cancel()
        await bus.stop()
    report["burst"] = {name: [r.__dict__ for r in runs] for name, runs in results.items()}
    report["cpu_per_command"] = {"create": median_cost(create_costs), **routing_costs(report["routing"]),
                                 **{f"accept at {a['offered_per_s']:.0f}/s": a["cpu"] for a in report["accept_to_reserved"]}}
    report["rss_peak_mb"] = rss.peak_mb
    print_report(report, results, rss)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path, png_path = out / f"bench-{stamp}.json", out / f"latency-{stamp}.png"
    json_path.write_text(json.dumps(report, indent=2))
    plot(report, png_path)
    console.print(f"figures: {json_path}\nplot:    {png_path}")


async def _prepare(stack: Stack) -> None:
    admin = AIOKafkaAdminClient(**stack.kafka.args())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 6, stack.replication) for t in (loops.COMMANDS, loops.EVENTS)])
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


def _pin(pid: int | None, cores: str) -> bool:
    """Every thread of `pid` onto `cores` (taskset's list, e.g. "0" or "0-1"); False if it cannot."""
    if pid is None or shutil.which("taskset") is None:
        return False
    return subprocess.run(["taskset", "-a", "-cp", cores, str(pid)], capture_output=True).returncode == 0


async def _replicas(stack: Stack, bench: Bench, rounds: int) -> dict:
    """Bursts through one identity replica, then two. Each replica is pinned to a core of its own
    (the first to core 0 for both measurements), so the ratio says what a second core — another
    machine's — gives identity, not how two processes share one pair of cores with everything else."""
    cores = os.cpu_count() or 1
    pinned = cores >= 2 and _pin(stack.services.pid("identity"), "0")
    try:
        one = [(await bench.pipeline_burst()).throughput for _ in range(rounds)]
        stack.services.start("identity", replica=2)
        try:
            await stack.health.wait("identity", replica=2)
            pinned = pinned and _pin(stack.services.pid("identity", replica=2), "1")
            await asyncio.sleep(3)  # the group rebalances onto both
            await bench.pipeline_burst()
            two = [(await bench.pipeline_burst()).throughput for _ in range(rounds)]
        finally:
            stack.services.stop("identity", replica=2)
    finally:
        _pin(stack.services.pid("identity"), f"0-{cores - 1}")
    await bench.pipeline_burst()  # answered only once the group has rebalanced onto one replica again
    return {"one_replica_per_s": statistics.median(one), "two_replicas_per_s": statistics.median(two),
            "ratio": statistics.median(two) / statistics.median(one), "pinned": pinned,
            "rounds_one": one, "rounds_two": two}


async def _only_replicas(stack: Stack, bench: Bench, rounds: int, seconds: float) -> dict:
    await bench.pipeline_burst()  # warm-up
    await stack.settled(180)
    figures = await _replicas(stack, bench, rounds)
    console.print(f"identity bursts of {bench.count}: one replica {figures['one_replica_per_s']:,.0f}/s, two "
                  f"{figures['two_replicas_per_s']:,.0f}/s ({figures['ratio']:.2f}×; "
                  f"{'each pinned to a core of its own' if figures['pinned'] else 'not pinned'})")
    return figures


ONLY = {"routing": _only_routing, "create": _only_create, "accept": _only_accept, "replicas": _only_replicas,
        "reads": only_reads, "tracing": tracing_figures, "anchor": anchor_figures}

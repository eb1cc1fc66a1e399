"""The project beside the same pipeline written as plain loops (`bench.plain`): the four services
stopped, the plain loops started in their place (same databases, topics, groups and PID files,
so the CPU of every process is read the same way), the same flows run, then the services back.
The project's share is the plain pipeline's CPU per command over the project's: 100 % would mean
the runtime costs nothing beyond the handlers' own statements and one produce per batch."""

from __future__ import annotations

import statistics
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from ..stack import SERVICES, Stack
from ..stack.processes import spawn
from .figures import median_cost, print_costs
from .harness import Bench, console

RATE = 150


@asynccontextmanager
async def plain_loops(stack: Stack, *, per_fetch: bool = False) -> AsyncIterator[None]:
    services = stack.services
    for service in SERVICES:
        services.stop(service)
    try:
        for service in SERVICES:
            name = stack.process_name(service, 1)
            spawn([sys.executable, "-m", "crm_devstack.bench.plain", service, *(["--per-fetch"] if per_fetch else [])],
                  env=services.env(service),
                  log_file=stack.logs / f"{name}-plain.log", pid_file=stack.pids / f"{name}.pid")
        for service in SERVICES:
            await stack.health.wait(service)
        yield
    finally:
        await stack.restart_services()


async def accept_rounds(stack: Stack, bench: Bench, rounds: int, seconds: float, label: str) -> dict:
    """`rounds` runs of acceptances at 150/s, each once the stack settled: medians of p99 and CPU."""
    runs = []
    for _ in range(rounds):
        await stack.settled(180)
        runs.append(await bench.accepts(RATE, seconds))
        console.print(f"accept at {RATE}/s, {label}: p99 {runs[-1]['p99_ms']:.0f} ms, "
                      f"{runs[-1]['cpu']['per_command_ms']:.2f} ms CPU")
    return {"p99_ms": statistics.median(r["p99_ms"] for r in runs), "cpu": median_cost([r["cpu"] for r in runs]),
            "runs": runs}


async def _creates(stack: Stack, bench: Bench, rounds: int, label: str) -> dict:
    burst: Callable[[], Awaitable] = lambda: bench.pipeline_burst(f"create burst, {label}")  # noqa: E731
    await burst()  # warm-up
    runs, costs = [], []
    for _ in range(rounds):
        await stack.settled(180)
        run, cost = await bench.costed(burst(), bench.count)
        runs.append(run.throughput)
        costs.append(cost)
    return {"per_s": statistics.median(runs), "cpu": median_cost(costs), "rounds_per_s": runs}


async def anchor_figures(stack: Stack, bench: Bench, rounds: int, seconds: float) -> dict:
    project = {"accept": await accept_rounds(stack, bench, rounds, seconds, "the project"),
               "create": await _creates(stack, bench, rounds, "the project")}
    async with plain_loops(stack):
        plain = {"accept": await accept_rounds(stack, bench, rounds, seconds, "plain loops"),
                 "create": await _creates(stack, bench, rounds, "plain loops")}
    async with plain_loops(stack, per_fetch=True):
        per_fetch = {"accept": await accept_rounds(stack, bench, rounds, seconds, "plain loops, per fetch"),
                     "create": await _creates(stack, bench, rounds, "plain loops, per fetch")}
    share = {flow: round(plain[flow]["cpu"]["per_command_ms"] / project[flow]["cpu"]["per_command_ms"], 3)
             for flow in ("accept", "create")}
    figures = {"project": project, "plain": plain, "plain_per_fetch": per_fetch, "share_of_plain_cpu": share,
               "create_burst_share": round(project["create"]["per_s"] / plain["create"]["per_s"], 3)}
    print_anchor(figures)
    return figures


def print_anchor(figures: dict) -> None:
    project, plain = figures["project"], figures["plain"]
    print_costs({f"accept at {RATE}/s, project": project["accept"]["cpu"],
                 f"accept at {RATE}/s, plain loops": plain["accept"]["cpu"],
                 f"accept at {RATE}/s, plain, per fetch": figures["plain_per_fetch"]["accept"]["cpu"],
                 "create burst, project": project["create"]["cpu"], "create burst, plain loops": plain["create"]["cpu"],
                 "create burst, plain, per fetch": figures["plain_per_fetch"]["create"]["cpu"]})
    share = figures["share_of_plain_cpu"]
    console.print(
        f"the project beside the plain pipeline: accept at {RATE}/s {project['accept']['cpu']['per_command_ms']:.2f} "
        f"vs {plain['accept']['cpu']['per_command_ms']:.2f} ms CPU ({share['accept']:.0%}), p99 "
        f"{project['accept']['p99_ms']:.0f} vs {plain['accept']['p99_ms']:.0f} ms; create burst "
        f"{project['create']['per_s']:,.0f} vs {plain['create']['per_s']:,.0f}/s ({figures['create_burst_share']:.0%}), "
        f"{project['create']['cpu']['per_command_ms']:.2f} vs {plain['create']['cpu']['per_command_ms']:.2f} ms CPU "
        f"({share['create']:.0%}). Plain, one transaction per fetch: accept "
        f"{figures['plain_per_fetch']['accept']['cpu']['per_command_ms']:.2f} ms CPU, p99 "
        f"{figures['plain_per_fetch']['accept']['p99_ms']:.0f} ms; create burst "
        f"{figures['plain_per_fetch']['create']['per_s']:,.0f}/s, "
        f"{figures['plain_per_fetch']['create']['cpu']['per_command_ms']:.2f} ms CPU")

"""`make bench`: command-to-event latency and throughput of identity on the running stack.

Publishes N `identity.account.create` commands (each a new account, so each also reaches seats
and notifications) as fast as the producer takes them, and times each until its
`identity.account.created` is seen on the topic. Prints one line per round and the medians.
The figures include the client, broker, database and the outbox relay; the machine is shared,
so compare medians, not single rounds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import typer

from crm_contracts import command, identity

from .bus import Bus
from .stack import Stack


def _creates(n: int) -> list:
    commands = []
    for i in range(n):
        acc = f"acc_bench_{uuid.uuid4().hex[:10]}"
        commands.append(command(identity.CreateAccount(
            account_id=acc, name=f"Bench {i}", tier="enterprise",
            owner={"user_id": f"{acc}_o", "email": "bench@example.com", "first_name": "B", "last_name": "B"}),
            source="bench", accountid=acc))
    return commands


async def _answered(bus: Bus, ids) -> None:
    wanted = set(ids)
    await bus.wait_for(lambda r: r.event is not None and r.event.type == "identity.account.created"
                       and r.event.correlationid in wanted, count=len(wanted), timeout=300)


async def one_at_a_time(bus: Bus, n: int) -> float:
    """Median latency of a command sent alone, answer awaited before the next: the unloaded path."""
    latencies = []
    for cmd in _creates(n):
        start = time.perf_counter()
        await bus.send(cmd)
        await _answered(bus, [cmd.id])
        latencies.append(bus.arrivals[cmd.id] - start)
    return statistics.median(latencies) * 1000


async def burst(bus: Bus, n: int) -> tuple[float, float, float]:
    """N commands at once: throughput, and the latency each saw queueing behind the others."""
    sent_at: dict[str, float] = {}
    commands = _creates(n)
    start = time.perf_counter()
    for cmd in commands:
        sent_at[cmd.id] = time.perf_counter()
        await bus.send(cmd)
    await _answered(bus, sent_at)
    elapsed = max(bus.arrivals[cid] for cid in sent_at) - start
    latencies = sorted(bus.arrivals[cid] - sent_at[cid] for cid in sent_at)
    return statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.95) - 1] * 1000, n / elapsed


async def main(n: int, rounds: int) -> None:
    stack = Stack()
    bus = Bus(stack.bootstrap, source="bench")
    await bus.start(watch=[identity.EVENTS.name])
    try:
        alone, results = [], []
        for r in range(1, rounds + 1):
            alone.append(await one_at_a_time(bus, 30))
            p50, p95, rate = await burst(bus, n)
            results.append((p50, p95, rate))
            print(f"round {r}: alone p50 {alone[-1]:6.1f} ms | burst of {n}: p50 {p50:7.1f} ms  "
                  f"p95 {p95:7.1f} ms  throughput {rate:6.1f} commands/s")
        print(f"median of {rounds} rounds: alone p50 {statistics.median(alone):.1f} ms; burst p50 "
              f"{statistics.median(x[0] for x in results):.1f} ms, p95 {statistics.median(x[1] for x in results):.1f} ms, "
              f"throughput {statistics.median(x[2] for x in results):.1f} commands/s")
    finally:
        await bus.stop()


def run(n: int = typer.Option(300, help="commands per round"), rounds: int = typer.Option(3)) -> None:
    asyncio.run(main(n, rounds))

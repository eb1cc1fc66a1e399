"""`make chaos`: the fault scenarios (kill -9 and restarts of each part, replicas, poison, and on a
three-broker cluster the broker losses of `chaos.cluster`) under load, run one after another, and
the report."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from rich.table import Table

from ..bus import Bus
from ..stack import SERVICES, Stack
from .cluster import ClusterFaults
from .groups import killed_mid_group, poison_in_group
from .harness import ANSWER_TIMEOUT, Chaos, console
from .poison import poison

# --- faults ------------------------------------------------------------------------------------------


def kill_and_restart(stack: Stack, component: str, *, down_s: float = 2.0, kill: bool = True):
    """Stop (or kill) `component`, leave it down `down_s`, start it again; returns when the restart
    began, the moment recovery is measured from."""
    async def fault() -> float:
        stack.stop_component(component, kill=kill)
        await asyncio.sleep(down_s)
        restarted = time.perf_counter()
        await stack.start_component(component)
        return restarted
    return fault


def seats_one_three_one(stack: Stack):
    async def fault() -> float:
        for replica in (2, 3):
            await stack.start_component("seats", replica=replica)
        await asyncio.sleep(1.5)
        stack.stop_component("seats", replica=3, kill=True)
        await asyncio.sleep(1.5)
        stack.stop_component("seats", replica=2)
        return time.perf_counter()
    return fault


async def main(scenarios: list[str] | None = None) -> int:
    # A broker down is the point of some scenarios; aiokafka would log each refused connection.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    stack = Stack()
    out = stack.run / "chaos"
    out.mkdir(parents=True, exist_ok=True)
    bus = Bus(stack.kafka.args(), source="chaos")
    await bus.start(watch=["identity.events.v1", "seats.events.v1", "notifications.events.v1",
                           "identity.commands.v1.dlq"])
    chaos = Chaos(stack, bus)
    mid_group, mid_group_checks = killed_mid_group(stack, chaos)
    group_poison, group_poison_checks = poison_in_group(stack, chaos)
    # (name, fault, options of Chaos.run)
    plan: list[tuple[str, Callable[[], Awaitable[float]], dict]] = [
        *((f"{s} kill -9", kill_and_restart(stack, s), {}) for s in SERVICES),
        ("seats replicas 1-3-1", seats_one_three_one(stack), {}),
        ("kafka kill -9", kill_and_restart(stack, "kafka", down_s=3.0), {}),
        ("postgres crash", kill_and_restart(stack, "postgres", down_s=3.0), {}),
        *((f"{s} SIGTERM", kill_and_restart(stack, s, down_s=0.5, kill=False), {}) for s in ("identity", "seats")),
        ("group kill -9 mid-transaction", mid_group, {"checks": mid_group_checks}),
        ("group poison", group_poison, {"checks": group_poison_checks}),
    ]
    if stack.brokers > 1:
        cluster = ClusterFaults(stack, chaos)
        kill, kill_checks = cluster.broker_kill()
        roll, roll_checks = cluster.rolling_restart()
        two, two_checks, two_heal = cluster.two_down()
        # Two down first: the broker left up then leads every partition, and it is the one the kill
        # takes next, while the clients' last metadata still names it alone (crm_runtime.rebootstrap).
        plan += [
            ("cluster two brokers down", two, {"checks": two_checks, "heal": two_heal}),
            ("cluster broker kill -9", kill, {"checks": kill_checks, "seconds": 12.0, "accounts": 60}),
            ("cluster rolling restart", roll, {"checks": roll_checks, "seconds": 30.0, "accounts": 60}),
        ]
    results = []
    try:
        if not scenarios or any("poison".startswith(s) or s.startswith("poison") for s in scenarios):
            console.rule("[bold]poison records")
            results.append(await poison(chaos))
            _print_one(results[-1])
        for name, fault, options in plan:
            if scenarios and not any(name.startswith(s) for s in scenarios):
                continue
            console.rule(f"[bold]{name}")
            await stack.settled(ANSWER_TIMEOUT)
            result = await chaos.run(name, fault, **options)
            results.append(result)
            _print_one(result)
    finally:
        await bus.stop()
    _print_all(results)
    path = out / f"chaos-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    console.print(f"figures: {path}")
    return 0 if results and all(r["ok"] for r in results) else 1


def _print_one(r: dict) -> None:
    for key, v in r.items():
        if isinstance(v, dict):
            mark = "[green]✓[/]" if v["ok"] else "[red]✗[/]"
            console.print(f"  {mark} {key:<26} {v['figure']}  ({v['says']})")
    console.print(f"  down {r['fault_s']} s; every answer of the wave was out {r['recovered_s']} s after the restart began")


def _print_all(results: list[dict]) -> None:
    table = Table(title="make chaos")
    for col in ("scenario", "down s", "caught up s after restart", "result"):
        table.add_column(col)
    for r in results:
        table.add_row(r["scenario"], str(r["fault_s"]), str(r["recovered_s"]),
                      "[green]ok[/]" if r["ok"] else "[red]broken: " + ", ".join(
                          k for k, v in r.items() if isinstance(v, dict) and not v["ok"]) + "[/]")
    console.print(table)

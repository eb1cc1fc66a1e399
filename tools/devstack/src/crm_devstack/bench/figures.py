"""The figures of `make bench`: runs and their percentiles, the services' memory, and the report
(lines, JSON and the latency plot)."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..stack import Stack

console = Console()



def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


@dataclass
class Run:
    name: str
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass
class Rss:
    stack: Stack
    peak_mb: dict[str, float] = field(default_factory=dict)

    def sample(self) -> None:
        for pid_file in self.stack.pids.glob("*.pid"):
            name = pid_file.stem
            if name.startswith("kafka") or name == "mail":
                continue
            try:
                pid = int(pid_file.read_text().split()[0])
                status = Path(f"/proc/{pid}/status").read_text()
            except (OSError, ValueError, IndexError):
                continue
            kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), kb / 1024)

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.25)


def print_routing(r: dict, count: int) -> None:
    console.print(f"routing burst of {count} leads over {r['instances']} instances: {r['burst_per_s']:,.0f} leads/s, "
                  f"{r['vs_batched_loop']:.0%} of the batched plain loop ({r['batched_loop_per_s']:,.0f}/s) "
                  f"in the same run")
    for p in r["sweep"]:
        console.print(f"{p['path']} at {p['offered_per_s']:.0f}/s offered ({p['commands']} leads, "
                      f"{p['achieved_per_s']:,.0f}/s achieved): p50 {p['p50_ms']:.0f} ms, p95 {p['p95_ms']:.0f} ms, "
                      f"p99 {p['p99_ms']:.0f} ms, {p['cpu']['per_command_ms']:.2f} ms CPU a lead"
                      + (" (p99 target ≤ 100 ms)" if p["offered_per_s"] == 500 else ""))
    claims = r["claims"]["bursts"]
    console.print(f"claims: every lead of a burst claimed by its agent, {r['claims']['burst_per_s']:,.0f}"
                  f"/s, p50 {statistics.median(c['p50_ms'] for c in claims):.0f} ms, "
                  f"p99 {statistics.median(c['p99_ms'] for c in claims):.0f} ms (medians of {len(claims)})")


def routing_costs(routing: dict) -> dict[str, dict]:
    """CPU per lead in the bursts (median) and at each offered rate of the sweep; per claim."""
    return {"lead": routing["cpu"], **{f"lead at {p['offered_per_s']:.0f}/s": p["cpu"] for p in routing["sweep"]},
            "claim": routing["claims"]["cpu"]}


def median_cost(costs: list[dict]) -> dict:
    """The median of runs' CPU per command (`Bench.costed`), in total and by process."""
    names = sorted({n for c in costs for n in c["by_process_ms"]})
    def median(key: str) -> float:
        return round(statistics.median(c.get(key, 0.0) for c in costs), 3)

    databases = sorted({d for c in costs for d in c.get("postgres", {})})
    return {"per_command_ms": median("per_command_ms"), "net_per_command_ms": median("net_per_command_ms"),
            "idle_share_ms": median("idle_share_ms"), "runs": len(costs),
            "by_process_ms": {n: round(statistics.median(c["by_process_ms"].get(n, 0.0) for c in costs), 3)
                              for n in names},
            "postgres": {d: {k: statistics.median(c.get("postgres", {}).get(d, {}).get(k, 0.0) for c in costs)
                             for k in ("commits", "rows_written")} for d in databases},
            "kafka_log_bytes": median("kafka_log_bytes")}


def print_costs(costs: dict[str, dict]) -> None:
    table = Table(title="CPU per command, every process of the stack (ms; the bench client not counted)")
    names = sorted({n for c in costs.values() for n in c["by_process_ms"]})
    for col in ("flow", "total", "idle draw", "net", *names):
        table.add_column(col, justify="left" if col == "flow" else "right")
    for flow, c in costs.items():
        table.add_row(flow, f"{c['per_command_ms']:.2f}", f"{c.get('idle_share_ms', 0.0):.2f}",
                      f"{c.get('net_per_command_ms', 0.0):.2f}",
                      *(f"{c['by_process_ms'].get(n, 0.0):.2f}" for n in names))
    console.print(table)
    databases = sorted({d for c in costs.values() for d in c.get("postgres", {})})
    if databases:
        wrote = Table(title="written per command: commits / rows of each service database, bytes to the Kafka "
                            "logs (every replica)")
        for col in ("flow", *databases, "kafka bytes"):
            wrote.add_column(col, justify="left" if col == "flow" else "right")
        for flow, c in costs.items():
            pg = c.get("postgres", {})
            wrote.add_row(flow, *(f"{pg[d]['commits']:.1f} / {pg[d]['rows_written']:.1f}" if d in pg else "-"
                                  for d in databases), f"{c.get('kafka_log_bytes', 0):,.0f}")
        console.print(wrote)


def print_report(report: dict, results: dict[str, list[Run]], rss: Rss) -> None:
    limit = statistics.median(r.throughput for r in results["plain loop, batched (the limit)"])
    table = Table(title=f"burst of {report['count']} identity.account.create, median of {report['rounds']} rounds")
    for col in ("pipeline", "commands/s", "vs batched loop", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(col, justify="right" if col != "pipeline" else "left")
    for name, runs in results.items():
        rate = statistics.median(r.throughput for r in runs)
        table.add_row(name, f"{rate:,.0f}", f"{rate / limit:.0%}",
                      *(f"{statistics.median(getattr(r, k) for r in runs):,.0f}" for k in ("p50_ms", "p95_ms", "p99_ms")))
    console.print(table)
    sweep = Table(title="offered load → identity.account.created latency (from when each command was due)")
    for col in ("offered/s", "achieved/s", "p50 ms", "p95 ms", "p99 ms"):
        sweep.add_column(col, justify="right")
    for row in report["sweep"]:
        sweep.add_row(*(f"{row[k]:,.0f}" for k in ("offered_per_s", "achieved_per_s", "p50_ms", "p95_ms", "p99_ms")))
    console.print(sweep)
    for a in report["accept_to_reserved"]:
        console.print(f"{a['path']} at {a['offered_per_s']:.0f}/s ({a['commands']} acceptances, "
                      f"{a['achieved_per_s']:.0f}/s achieved): p50 {a['p50_ms']:.0f} ms, p95 {a['p95_ms']:.0f} ms, "
                      f"p99 {a['p99_ms']:.0f} ms")
    r = report["replicas"]
    console.print(f"identity burst throughput: 1 replica {r['one_replica_per_s']:,.0f}/s, "
                  f"2 replicas {r['two_replicas_per_s']:,.0f}/s ({r['two_replicas_per_s'] / r['one_replica_per_s']:.2f}×"
                  f"{', each pinned to a core of its own' if r.get('pinned') else ''})")
    print_routing(report["routing"], report["count"])
    print_costs(report["cpu_per_command"])
    console.print("peak RSS under the bench: " + ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(rss.peak_mb.items())))


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["sweep"]
    x = [r["offered_per_s"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        ax.plot(x, [r[key] for r in rows], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered load, identity.account.create per second")
    ax.set_ylabel("command → identity.account.created, ms")
    ax.set_title("crm-platform identity: latency against offered load")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

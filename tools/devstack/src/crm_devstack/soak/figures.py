"""The figures of `make soak`: what each process and table looks like each minute (memory, open
files, CPU, rows, lag, outbox backlog), the verdict on growth and drift, and the report (lines and
a PNG)."""

from __future__ import annotations

import json
import os
import statistics
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from rich.console import Console

from ..bench.cpu import Reading, read_cpu, stack_pids
from ..bench.storage import kafka_log_bytes
from ..stack import SERVICES, Stack

console = Console()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


class Readings:
    """One reading a minute of every process and table of the stack."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.cpu_before: Reading | None = None
        self.cpu()  # the first minute's CPU is measured from here

    async def take(self, minute: int, flows: dict) -> dict:
        procs = {}
        for name, pid in self.pids().items():
            try:
                status = Path(f"/proc/{pid}/status").read_text()  # noqa: ASYNC240 - procfs answers from memory
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
        healths = {s: await self.stack.health.report(s) or {} for s in SERVICES}
        return {"minute": minute, "at": datetime.now(UTC).isoformat(timespec="seconds"), "flows": flows,
                "processes": procs, "cpu": self.cpu(), "tables": tables,
                "kafka_log_mb": round(kafka_log_bytes(self.stack) / 2**20, 2),
                "outbox_backlog": {s: h.get("outbox_backlog") for s, h in healths.items()},
                "lag": await self.stack.health.lag()}

    def cpu(self) -> dict:
        """Percent of one core each process used since the last sample, and the machine's busy share."""
        now = read_cpu(self.stack, {"soak client": os.getpid()})
        before, self.cpu_before = self.cpu_before, now
        if before is None:
            return {}
        return {"percent_of_a_core": now.percent_of_a_core(before), "machine_busy": now.machine_busy(before)}

    def pids(self) -> dict[str, int]:
        return stack_pids(self.stack)


def verdict(samples: list[dict], flows: list[str], final: dict) -> dict:
    """Growth per hour by a least-squares line over the run after its first quarter (warm-up:
    pools filling, caches), p99 of the last five minutes against the first five (a short run:
    last minute against first), and the rows each table holds once the load is drained."""
    later = samples[len(samples) // 4:] if len(samples) >= 4 else samples

    def per_hour(values: list[tuple[int, float]]) -> float | None:
        if len(values) < 2:
            return None
        slope, _ = statistics.linear_regression([m for m, _ in values], [v for _, v in values])
        return round(slope * 60, 1)

    growth = {name: per_hour([(s["minute"], s["processes"][name]["rss_mb"]) for s in later
                              if name in s["processes"]]) for name in samples[-1]["processes"]}
    fds = {name: per_hour([(s["minute"], s["processes"][name]["fds"]) for s in later
                           if name in s["processes"]]) for name in samples[-1]["processes"]}
    window = 5 if len(samples) >= 10 else 1

    def p99(samples: list[dict], flow: str) -> float | None:
        values = [s["flows"][flow]["p99_ms"] for s in samples if s["flows"].get(flow, {}).get("p99_ms")]
        return statistics.median(values) if values else None

    drift = {}
    for flow in flows:
        a, b = p99(samples[:window], flow), p99(samples[-window:], flow)
        drift[flow] = {"first_ms": a, "last_ms": b, "change": round(b / a - 1, 2) if a and b else None}
    # Published outbox rows are kept ten minutes: judged over the run's second half, once pruning runs.
    second_half = samples[len(samples) // 2:]
    outbox = {t: per_hour([(s["minute"], s["tables"][t]["rows"]) for s in second_half if t in s["tables"]])
              for t in final["tables"] if t.endswith(".outbox")}
    loaded = [s["cpu"] for s in samples if s.get("cpu")]
    cpu = {"machine_busy": statistics.median([c["machine_busy"] for c in loaded]) if loaded else None,
           "percent_of_a_core": {name: statistics.median([c["percent_of_a_core"].get(name, 0) for c in loaded])
                                 for name in (loaded[-1]["percent_of_a_core"] if loaded else {})}}
    # Events topics are kept forever (read models are rebuilt from them): the broker's disk grows with
    # the load, on purpose; this is the rate to size it by (every replica counted).
    kafka = per_hour([(s["minute"], s["kafka_log_mb"]) for s in later if "kafka_log_mb" in s])
    return {"rss_growth_mb_per_hour": growth, "fd_growth_per_hour": fds, "p99_drift": drift, "cpu_median": cpu,
            "outbox_rows_growth_per_hour": outbox, "kafka_log_mb_per_hour": kafka,
            "rows_at_end": {t: v["rows"] for t, v in final["tables"].items()}}


def report(figures: dict, out: Path) -> bool:
    """Write the figures and the plot to `out`, print the invariants and the verdict; whether every
    invariant held."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"soak-{stamp}.json").write_text(json.dumps(figures, indent=2, default=str))
    plot(figures, out / f"soak-{stamp}.png")
    ok = all(v["ok"] for v in figures["invariants"].values())
    for name, v in figures["invariants"].items():
        console.print(f"  {'✓' if v['ok'] else '✗'} {name:<26} {v['figure']}  ({v['says']})")
    v = figures["verdict"]
    console.print("RSS growth MB/hour (after warm-up): " + ", ".join(
        f"{k} {g:+.1f}" for k, g in v["rss_growth_mb_per_hour"].items() if g is not None))
    console.print("open files growth per hour: " + ", ".join(
        f"{k} {g:+.1f}" for k, g in v["fd_growth_per_hour"].items() if g is not None))
    console.print("outbox rows growth per hour (second half; pruned after 10 min): " + ", ".join(
        f"{k} {g:+.0f}" for k, g in v["outbox_rows_growth_per_hour"].items() if g is not None))
    if v.get("kafka_log_mb_per_hour") is not None:
        console.print(f"Kafka logs on disk (events kept forever): {v['kafka_log_mb_per_hour']:+,.1f} MB/hour")
    cpu = v["cpu_median"]
    console.print(f"CPU under load (median of the minutes): machine busy {cpu['machine_busy']}; % of a core: "
                  + ", ".join(f"{k} {p:.0f}" for k, p in cpu["percent_of_a_core"].items()))
    console.print("p99 first → last: " + ", ".join(
        f"{f} {d['first_ms']} → {d['last_ms']} ms" + (f" ({d['change']:+.0%})" if d["change"] is not None else "")
        for f, d in v["p99_drift"].items()))
    console.print(f"figures: {out / f'soak-{stamp}.json'}\nplot:    {out / f'soak-{stamp}.png'}")
    return ok


def plot(report: dict, path: Path) -> None:
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

"""CPU time of the stack's processes, read from /proc: what a stretch of load cost, every process
counted (the four services, the broker, PostgreSQL with its backends, the mail server).

PostgreSQL does its work in one backend process per connection: the postmaster's own time, the
time of its live backends, and the time of backends that have ended (which the kernel adds to the
postmaster's `cutime`/`cstime` once it has waited for them) together are everything it spent."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..stack import SERVICES, Stack
from ..stack.processes import read_pid

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 onwards)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def ticks(pid: int, *, with_children: bool = False) -> int | None:
    """utime + stime of a process; with `with_children`, also its ended children's (cutime +
    cstime) and its live children's own."""
    fields = _stat(pid)
    if fields is None:
        return None
    total = int(fields[11]) + int(fields[12])
    if with_children:
        total += int(fields[13]) + int(fields[14])
        for other in (d for d in os.listdir("/proc") if d.isdigit()):
            f = _stat(other)
            if f is not None and f[1] == str(pid):  # its parent
                total += int(f[11]) + int(f[12])
    return total


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every core since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def stack_pids(stack: Stack) -> dict[str, int]:
    """The stack's processes by name: the services (first replicas), kafka, mail, postgres."""
    pids = {s: stack.services.pid(s) for s in SERVICES}
    for name, pid_file in (*((stack.kafka_name(n), stack.pids / f"{stack.kafka_name(n)}.pid") for n in stack.nodes),
                           ("mail", stack.pids / "mail.pid"), ("postgres", stack.postgres.data / "postmaster.pid")):
        pids[name] = read_pid(pid_file)
    return {k: v for k, v in pids.items() if v}


@dataclass(frozen=True)
class Reading:
    at: float
    ticks: dict[str, int]
    machine: tuple[int, int]

    def spent_ms(self, before: Reading) -> dict[str, float]:
        """CPU milliseconds each process spent since `before` (processes seen in both)."""
        return {n: (t - before.ticks[n]) * 1000 / TICK for n, t in self.ticks.items() if n in before.ticks}

    def percent_of_a_core(self, before: Reading) -> dict[str, float]:
        elapsed = self.at - before.at
        return {n: round(ms / 10 / elapsed, 1) for n, ms in self.spent_ms(before).items()} if elapsed > 0 else {}

    def machine_busy(self, before: Reading) -> float | None:
        busy, total = self.machine[0] - before.machine[0], self.machine[1] - before.machine[1]
        return round(busy / total, 2) if total else None


def read_cpu(stack: Stack, extra: dict[str, int] | None = None) -> Reading:
    """CPU ticks of every stack process (and of `extra` processes by name) now."""
    pids = {**stack_pids(stack), **(extra or {})}
    counted = {n: ticks(p, with_children=n == "postgres") for n, p in pids.items()}
    return Reading(time.perf_counter(), {n: t for n, t in counted.items() if t is not None}, machine_ticks())

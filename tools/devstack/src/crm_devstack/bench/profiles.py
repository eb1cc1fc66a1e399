"""Profiles of the stack under a load, for what the CPU figures alone cannot say.

Flame graphs: py-spy samples each service process from outside (`--nonblocking`: the process is
never paused) for as long as the load runs, and writes one SVG per service. Statement profile:
PostgreSQL's own `pg_stat_statements` (loaded by the stack) is reset before the load and read
after it — calls, rows and time per statement in every service's database. Sampling costs CPU of
its own, so `make bench` profiles an extra run of a flow, never one whose figures it reports."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from rich.console import Console

from ..stack import SERVICES, Stack

console = Console()


def _py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


@asynccontextmanager
async def flame_graphs(stack: Stack, flow: str, seconds: float, out: Path):
    """Sample every service for `seconds` while the body runs; SVGs `flame-<flow>-<service>.svg`
    in `out`. Without py-spy, or without the right to trace (ptrace), says so and measures nothing."""
    exe = _py_spy()
    if exe is None:
        console.print("[yellow]py-spy is not installed: no flame graphs[/]")
        yield []
        return
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - one local directory, before any sampling
    running = {}
    for service in SERVICES:
        pid = stack.services.pid(service)
        if pid:
            svg = out / f"flame-{flow}-{service}.svg"
            running[svg] = subprocess.Popen(  # noqa: ASYNC220 - returns at once; awaited in a thread below
                [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "100",
                 "--nonblocking", "--format", "flamegraph", "--output", str(svg)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield list(running)
    finally:
        for svg, proc in running.items():
            try:
                _, err = await asyncio.to_thread(proc.communicate, timeout=seconds + 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                err = "py-spy did not finish"
            if proc.returncode != 0:
                console.print(f"[yellow]no flame graph {svg.name}: {(err or '').strip()[-200:]}[/]")


# Every service's statements, heaviest first; `toplevel` leaves out what functions run inside them.
STATEMENTS = """SELECT d.datname AS database, s.calls, s.rows, s.total_exec_time AS total_ms, s.query
                FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                WHERE s.toplevel AND d.datname = ANY($1::text[])
                ORDER BY s.total_exec_time DESC"""


@asynccontextmanager
async def statement_profile(stack: Stack, flow: str, commands: int, out: Path):
    """Time, calls and rows per statement of the services' databases while the body runs, per
    command of the flow, in `statements-<flow>.txt`. Says so and measures nothing where the
    server does not load `pg_stat_statements` (a PostgreSQL the stack did not start)."""
    conn = await asyncpg.connect(stack.admin_url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
    except asyncpg.PostgresError as exc:
        console.print(f"[yellow]no statement profile: {exc}[/]")
        await conn.close()
        yield None
        return
    try:
        path = out / f"statements-{flow}.txt"
        yield path
        rows = await conn.fetch(STATEMENTS, [f"crm_{s}" for s in SERVICES])
        out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - after the measurement, not during it
        path.write_text(statement_table(rows, commands, flow))
    finally:
        await conn.close()


def statement_table(rows: list, commands: int, flow: str, top: int = 25) -> str:
    """Per command of the flow: each statement's time, calls and rows, with its share of the total."""
    total = sum(r["total_ms"] for r in rows) or 1.0
    lines = [f"PostgreSQL statements per {flow} ({commands} commands): {total / commands:.3f} ms in all "
             f"({sum(r['calls'] for r in rows) / commands:.1f} statements)",
             f"{'ms':>7} {'share':>6} {'calls':>6} {'rows':>6}  database       statement"]
    for r in rows[:top]:
        query = re.sub(r"\s+", " ", r["query"]).strip()
        lines.append(f"{r['total_ms'] / commands:7.3f} {r['total_ms'] / total:6.1%} {r['calls'] / commands:6.2f} "
                     f"{r['rows'] / commands:6.2f}  {r['database']:<14} {query[:160]}")
    return "\n".join(lines) + "\n"

"""Flame graphs of the services under a load: py-spy samples each service process from outside
(`--nonblocking`: the process is never paused) for as long as the load runs, and writes one SVG
per service. Sampling costs CPU of its own, so `make bench` profiles an extra run of a flow,
never one whose figures it reports."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path

from rich.console import Console

from .stack import SERVICES, Stack

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
    out.mkdir(parents=True, exist_ok=True)
    running = {}
    for service in SERVICES:
        pid = stack.service_pid(service)
        if pid:
            svg = out / f"flame-{flow}-{service}.svg"
            running[svg] = subprocess.Popen(
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

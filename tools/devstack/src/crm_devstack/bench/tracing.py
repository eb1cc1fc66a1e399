"""What tracing costs: acceptances at 150/s with the services as they run by default (no OTLP
endpoint), then restarted exporting every span to a collector in the bench's process, then back.
Beside them, what the off path adds to each handled message, timed alone."""

from __future__ import annotations

import statistics
import timeit
from contextlib import asynccontextmanager
from collections.abc import AsyncIterator

from crm_contracts import command, identity
from crm_runtime import tracing

from ..spans import SpanReceiver
from ..stack import Stack
from .anchor import RATE, accept_rounds
from .figures import print_costs
from .harness import Bench, console




@asynccontextmanager
async def traced(stack: Stack) -> AsyncIterator[SpanReceiver]:
    async with SpanReceiver() as spans:
        try:
            await stack.restart_services({"OTEL_EXPORTER_OTLP_ENDPOINT": spans.endpoint})
            yield spans
        finally:
            await stack.restart_services()


def off_path_us() -> float:
    """Microseconds the tracing calls of one handled message that emits one event take with
    tracing off (the consumer span's `with`, the producer span's call), median of five timings."""
    assert not tracing.enabled()
    message = command(identity.SetOptIn(enabled=True), source="bench", accountid="acc_bench")

    def one() -> None:
        with tracing.handling(message, "identity.commands.v1"):
            tracing.producing(message)

    n = 100_000
    return statistics.median(timeit.timeit(one, number=n) for _ in range(5)) / n * 1e6


async def tracing_figures(stack: Stack, bench: Bench, rounds: int, seconds: float) -> dict:
    off = await accept_rounds(stack, bench, rounds, seconds, "tracing off")
    async with traced(stack) as spans:
        await bench.accepts(RATE, min(seconds, 5))  # warm-up of the exporters
        await stack.settled(180)
        before = len(spans.spans)
        on = await accept_rounds(stack, bench, rounds, seconds, "tracing on")
    exported = len(spans.spans) - before  # counted once the services, stopping, sent what they held
    accepted = rounds * int(RATE * seconds)
    figures = {"off": off, "on": on, "off_path_us_per_message": round(off_path_us(), 3),
               "spans_exported": exported, "spans_per_acceptance": round(exported / accepted, 1),
               "cpu_on_over_off": round(on["cpu"]["per_command_ms"] / off["cpu"]["per_command_ms"], 3)}
    print_tracing(figures)
    return figures


def print_tracing(figures: dict) -> None:
    off, on = figures["off"], figures["on"]
    print_costs({f"accept at {RATE}/s, tracing off": off["cpu"], f"accept at {RATE}/s, tracing on": on["cpu"]})
    console.print(
        f"tracing at {RATE}/s (medians of {len(off['runs'])}): off {off['cpu']['per_command_ms']:.2f} ms CPU, "
        f"p99 {off['p99_ms']:.0f} ms; on {on['cpu']['per_command_ms']:.2f} ms CPU "
        f"({figures['cpu_on_over_off']:.2f}× off), p99 {on['p99_ms']:.0f} ms; {figures['spans_exported']:,} spans "
        f"exported ({figures['spans_per_acceptance']} per acceptance). Off, a handled message's tracing calls take "
        f"{figures['off_path_us_per_message']:.2f} µs.")

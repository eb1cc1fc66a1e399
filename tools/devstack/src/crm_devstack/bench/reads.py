"""`crm-stack bench --only reads`: what the HTTP side costs — `GET /v1/seats` (an account's seat
summary, holders and charges, as an admin console asks it) of twenty accounts, sixteen requests in
flight, against the live stack: requests/s, latency, and CPU per request of every process, which
`docs/scaling.md` uses to say when reads need a replica of their own."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx

from ..stack import Stack
from .figures import median_cost, percentile, print_costs
from .harness import CREATED, Bench, console, creates

ACCOUNTS = 20
IN_FLIGHT = 16


async def only_reads(stack: Stack, bench: Bench, rounds: int, seconds: float) -> dict:
    accounts = creates(ACCOUNTS)
    await bench._answers(await bench._send_all(accounts), CREATED)
    url, headers = f"{stack.http('seats')}/v1/seats", stack.auth.as_operator()
    runs, costs = [], []
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=IN_FLIGHT)) as client:
        async def requests(n: int) -> dict:
            gate, latencies = asyncio.Semaphore(IN_FLIGHT), []

            async def one(i: int) -> None:
                async with gate:
                    began = time.perf_counter()
                    answer = await client.get(url, params={"account_id": accounts[i % ACCOUNTS].accountid},
                                              headers=headers)
                    answer.raise_for_status()
                    latencies.append(time.perf_counter() - began)

            began = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            return {"per_s": n / (time.perf_counter() - began), "p50_ms": percentile(latencies, 0.5) * 1000,
                    "p99_ms": percentile(latencies, 0.99) * 1000}

        await requests(200)  # warm-up: connections, plans
        for _ in range(rounds):
            await stack.settled(180)
            run, cost = await bench.costed(requests(bench.count), bench.count)
            runs.append(run)
            costs.append(cost)
            console.print(f"GET /v1/seats: {run['per_s']:,.0f}/s, p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms, "
                          f"{cost['per_command_ms']:.2f} ms CPU per request (the bench client {cost['client_ms']:.2f})")
    figures = {"runs": runs, "per_s": statistics.median(r["per_s"] for r in runs),
               "p99_ms": statistics.median(r["p99_ms"] for r in runs), "cpu": median_cost(costs)}
    print_costs({"GET /v1/seats": figures["cpu"]})
    return figures

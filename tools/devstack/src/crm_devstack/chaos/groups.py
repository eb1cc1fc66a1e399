"""`make chaos`'s scenarios for a group: the batches of several partitions that one fetch brought,
tried as one transaction (decision 0008). Both stop identity while the wave goes on, so it comes
back to records waiting on every partition and its first fetches are groups; then

- *kill -9 mid-group*: identity is started armed to kill itself inside the transaction holding
  a command due a second into the stop — the group's statements ran, its commit did not — and
  started again unarmed: nothing lost, nothing answered twice;
- *poison in a group*: every kind of poison record, and a valid command its handler refuses, are
  sent while identity is down, among the wave's commands: each is answered once, the records
  beside them in their group are handled, and identity counts the groups it had to split.

Both need a service started with settings of its own, which the local stack does (`make up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid

import httpx
from crm_contracts import command, identity
from crm_runtime.faults import CRASH_BEFORE_COMMIT

from ..stack import Stack
from ..waiting import eventually
from .harness import ANSWER_TIMEOUT, Chaos, Wave
from .poison import Cases, answered_once, send_poisons

DOWN_S = 2.0
SAID = f"fault_injected {CRASH_BEFORE_COMMIT}"


def killed_mid_group(stack: Stack, chaos: Chaos):
    seen: dict = {"died": False, "partitions": 0}

    async def fault() -> float:
        stopped = time.perf_counter()
        stack.services.stop("identity")
        ours = [c for c in chaos.current.commands if c.topic == "identity.commands.v1"
                and chaos.due[c.id] >= stopped + DOWN_S / 2]
        target = min(ours, key=lambda c: chaos.due[c.id])
        await asyncio.sleep(DOWN_S)
        before = stack.log_text("identity").count(SAID)
        stack.services.start("identity", env={CRASH_BEFORE_COMMIT: target.id})
        with contextlib.suppress(AssertionError):  # had it not died, the checks say so
            await eventually(lambda: stack.services.pid("identity") is None, timeout=60, what="identity dying")
        said = [line for line in stack.log_text("identity").splitlines() if SAID in line]
        seen["died"] = len(said) == before + 1
        if seen["died"] and (m := re.search(r"partitions=(\d+)", said[-1])):
            seen["partitions"] = int(m.group(1))
        restarted = time.perf_counter()
        stack.services.stop("identity")  # had it not died, it stops here
        stack.services.start("identity")
        await stack.health.wait("identity")
        return restarted

    def checks(w: Wave) -> dict:
        return {"killed_mid_group": {"ok": seen["died"] and seen["partitions"] > 1, "figure": seen,
                                     "says": "identity killed at the armed point, inside one transaction of "
                                             "that many partitions"}}
    return fault, checks


def poison_in_group(stack: Stack, chaos: Chaos):
    sent: dict[str, Cases] = {}
    seen: dict = {}

    async def fault() -> float:
        stack.services.stop("identity")
        sent["cases"] = await send_poisons(chaos.bus)
        # Valid, and refused by its handler (no such account): the one kind here that fails inside
        # the group's transaction rather than before it, so the group must split.
        refused = command(identity.SetOptIn(enabled=True), source="chaos",
                          accountid=f"acc_never_{uuid.uuid4().hex[:8]}")
        await chaos.bus.send(refused)
        await asyncio.sleep(DOWN_S)
        restarted = time.perf_counter()
        stack.services.start("identity")
        await stack.health.wait("identity")
        ok, seen["answers"] = await answered_once(chaos.bus, sent["cases"])
        await chaos.bus.wait_answered("identity.command.rejected", {refused.id}, timeout=ANSWER_TIMEOUT)
        seen["answers"]["refused"] = [e.data["reason"] for e in chaos.bus.events(
            lambda e: e.correlationid == refused.id)]
        seen["answered_once"] = ok and len(seen["answers"]["refused"]) == 1
        # The counters of the process started above: every group it tried since.
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(f"{stack.http('identity')}/metrics")).text
        seen["groups"] = {m.group(1): float(m.group(2)) for m in re.finditer(
            r'^crm_batch_groups_total\{crm_service="identity",outcome="(\w+)"\} (\S+)$', text, re.MULTILINE)}
        return restarted

    def checks(w: Wave) -> dict:
        return {"poison_in_group": {"ok": seen.get("answered_once", False) and seen["groups"].get("split", 0) >= 1,
                                    "figure": seen, "says": "each poison answered once; groups identity "
                                                            "committed whole or split after the restart"}}
    return fault, checks


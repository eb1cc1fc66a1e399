"""`make chaos` on a three-broker cluster (`KAFKA_BROKERS=3`): brokers lost under load.

- **one broker killed -9** mid-wave, the one leading the most partitions: the wave finishes on the
  other two (nothing lost, nothing doubled), and no command waits much longer than it took the
  cluster to elect new leaders for the dead broker's partitions (both printed);
- **a rolling restart**: each broker in turn stopped (a controlled shutdown hands its leaderships
  over), started and caught up before the next, under a longer wave;
- **two brokers down**: no partition has two replicas in sync, so nothing may be acknowledged
  (`min.insync.replicas=2`): producers wait, and everything completes once one broker returns.

Each returns the fault for `Chaos.run` and its own checks; `chaos.run` adds them when the cluster
is up.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from ..stack import Stack
from .harness import Chaos, Wave

# Long enough past the brokers' session timeout (9 s) that the cluster fences the dead broker and
# the rest of the wave runs on two.
ONE_DOWN_S = 12.0
TWO_DOWN_S = 8.0
# Slack over the measured election for a command's wait: the producer and the consumers find the
# new leaders on their next metadata refresh, and a consumer whose group coordinator died rejoins.
ELECTION_SLACK_S = 5.0


async def leaders(stack: Stack) -> dict[tuple[str, int], int]:
    """The leader of every partition of the contract's topics (-1: none)."""
    return {tp: p["leader"] for tp, p in (await stack.kafka.contract_partitions()).items()}


async def elected(stack: Stack, gone: set[int], timeout: float = 90.0) -> float:
    """Seconds until no partition is led by a broker in `gone` (or by none)."""
    started = time.perf_counter()
    while True:
        try:
            if not set((await leaders(stack)).values()) & (gone | {-1}):
                return round(time.perf_counter() - started, 1)
        except Exception:  # the broker answering metadata may be the one that just died
            pass
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"partitions still led by {sorted(gone)} after {timeout}s")
        await asyncio.sleep(0.2)


def busiest(led: dict[tuple[str, int], int], nodes: list[int]) -> list[int]:
    """The brokers, those leading the most partitions first: losing them moves the most."""
    counts = Counter(led.values())
    return sorted(nodes, key=lambda n: -counts[n])


class ClusterFaults:
    def __init__(self, stack: Stack, chaos: Chaos) -> None:
        self.stack = stack
        self.chaos = chaos
        self.figures: dict = {}

    def broker_kill(self):
        async def fault() -> float:
            self.figures = {}
            node = busiest(await leaders(self.stack), self.stack.nodes)[0]
            killed = time.perf_counter()
            self.stack.kafka.stop(kill=True, broker=node)
            self.figures.update(broker=node, killed_at=time.strftime("%H:%M:%S", time.gmtime()),
                                election_s=await elected(self.stack, {node}))
            await asyncio.sleep(max(0.0, killed + ONE_DOWN_S - time.perf_counter()))
            restarted = time.perf_counter()
            await self.stack.start_component("kafka", broker=node)
            self.figures["in_sync_again_s"] = round(await self.stack.kafka.wait_in_sync(), 1)
            return restarted

        def checks(w: Wave) -> dict:
            waited, slowest = self.chaos.longest_wait(w)
            bound = self.figures["election_s"] + ELECTION_SLACK_S
            return {"stall_within_election": {
                "ok": waited <= bound,
                "figure": {"broker": self.figures["broker"], "killed_at": self.figures["killed_at"],
                           "election_s": self.figures["election_s"],
                           "longest_wait_s": waited, "slowest": slowest and f"{slowest.type} {slowest.accountid}",
                           "in_sync_again_s": self.figures["in_sync_again_s"]},
                "says": f"longest command → answer wait ≤ election + {ELECTION_SLACK_S:.0f} s"}}
        return fault, checks

    def rolling_restart(self):
        async def fault() -> float:
            self.figures = {"restart_s": {}}
            for node in self.stack.nodes:
                began = time.perf_counter()
                self.stack.kafka.stop(broker=node)
                await self.stack.start_component("kafka", broker=node)
                await self.stack.kafka.wait_in_sync()
                self.figures["restart_s"][node] = round(time.perf_counter() - began, 1)
            return time.perf_counter()

        def checks(w: Wave) -> dict:
            return {"rolled": {"ok": set(self.figures["restart_s"]) == set(self.stack.nodes),
                               "figure": {"restart_and_in_sync_s": self.figures["restart_s"],
                                          "longest_wait_s": self.chaos.longest_wait(w)[0]},
                               "says": "each broker stopped, started and caught up in turn"}}
        return fault, checks

    def two_down(self):
        async def fault() -> float:
            # The broker left up is the one leading the most partitions: its followers are gone, so
            # an acknowledgement from it is the loss this scenario looks for.
            survivor, first, second = busiest(await leaders(self.stack), self.stack.nodes)
            self.figures = {"brokers": [first, second], "survivor": survivor}
            self.stack.kafka.stop(kill=True, broker=first)
            self.stack.kafka.stop(kill=True, broker=second)
            killed = time.perf_counter()
            await asyncio.sleep(TWO_DOWN_S)
            restarted = time.perf_counter()
            # A write acknowledged just before the kill can be heard a moment after it; from a second
            # on, an acknowledgement would mean a record held by one broker only.
            self.figures["window"] = (killed + 1.0, restarted)
            await self.stack.start_component("kafka", broker=first)
            return restarted

        async def heal() -> None:
            await self.stack.start_component("kafka", broker=self.figures["brokers"][1])
            await self.stack.kafka.wait_in_sync()

        def checks(w: Wave) -> dict:
            lo, hi = self.figures["window"]
            ids = {c.id for c in w.commands}
            acked = {i: t for i, t in self.chaos.acked.items() if i in ids}
            during = sum(lo <= t < hi for t in acked.values())
            held = sum(t >= hi and self.chaos.due[i] < hi for i, t in acked.items())
            return {"nothing_acked_on_one_broker": {
                "ok": during == 0 and held > 0,
                "figure": {"brokers_down": self.figures["brokers"], "leader_left_up": self.figures["survivor"],
                           "acked_while_two_down": during,
                           "sends_held_until_one_returned": held},
                "says": "no write acknowledged while one broker was up; held sends all completed"}}
        return fault, checks, heal

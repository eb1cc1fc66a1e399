"""`make bench`: the project's pipeline beside the limit and the naive peer, on the live stack.

1. Burst: COUNT `identity.account.create` commands sent at once (pipelined), timed until each
   `identity.account.created` is on the topic — the project's pipeline; then the same number of
   the same commands through the batched plain loop and the per-message loop (`loops.py`), each a
   process of its own on the same broker and PostgreSQL. Rounds alternate between the three; the
   table shows medians and the ratios to the batched loop.
2. Offered load: commands paced at each rate for a few seconds; p50/p95/p99 command → event,
   measured from when each command was due (so a sender that falls behind is not hidden).
3. `identity.invitation.accept` → `seats.seat.reserved` at 100/s, 150/s and 200/s (members invited
   beforehand); leads → `routing.lead.assigned` in bursts and at 250, 500 and 1,000 leads/s; each
   lead of a burst claimed by its agent → `routing.lead.claimed`, in bursts.
4. Two identity replicas against one, same burst.
5. CPU per command of each flow, every process of the stack counted (`cpu.py`: from /proc, from
   the first command until the stack has settled), and flame graphs of each service under the
   acceptance and lead loads (`profiles.py`, an extra run each) in `.run/bench/flame-*.svg`.
RSS of every service process is sampled throughout. Figures go to `.run/bench/bench-<time>.json`
and a plot of latency against offered load to `.run/bench/latency-<time>.png`.

The machine is shared and noisy: compare medians and ratios of one run, not single numbers.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable
from typing import TypeVar

from crm_contracts import CloudEvent, command, identity, leads, routing, seats
from rich.console import Console

from ..bus import Bus
from ..dates import period_args
from ..stack import Stack
from . import loops
from .cpu import read_cpu
from .figures import Run, percentile
from .profiles import flame_graphs, statement_profile
from .storage import read_written

console = Console()
CREATED = "identity.account.created"
ASSIGNED = "routing.lead.assigned"
CLAIMED = "routing.lead.claimed"
T = TypeVar("T")
IDLE_S = 3.0  # how long the idle draw is sampled before a costed stretch


def creates(n: int) -> list[CloudEvent]:
    out = []
    for i in range(n):
        acc = f"acc_bench_{uuid.uuid4().hex[:12]}"
        out.append(command(identity.CreateAccount(
            account_id=acc, name=f"Bench {i}", tier="enterprise",
            owner={"user_id": f"{acc}_o", "email": "bench@example.com", "first_name": "B", "last_name": "B"}),
            source="bench", accountid=acc))
    return out


class Bench:
    def __init__(self, stack: Stack, bus: Bus, count: int) -> None:
        self.stack = stack
        self.bus = bus
        self.count = count

    async def _send_all(self, cmds: list[CloudEvent], topic: str | None = None) -> dict[str, float]:
        sent_at: dict[str, float] = {}
        sends = []
        for cmd in cmds:
            sent_at[cmd.id] = time.perf_counter()
            sends.append(await self.bus.producer.send(topic or cmd.topic, cmd.to_json(), key=cmd.key.encode()))
        await asyncio.gather(*sends)
        return sent_at

    async def _answers(self, sent_at: dict[str, float], type_: str, timeout: float = 300) -> dict[str, float]:
        await self.bus.wait_answered(type_, set(sent_at), timeout=timeout)
        return {cid: self.bus.arrivals[(type_, cid)] for cid in sent_at}

    def _summary(self, name: str, sent_at: dict[str, float], arrived: dict[str, float]) -> Run:
        start = min(sent_at.values())
        latencies = [arrived[c] - sent_at[c] for c in sent_at]
        return Run(name, len(sent_at) / (max(arrived.values()) - start), percentile(latencies, 0.5) * 1000,
                   percentile(latencies, 0.95) * 1000, percentile(latencies, 0.99) * 1000)

    async def costed(self, work: Awaitable[T], commands: int) -> tuple[T, dict]:
        """`work`'s result and what it cost: CPU milliseconds per command of every stack process,
        from before it starts until the stack has settled after it (relays, commits, e-mails).

        The stack costs CPU when idle too (the broker's own upkeep, pollers, `settled` asking
        /health): that draw is measured for `IDLE_S` just before, settled, and what the same
        stretch would have cost idle is given beside the total (`idle_share_ms`), so a flow's
        own cost (`net_per_command_ms`) can be told from the time the window happened to last.
        What the stretch wrote per command (`storage.py`) is given too."""
        written = await read_written(self.stack)
        quiet = read_cpu(self.stack)
        await asyncio.sleep(IDLE_S)
        before = read_cpu(self.stack)
        idle_per_s = sum(before.spent_ms(quiet).values()) / (before.at - quiet.at)
        client = time.process_time()
        result = await work
        await self.stack.settled(180)
        after = read_cpu(self.stack)
        client = (time.process_time() - client) * 1000
        spent = after.spent_ms(before)
        total, idle = sum(spent.values()), idle_per_s * (after.at - before.at)
        wrote = (await read_written(self.stack)).per_command(written, commands)
        return result, {**wrote, "per_command_ms": round(total / commands, 3),
                        "net_per_command_ms": round(max(0.0, total - idle) / commands, 3),
                        "idle_share_ms": round(idle / commands, 3), "idle_ms_per_s": round(idle_per_s, 1),
                        # The bench's own process shares the two cores: not counted, but shown.
                        "client_ms": round(client / commands, 3),
                        "by_process_ms": {n: round(ms / commands, 3) for n, ms in spent.items()}}

    async def pipeline_burst(self, name: str = "crm-platform (identity)") -> Run:
        cmds = creates(self.count)
        sent_at = await self._send_all(cmds)
        return self._summary(name, sent_at, await self._answers(sent_at, CREATED))

    async def loop_burst(self, mode: str) -> Run:
        group = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
        # Popen returns once the process starts; its output is read in a thread below.
        proc = subprocess.Popen([sys.executable, "-m", "crm_devstack.bench.loops", mode, str(self.count), group],  # noqa: ASYNC220
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None  # stdout=PIPE
            ready = await asyncio.to_thread(proc.stdout.readline)
            if ready.strip() != "ready":
                raise RuntimeError(f"the {mode} loop did not start")
            cmds = creates(self.count)
            sent_at = await self._send_all(cmds, topic=loops.COMMANDS)
            arrived = await self._answers(sent_at, CREATED)
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait)
        label = {"batched": "plain loop, batched (the limit)", "per_message": "plain loop, per message"}[mode]
        return self._summary(label, sent_at, arrived)

    async def paced(self, rate: float, seconds: float, cmds: list[CloudEvent], answer: str,
                    profile: str | None = None) -> dict:
        """Send `cmds` at `rate` per second; latency from when each was due. With `profile`, a
        flame graph of each service under that load (`.run/bench/flame-<profile>-<service>.svg`) and the
        time of each database statement (`statements-<profile>.txt`)."""
        if profile:
            out = self.stack.run / "bench"
            async with (flame_graphs(self.stack, profile, len(cmds) / rate + 1, out),
                        statement_profile(self.stack, profile, len(cmds), out)):
                return await self.paced(rate, seconds, cmds, answer)
        due: dict[str, float] = {}
        sends = []
        start = time.perf_counter()
        for i, cmd in enumerate(cmds):
            at = start + i / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            due[cmd.id] = at
            sends.append(await self.bus.producer.send(cmd.topic, cmd.to_json(), key=cmd.key.encode()))
        await asyncio.gather(*sends)
        arrived = await self._answers(due, answer, timeout=max(120.0, seconds * 10))
        latencies = [(arrived[c] - due[c]) * 1000 for c in due]
        return {"offered_per_s": rate, "commands": len(cmds), "p50_ms": percentile(latencies, 0.5),
                "p95_ms": percentile(latencies, 0.95), "p99_ms": percentile(latencies, 0.99),
                "achieved_per_s": len(cmds) / (max(arrived.values()) - start)}

    async def accepts(self, rate: float, seconds: float, profile: str | None = None) -> dict:
        """Members invited beforehand (opt-in, free seats); their acceptances paced at `rate`
        (with `profile`: flame graphs of that stretch, see `paced`)."""
        total = int(rate * seconds)
        per_account = 25
        accounts = [f"acc_bench_{uuid.uuid4().hex[:12]}" for _ in range((total + per_account - 1) // per_account)]
        setup = []
        for acc in accounts:
            setup.append(command(identity.CreateAccount(
                account_id=acc, name="Bench", tier="enterprise",
                owner={"user_id": f"{acc}_o", "email": "bench@example.com", "first_name": "B", "last_name": "B"}),
                source="bench", accountid=acc))
            setup.append(command(seats.SetSubscription(seats_total=per_account + 5, seat_price_cents=4900,
                                                       currency="USD", **period_args()), source="bench", accountid=acc))
            setup.append(command(identity.SetOptIn(enabled=True), source="bench", accountid=acc))
        adds = [command(identity.AddMember(user_id=f"{acc}_m{i}", email=f"m{i}@example.com", first_name="M",
                                           last_name="B", user_type="platform", activation="opt_in",
                                           group_id=None, role="agent", by_user_id=f"{acc}_o"),
                        source="bench", accountid=acc)
                for acc in accounts for i in range(per_account)][:total]
        await self._answers(await self._send_all(setup[0::3]), CREATED)
        await self._send_all([c for k in (1, 2) for c in setup[k::3]])
        await asyncio.sleep(1)  # the subscription and opt-in switch land before the members
        added = await self._send_all(adds)
        await self._answers(added, "identity.invitation.issued")
        await self.stack.settled(180)  # the invitation e-mails are out before the clock starts
        issued = "identity.invitation.issued"
        # The tokens, as the invitees would read them from their e-mails.
        tokens = {cid: self.stack.auth.invitation_link(self.bus.first[(issued, cid)]).split("token=")[1] for cid in added}
        accept_cmds = [command(identity.AcceptInvitation(token=tokens[a.id]), source="bench", accountid=a.accountid)
                       for a in adds]
        figures, figures["cpu"] = await self.costed(self.paced(rate, seconds, accept_cmds, "seats.seat.reserved", profile),
                                                    len(accept_cmds))
        figures["path"] = "identity.invitation.accept -> seats.seat.reserved"
        return figures


    # --- routing: leads.lead.captured -> routing.lead.assigned -----------------------------------

    async def routing_setup(self, accounts: int = 24, members: int = 3) -> list[str]:
        """Enterprise accounts whose owner and `members` active agents take leads; their instances."""
        ids = [f"acc_bench_{uuid.uuid4().hex[:12]}" for _ in range(accounts)]
        created = await self._send_all([command(identity.CreateAccount(
            account_id=a, name="Bench", tier="enterprise",
            owner={"user_id": f"{a}_o", "email": "bench@example.com", "first_name": "B", "last_name": "B"}),
            source="bench", accountid=a) for a in ids])
        await self._answers(created, CREATED)
        instances = [self.bus.first[(CREATED, c)].data["enterprise_instance_id"] for c in created]
        subs = await self._send_all([command(seats.SetSubscription(
            seats_total=members + 1, seat_price_cents=4900, currency="USD", **period_args()), source="bench", accountid=a) for a in ids])
        await self._answers(subs, "seats.subscription.changed")
        adds = [command(identity.AddMember(user_id=f"{a}_m{i}", email=f"m{i}@example.com", first_name="M",
                                           last_name="B", user_type="platform", activation="immediate",
                                           group_id=None, role="agent", by_user_id=f"{a}_o"),
                        source="bench", accountid=a)
                for a in ids for i in range(members)]
        await self._answers(await self._send_all(adds), "seats.seat.reserved")
        await self.stack.settled(180)
        done = await self._send_all([command(identity.CompleteOnboarding(user_id=a.data["user_id"]), source="bench",
                                             accountid=a.accountid) for a in adds])
        await self._answers(done, "identity.member.status_changed")
        await self.stack.settled(180)
        return instances

    @staticmethod
    def leads_for(instances: list[str], n: int, account_of: dict[str, str]) -> list[CloudEvent]:
        out = []
        for i in range(n):
            ins = instances[i % len(instances)]
            out.append(command(leads.LeadCaptured(
                lead_id=f"lead_{uuid.uuid4().hex[:16]}", channel="manual", instance_id=ins,
                lead={"first_name": "L", "zip": f"94{i % 1000:03d}", "price": 500_000 + i}),
                source="bench", accountid=account_of[ins], instanceid=ins))
        return out

    async def _leads(self, instances: list[str], account_of: dict[str, str]
                     ) -> tuple[dict[str, float], dict[str, float]]:
        """A burst of leads: when each was sent and when its assignment arrived."""
        sent_at = await self._send_all(self.leads_for(instances, self.count, account_of))
        return sent_at, await self._answers(sent_at, ASSIGNED)

    async def lead_burst(self, instances: list[str], account_of: dict[str, str]) -> Run:
        return self._summary("crm-platform (routing)", *await self._leads(instances, account_of))

    async def assigned_leads(self, instances: list[str], account_of: dict[str, str]) -> list[CloudEvent]:
        """A burst of leads, and the assignment each got."""
        sent_at, _ = await self._leads(instances, account_of)
        return [self.bus.first[(ASSIGNED, cid)] for cid in sent_at]

    async def claim_burst(self, assigned: list[CloudEvent]) -> Run:
        """Every lead claimed by the agent it was assigned to, all at once: `routing.lead.claim` →
        `routing.lead.claimed`."""
        claims = [command(routing.ClaimLead(lead_id=a.data["lead_id"], user_id=a.data["user_id"]), source="bench",
                          accountid=a.accountid, instanceid=a.instanceid) for a in assigned]
        sent_at = await self._send_all(claims)
        return self._summary("crm-platform (claims)", sent_at, await self._answers(sent_at, CLAIMED))

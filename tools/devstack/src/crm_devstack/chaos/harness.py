"""`make chaos`: load through the real stack while parts of it fail, then the promises checked from
outside — through the events on the topics and the services' read endpoints.

Every scenario sends a wave of account sagas (create the account, set a two-seat subscription,
add three members activated at once: two get seats and invitation e-mails, one is denied), breaks
something while the wave is in flight, brings it back with the project's own commands, waits for
every command's answers and checks:

- effect exactly once: each command answered by its effect (or its rejection) exactly once;
- seats: no seat given twice or charged twice, used ≤ total in every event and every ledger;
- one e-mail per invitation;
- no record skipped: every consumer group at the end of every partition, every outbox empty;
- recovery: how long after the part came back the last answer of the wave arrived.

Scenarios are bounded in count and time and use loopback only. Results go to the console and to
`.run/chaos/chaos-<time>.json`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from crm_contracts import CloudEvent, command, identity, seats
from rich.console import Console

from ..bus import Bus
from ..dates import period_args
from ..stack import SERVICES, Stack

console = Console()
ACCOUNTS_PER_WAVE = 30
WAVE_SECONDS = 6.0
ANSWER_TIMEOUT = 180.0


@dataclass
class Wave:
    accounts: list[str]
    commands: list[CloudEvent] = field(default_factory=list)
    adds: list[CloudEvent] = field(default_factory=list)


def wave(tag: str, accounts: int = ACCOUNTS_PER_WAVE) -> Wave:
    w = Wave([f"acc_chaos_{tag}_{uuid.uuid4().hex[:8]}" for _ in range(accounts)])
    for acc in w.accounts:
        w.commands.append(command(identity.CreateAccount(
            account_id=acc, name="Chaos Realty", tier="enterprise",
            owner={"user_id": f"{acc}_o", "email": "owner@example.com", "first_name": "O", "last_name": "C"}),
            source="chaos", accountid=acc))
        w.commands.append(command(seats.SetSubscription(
            seats_total=3, seat_price_cents=4900, currency="USD", **period_args()), source="chaos", accountid=acc))
        for i in range(3):
            add = command(identity.AddMember(user_id=f"{acc}_m{i}", email=f"m{i}@example.com", first_name="M",
                                             last_name=str(i), user_type="platform", activation="immediate",
                                             group_id=None, role="agent", by_user_id=f"{acc}_o"),
                          source="chaos", accountid=acc)
            w.commands.append(add)
            w.adds.append(add)
    return w


ANSWERS = {"identity.account.create": ("identity.account.created",),
           "seats.subscription.set": ("seats.subscription.changed",),
           "identity.member.add": ("identity.member.added",)}


class Chaos:
    def __init__(self, stack: Stack, bus: Bus) -> None:
        self.stack = stack
        self.bus = bus
        self._index: dict[str, list[CloudEvent]] = {}
        self._indexed = 0
        self.due: dict[str, float] = {}  # command id -> when the wave meant to send it (perf_counter)
        self.acked: dict[str, float] = {}  # command id -> when the broker acknowledged it
        self.current = Wave([])  # the wave being sent (a fault may aim at one of its commands)

    async def send(self, cmds: list[CloudEvent], seconds: float) -> None:
        """Spread `cmds` over `seconds`, each account's in order and the accounts independently (as
        many producers would send them), so one partition waiting for a broker holds back only its
        own accounts. A send the broker cannot take now is retried, not dropped. When each was due
        and when the broker acknowledged it are kept (`due`, `acked`)."""
        start = time.perf_counter()
        for i, cmd in enumerate(cmds):
            self.due[cmd.id] = start + i * seconds / len(cmds)
        by_account: dict[str, list[CloudEvent]] = {}
        for cmd in cmds:
            by_account.setdefault(cmd.accountid, []).append(cmd)

        async def one_account(mine: list[CloudEvent]) -> None:
            for cmd in mine:
                delay = self.due[cmd.id] - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                while True:
                    try:
                        await self.bus.send(cmd)
                        self.acked[cmd.id] = time.perf_counter()
                        break
                    except Exception:  # the broker is down (that may be the point): try again
                        await asyncio.sleep(0.5)

        await asyncio.gather(*(one_account(mine) for mine in by_account.values()))

    async def run(self, name: str, fault: Callable[[], Awaitable[float]], *, accounts: int = ACCOUNTS_PER_WAVE,
                  seconds: float = WAVE_SECONDS, checks: Callable[[Wave], dict] | None = None,
                  heal: Callable[[], Awaitable[None]] | None = None) -> dict:
        """Send a wave; at a third of it, `fault()` breaks something and brings it back (returning
        when the restart began); then check every invariant, and `checks` of the scenario's own.
        `heal()` mends what the fault left broken (after the answers, before the next scenario)."""
        w = self.current = wave(name.split()[0].replace("-", ""), accounts)
        sending = asyncio.create_task(self.send(w.commands, seconds))
        await asyncio.sleep(seconds / 3)
        started = time.perf_counter()
        back_at = await fault()
        await sending
        answered_at = await self._answered(w)
        if heal is not None:
            await heal()
        await self.stack.settled(ANSWER_TIMEOUT)
        await self.deliveries_done()
        result = {"scenario": name, "fault_s": round(back_at - started, 1),
                  "recovered_s": round(max(0.0, answered_at - back_at), 1), **await self.check(w),
                  **(checks(w) if checks else {})}
        result["ok"] = all(v["ok"] for k, v in result.items() if isinstance(v, dict))
        return result

    def longest_wait(self, w: Wave) -> tuple[float, CloudEvent | None]:
        """The longest any command of the wave waited, from when it was due to its first answer,
        and that command."""
        longest: tuple[float, CloudEvent | None] = (0.0, None)
        for cmd in w.commands:
            kinds = (*ANSWERS[cmd.type], f"{cmd.type.split('.')[0]}.command.rejected")
            answered = [self.bus.arrivals[(k, cmd.id)] for k in kinds if (k, cmd.id) in self.bus.arrivals]
            if answered and cmd.id in self.due and min(answered) - self.due[cmd.id] > longest[0]:
                longest = (min(answered) - self.due[cmd.id], cmd)
        return round(longest[0], 1), longest[1]

    async def _answered(self, w: Wave) -> float:
        for type_, answers in ANSWERS.items():
            ids = {c.id for c in w.commands if c.type == type_}
            await self.bus.wait_answered(answers[0], ids, timeout=ANSWER_TIMEOUT)
        def seat_answered() -> str | None:
            missing = [a for a in w.adds if not self._events(a.id, "seats.seat.reserved", "seats.seat.denied")]
            return f"{len(missing)} members never got a seat answer" if missing else None
        await self.bus.until(seat_answered, ANSWER_TIMEOUT)
        return max(self.bus.arrivals.get((t, c.id), 0) for c in w.commands for t in
                   ("identity.account.created", "seats.subscription.changed", "identity.member.added"))

    def _events(self, correlation: str, *types: str) -> list[CloudEvent]:
        """Distinct events: a record published twice with one id (the outbox's at-least-once after a
        crash between publishing and marking) is one event, which consumers' inboxes drop."""
        return list({e.id: e for e in self._by_correlation().get(correlation, ()) if e.type in types}.values())

    def _by_correlation(self) -> dict[str, list[CloudEvent]]:
        """The bus's events by correlation id, indexed once per batch of new records (checks look
        up thousands of commands; a scan each would be quadratic)."""
        records = self.bus.records
        if self._indexed < len(records):
            for r in records[self._indexed:]:
                if r.event is not None and r.event.correlationid:
                    self._index.setdefault(r.event.correlationid, []).append(r.event)
            self._indexed = len(records)
        return self._index

    async def deliveries_done(self, timeout: float = ANSWER_TIMEOUT) -> None:
        """E-mails are sent by notifications' delivery worker after the events are handled; one a
        killed worker held waits for its lease to end."""
        deadline = time.monotonic() + timeout
        while (await self.stack.health.report("notifications") or {}).get("deliveries_pending", 1):
            if time.monotonic() > deadline:
                raise TimeoutError("notifications still has e-mails to deliver")
            await asyncio.sleep(0.5)
        await self.stack.settled(ANSWER_TIMEOUT)
        await self.bus.caught_up()

    async def check(self, w: Wave) -> dict:
        effects: Counter[int] = Counter()
        for cmd in w.commands:
            answers = self._events(cmd.id, *ANSWERS[cmd.type], f"{cmd.type.split('.')[0]}.command.rejected")
            effects[len(answers)] += 1
        seat_answers = Counter(len(self._events(a.id, "seats.seat.reserved", "seats.seat.denied")) for a in w.adds)
        mine = set(w.accounts)
        reserved = self.bus.events(lambda e: e.type == "seats.seat.reserved" and e.accountid in mine)
        over = [e for e in reserved if e.data["seats_used"] > e.data["seats_total"]]
        issued = list({e.id: e for e in self.bus.events(
            lambda e: e.type == "identity.invitation.issued" and e.accountid in mine)}.values())
        mails = Counter(e.data["cause_event_id"] for e in {e.id: e for e in self.bus.events(
            lambda e: e.type == "notifications.email.sent" and e.accountid in mine)}.values())
        records = self.bus.matching(lambda r: r.event is not None and r.event.accountid in mine)
        republished = len(records) - len({r.event.id for r in records if r.event is not None})
        per_invitation = Counter(mails.get(i.id, 0) for i in issued)
        ledgers = await self._ledgers(w.accounts)
        double = [acc for acc, body in ledgers.items()
                  if len(body["holders"]) != body["summary"]["seats_used"]
                  or body["summary"]["seats_used"] > body["summary"]["seats_total"]
                  or len({h["user_id"] for h in body["holders"]}) != len(body["holders"])]
        charged = [acc for acc, body in ledgers.items() if body["charges"]]  # no upgrades happen here
        backlog = {s: (await self.stack.health.report(s) or {}).get("outbox_backlog") for s in SERVICES}
        return {
            "effect_exactly_once": {"ok": set(effects) == {1}, "figure": dict(effects),
                                    "says": "commands by number of answers"},
            "seat_answer_once": {"ok": set(seat_answers) == {1}, "figure": dict(seat_answers),
                                 "says": "members by number of seat answers"},
            "no_double_booking": {"ok": not over and not double and not charged,
                                  "figure": {"events_over_total": len(over), "ledgers_wrong": len(double),
                                             "unexpected_charges": len(charged)},
                                  "says": "used ≤ total in every event and ledger; holders = used"},
            "one_email_per_invitation": {"ok": set(per_invitation) <= {1},
                                         "figure": {"invitations": len(issued), **{f"{k} e-mails": v for k, v
                                                                                   in per_invitation.items()}},
                                         "says": "invitations by e-mails sent"},
            "outboxes_empty": {"ok": all(v == 0 for v in backlog.values()), "figure": backlog,
                               "says": "rows waiting in each outbox"},
            "republished": {"ok": True, "figure": republished,
                            "says": "records published again with an id already out (dropped by inboxes)"},
        }

    async def _ledgers(self, accounts: list[str]) -> dict[str, dict]:
        gate = asyncio.Semaphore(16)  # thousands of accounts after a soak: a few at a time
        async with httpx.AsyncClient(timeout=30) as client:
            async def one(acc: str) -> tuple[str, dict]:
                async with gate:
                    r = await client.get(f"{self.stack.http('seats')}/v1/seats", params={"account_id": acc},
                                         headers=self.stack.auth.as_operator())
                    return acc, r.json()

            return dict(await asyncio.gather(*(one(acc) for acc in accounts)))

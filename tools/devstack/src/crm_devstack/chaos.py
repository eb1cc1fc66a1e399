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
import json
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from rich.console import Console
from rich.table import Table

from crm_contracts import CloudEvent, command, identity, seats

from .bus import Bus
from .stack import SERVICES, Stack
from .dates import period_args

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
            seats_total=2, seat_price_cents=4900, currency="USD", **period_args()), source="chaos", accountid=acc))
        for i in range(3):
            add = command(identity.AddMember(user_id=f"{acc}_m{i}", email=f"m{i}@example.com", first_name="M",
                                             last_name=str(i), user_type="platform", activation="immediate",
                                             group_id=None, role="agent"), source="chaos", accountid=acc)
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

    async def send(self, cmds: list[CloudEvent], seconds: float) -> None:
        """Spread `cmds` over `seconds`; a send the broker cannot take now is retried, not dropped."""
        start = time.perf_counter()
        for i, cmd in enumerate(cmds):
            delay = start + i * seconds / len(cmds) - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            while True:
                try:
                    await self.bus.send(cmd)
                    break
                except Exception:  # the broker is down (that may be the point): try again
                    await asyncio.sleep(0.5)

    async def run(self, name: str, fault: Callable[[], Awaitable[float]]) -> dict:
        """Send a wave; at a third of it, `fault()` breaks something and brings it back (returning
        when the restart began); then check every invariant."""
        w = wave(name.split()[0].replace("-", ""))
        sending = asyncio.create_task(self.send(w.commands, WAVE_SECONDS))
        await asyncio.sleep(WAVE_SECONDS / 3)
        started = time.perf_counter()
        back_at = await fault()
        await sending
        answered_at = await self._answered(w)
        await self.stack.settled(ANSWER_TIMEOUT)
        await self.deliveries_done()
        result = {"scenario": name, "fault_s": round(back_at - started, 1),
                  "recovered_s": round(max(0.0, answered_at - back_at), 1), **await self.check(w)}
        result["ok"] = all(v["ok"] for k, v in result.items() if isinstance(v, dict))
        return result

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
        while (await self.stack.health_report("notifications") or {}).get("deliveries_pending", 1):
            if time.monotonic() > deadline:
                raise TimeoutError("notifications still has e-mails to deliver")
            await asyncio.sleep(0.5)
        await self.stack.settled(ANSWER_TIMEOUT)
        await self.bus.caught_up()

    async def check(self, w: Wave) -> dict:
        effects = Counter()
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
        republished = len(records) - len({r.event.id for r in records})
        per_invitation = Counter(mails.get(i.id, 0) for i in issued)
        ledgers = await self._ledgers(w.accounts)
        double = [acc for acc, body in ledgers.items()
                  if len(body["holders"]) != body["summary"]["seats_used"]
                  or body["summary"]["seats_used"] > body["summary"]["seats_total"]
                  or len({h["user_id"] for h in body["holders"]}) != len(body["holders"])]
        charged = [acc for acc, body in ledgers.items() if body["charges"]]  # no upgrades happen here
        backlog = {s: (await self.stack.health_report(s) or {}).get("outbox_backlog") for s in SERVICES}
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
                                         headers=self.stack.as_operator())
                    return acc, r.json()

            return dict(await asyncio.gather(*(one(acc) for acc in accounts)))


# --- poison ------------------------------------------------------------------------------------------


def _poisons(acc: str) -> dict[str, tuple[bytes, list[tuple[str, bytes]]]]:
    """One record of every kind the runtime knows to refuse, as a sender could produce it."""
    def envelope(type_: str, data: dict) -> bytes:
        return json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "chaos", "type": type_,
                           "time": "2026-11-24T00:00:00Z", "accountid": acc, "data": data}).encode()

    create = {"account_id": acc, "name": "P", "tier": "enterprise",
              "owner": {"user_id": "o", "email": "o@example.com", "first_name": "O", "last_name": "P"}}
    return {
        "not_json": (b"\xff\xfe not json {", []),
        "not_a_cloudevent": (b'{"hello": "world"}', []),
        "unknown_type": (envelope("identity.account.explode", {}), [("ce_type", b"identity.account.explode")]),
        "out_of_contract": (envelope("identity.account.create", {**create, "tier": "galaxy"}), []),
        # Random text too long for an index row even compressed: within the contract, not the database.
        "out_of_database_range": (envelope("identity.group.create", {"group_id": secrets.token_hex(6000),
                                                                      "name": "n", "parent_group_id": None}), []),
        "bad_headers": (envelope("identity.account.set_opt_in", {"enabled": True}),
                        [("ce_type", b"seats.subscription.set"), ("\u00e9", b"\xff\xfe"), ("empty", b"")]),
    }


async def poison(chaos: Chaos) -> dict:
    """Each poison record between two valid commands on the same partition (same key): every poison
    is answered — a dead letter with its reason, a rejection, or, for a valid command under bad
    headers, its effect — and the valid command after it is handled."""
    bus = chaos.bus
    started = time.perf_counter()
    cases = {}
    for kind, (value, headers) in _poisons("x").items():
        acc = f"acc_poison_{kind.replace('_', '')}_{uuid.uuid4().hex[:6]}"
        value = value.replace(b'"accountid": "x"', f'"accountid": "{acc}"'.encode()).replace(
            b'"account_id": "x"', f'"account_id": "{acc}"'.encode())
        before = command(identity.CreateAccount(account_id=acc, name="Before", tier="enterprise", owner={
            "user_id": f"{acc}_o", "email": "o@example.com", "first_name": "O", "last_name": "B"}),
            source="chaos", accountid=acc)
        after = command(identity.SetOptIn(enabled=True), source="chaos", accountid=acc)
        await bus.send(before)
        await bus.send_raw("identity.commands.v1", value, key=acc, headers=headers)
        await bus.send(after)
        try:
            poison_id = json.loads(value)["id"]
        except (ValueError, KeyError, TypeError):
            poison_id = None
        cases[kind] = (acc, poison_id, after)
    figures, ok = {}, True
    for kind, (acc, poison_id, after) in cases.items():
        await bus.wait_answered("identity.account.opt_in_changed", {after.id}, timeout=ANSWER_TIMEOUT)

        def answers(acc=acc, poison_id=poison_id):
            return bus.matching(lambda r: r.key == acc and (
                r.topic == "identity.commands.v1.dlq" or
                (r.event is not None and poison_id is not None and r.event.correlationid == poison_id)))
        await bus.until(lambda: None if answers() else f"{kind} was never answered", 60)
        found = answers()
        figures[kind] = [r.headers.get("dlq_reason") if r.topic.endswith(".dlq") else
                         ("rejected:" + r.event.data["reason"] if r.event.type.endswith("rejected") else r.event.type)
                         for r in found]
        # A sender's mistake is dead-lettered and, when the envelope says who sent it, also rejected.
        dead = sum(1 for r in found if r.topic.endswith(".dlq"))
        ok = ok and 1 <= len(found) and dead <= 1 and len(found) - dead <= 1
    await chaos.stack.settled(ANSWER_TIMEOUT)
    await bus.caught_up()
    return {"scenario": "poison records", "fault_s": 0.0, "recovered_s": round(time.perf_counter() - started, 1),
            "each_poison_answered_once": {"ok": ok, "figure": figures,
                                          "says": "how each poison was answered; the valid command after "
                                                  "each was handled"},
            "ok": ok}


# --- faults ------------------------------------------------------------------------------------------


def kill_and_restart(stack: Stack, component: str, *, down_s: float = 2.0, kill: bool = True):
    """Stop (or kill) `component`, leave it down `down_s`, start it again; returns when the restart
    began, the moment recovery is measured from."""
    async def fault() -> float:
        stack.stop_component(component, kill=kill)
        await asyncio.sleep(down_s)
        restarted = time.perf_counter()
        await stack.start_component(component)
        return restarted
    return fault


def seats_one_three_one(stack: Stack):
    async def fault() -> float:
        for replica in (2, 3):
            await stack.start_component("seats", replica=replica)
        await asyncio.sleep(1.5)
        stack.stop_component("seats", replica=3, kill=True)
        await asyncio.sleep(1.5)
        stack.stop_component("seats", replica=2)
        return time.perf_counter()
    return fault


async def main(scenarios: list[str] | None = None) -> int:
    stack = Stack()
    out = stack.run / "chaos"
    out.mkdir(parents=True, exist_ok=True)
    bus = Bus(stack.kafka_args(), source="chaos")
    await bus.start(watch=["identity.events.v1", "seats.events.v1", "notifications.events.v1",
                           "identity.commands.v1.dlq"])
    chaos = Chaos(stack, bus)
    plan: list[tuple[str, Callable[[], Awaitable[float]]]] = [
        *((f"{s} kill -9", kill_and_restart(stack, s)) for s in SERVICES),
        ("seats replicas 1-3-1", seats_one_three_one(stack)),
        ("kafka kill -9", kill_and_restart(stack, "kafka", down_s=3.0)),
        ("postgres crash", kill_and_restart(stack, "postgres", down_s=3.0)),
        *((f"{s} SIGTERM", kill_and_restart(stack, s, down_s=0.5, kill=False)) for s in ("identity", "seats")),
    ]
    results = []
    try:
        if not scenarios or any("poison".startswith(s) or s.startswith("poison") for s in scenarios):
            console.rule("[bold]poison records")
            results.append(await poison(chaos))
            _print_one(results[-1])
        for name, fault in plan:
            if scenarios and not any(name.startswith(s) for s in scenarios):
                continue
            console.rule(f"[bold]{name}")
            await stack.settled(ANSWER_TIMEOUT)
            result = await chaos.run(name, fault)
            results.append(result)
            _print_one(result)
    finally:
        await bus.stop()
    _print_all(results)
    path = out / f"chaos-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    console.print(f"figures: {path}")
    return 0 if results and all(r["ok"] for r in results) else 1


def _print_one(r: dict) -> None:
    for key, v in r.items():
        if isinstance(v, dict):
            mark = "[green]✓[/]" if v["ok"] else "[red]✗[/]"
            console.print(f"  {mark} {key:<26} {v['figure']}  ({v['says']})")
    console.print(f"  down {r['fault_s']} s; every answer of the wave was out {r['recovered_s']} s after the restart began")


def _print_all(results: list[dict]) -> None:
    table = Table(title="make chaos")
    for col in ("scenario", "down s", "caught up s after restart", "result"):
        table.add_column(col)
    for r in results:
        table.add_row(r["scenario"], str(r["fault_s"]), str(r["recovered_s"]),
                      "[green]ok[/]" if r["ok"] else "[red]broken: " + ", ".join(
                          k for k, v in r.items() if isinstance(v, dict) and not v["ok"]) + "[/]")
    console.print(table)

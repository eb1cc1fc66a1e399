"""`make chaos`'s poison scenario: records no service can read, or that break a rule, sent among
valid ones — each must be answered or dead-lettered with its reason, and nothing after it held up."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from datetime import UTC, datetime

from crm_contracts import CloudEvent, command, identity

from ..bus import Bus

from .harness import ANSWER_TIMEOUT, Chaos


def _poisons(acc: str) -> dict[str, tuple[bytes, list[tuple[str, bytes | None]]]]:
    """One record of every kind the runtime knows to refuse, as a sender could produce it."""
    def envelope(type_: str, data: dict) -> bytes:
        return json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "chaos", "type": type_,
                           "time": datetime.now(UTC).isoformat(), "accountid": acc, "data": data}).encode()

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


Cases = dict[str, tuple[str, str | None, CloudEvent]]  # kind -> (account, the poison's id, the command after it)


async def send_poisons(bus: Bus) -> Cases:
    """Each poison record between two valid commands on the same partition (same key), each kind
    on an account of its own."""
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
    return cases


async def answered_once(bus: Bus, cases: Cases) -> tuple[bool, dict[str, list]]:
    """Whether every poison was answered — a dead letter with its reason, a rejection, or, for a
    valid command under bad headers, its effect — exactly once, and the valid command after it
    handled; and how each was answered."""
    figures, ok = {}, True
    for kind, (acc, poison_id, after) in cases.items():
        await bus.wait_answered("identity.account.opt_in_changed", {after.id}, timeout=ANSWER_TIMEOUT)

        def answers(acc: str = acc, poison_id: str | None = poison_id) -> list:
            def this_one(rec) -> bool:
                return rec.key == acc and (rec.topic == "identity.commands.v1.dlq" or (
                    rec.event is not None and poison_id is not None and rec.event.correlationid == poison_id))
            return bus.matching(this_one)
        def unanswered(kind: str = kind) -> str | None:
            return None if answers() else f"{kind} was never answered"
        await bus.until(unanswered, 60)
        found = answers()
        figures[kind] = [r.headers.get("dlq_reason") if r.topic.endswith(".dlq") else
                         ("rejected:" + r.event.data["reason"] if r.event.type.endswith("rejected") else r.event.type)
                         for r in found]
        # A sender's mistake is dead-lettered and, when the envelope says who sent it, also rejected.
        dead = sum(1 for r in found if r.topic.endswith(".dlq"))
        ok = ok and len(found) >= 1 and dead <= 1 and len(found) - dead <= 1
    return ok, figures


async def poison(chaos: Chaos) -> dict:
    """Every kind of poison sent among valid commands while the services run."""
    started = time.perf_counter()
    ok, figures = await answered_once(chaos.bus, await send_poisons(chaos.bus))
    await chaos.stack.settled(ANSWER_TIMEOUT)
    await chaos.bus.caught_up()
    return {"scenario": "poison records", "fault_s": 0.0, "recovered_s": round(time.perf_counter() - started, 1),
            "each_poison_answered_once": {"ok": ok, "figure": figures,
                                          "says": "how each poison was answered; the valid command after "
                                                  "each was handled"},
            "ok": ok}

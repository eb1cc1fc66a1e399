"""Issue 2's flow end to end: identity.account.create -> identity -> seats, on the real stack."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid

import asyncpg
import httpx
import pytest

from crm_contracts import CloudEvent, command, identity, seats
from crm_runtime.faults import CRASH_AFTER_COMMIT, CRASH_BEFORE_COMMIT
from crm_devstack.dates import period_args
from crm_devstack.waiting import eventually

pytestmark = pytest.mark.stack


def create_account(account_id: str, name: str = "Lane Realty") -> identity.CreateAccount:
    return identity.CreateAccount(
        account_id=account_id, name=name, tier="enterprise",
        owner={"user_id": f"{account_id}_owner", "email": "owner@example.com",
               "first_name": "Ada", "last_name": "Lane"})


def subscription(total: int = 5) -> seats.SetSubscription:
    return seats.SetSubscription(seats_total=total, seat_price_cents=4900, currency="USD",
                                 **period_args())


async def get_json(url: str, headers: dict[str, str]) -> tuple[int, dict]:
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.get(url, headers=headers)
        return r.status_code, r.json()


async def seat_ledger(stack, account_id: str, *, until=lambda body: True, timeout: float = 20) -> dict:
    """Poll the seats read endpoint until `until(body)` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status, body = await get_json(f"{stack.http('seats')}/v1/seats?account_id={account_id}", stack.auth.as_operator())
        if status == 200 and until(body):
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"seat ledger never matched: {status} {body}")
        await asyncio.sleep(0.2)


async def test_account_created_and_seat_ledger_opened(stack, bus, account_id):
    cmd = await bus.command(create_account(account_id), accountid=account_id)

    [created] = await bus.wait_event("identity.account.created", correlationid=cmd.id)
    assert created.causationid == cmd.id
    assert created.accountid == account_id
    assert created.source == "crm/identity"
    assert created.data["tier"] == "enterprise"
    assert created.data["enterprise_instance_id"].startswith("ins_")

    status, body = await get_json(f"{stack.http('identity')}/v1/accounts?account_id={account_id}", stack.auth.as_operator())
    assert status == 200 and body["account"]["name"] == "Lane Realty"

    ledger = await seat_ledger(stack, account_id, until=lambda b: b["history"])
    assert ledger["history"][0]["change"] == "account_opened"
    assert ledger["history"][0]["cause_event_id"] == created.id

    sub = await bus.command(subscription(total=5), accountid=account_id)
    [changed] = await bus.wait_event("seats.subscription.changed", correlationid=sub.id)
    assert changed.causationid == sub.id and changed.data["seats_total"] == 5
    ledger = await seat_ledger(stack, account_id, until=lambda b: b["summary"]["seats_used"] == 1)
    # The owner sits in one of the seats from the first subscription, and the ledger names them.
    assert ledger["summary"]["owner"] == {"user_id": f"{account_id}_owner", "holds_seat": True}
    assert (ledger["summary"]["seats_total"], ledger["summary"]["seats_available"]) == (5, 4)
    assert [(h["change"], h["user_id"], h["account_owner"]) for h in ledger["history"]] == [
        ("account_opened", None, False), ("subscription_set", None, False),  # waited in between
        ("reserved", f"{account_id}_owner", True)]


async def test_a_command_delivered_twice_changes_state_once_and_is_answered_once(stack, bus, account_id):
    cmd = command(create_account(account_id), source="test-suite", accountid=account_id)
    await bus.send(cmd)
    await bus.send(cmd)
    await bus.wait_event("identity.account.created", correlationid=cmd.id)
    await stack.settled()
    assert len(bus.events(lambda e: e.correlationid == cmd.id)) == 1
    ledger = await seat_ledger(stack, account_id, until=lambda b: b["history"])
    await stack.settled()
    ledger = await seat_ledger(stack, account_id)
    assert [h["change"] for h in ledger["history"]] == ["account_opened"]


async def test_malformed_records_are_dead_lettered_and_the_partition_moves_on(stack, bus, account_id):
    topic = identity.COMMANDS.name
    await bus.send_raw(topic, b"{this is not json", key=account_id)
    bad_data = command(create_account(account_id), source="test-suite", accountid=account_id)
    bad_data = bad_data.model_copy(update={"data": {**bad_data.data, "tier": "galactic", "owner": {}}})
    await bus.send(bad_data)
    good = await bus.command(create_account(account_id), accountid=account_id)

    dead = await bus.wait_for(lambda r: r.topic == f"{topic}.dlq" and r.key == account_id, count=2)
    by_reason = {r.headers["dlq_reason"]: r for r in dead}
    assert set(by_reason) == {"invalid_json", "invalid_data"}
    assert by_reason["invalid_json"].value == b"{this is not json"
    assert json.loads(by_reason["invalid_data"].value)["id"] == bad_data.id  # copied unchanged
    assert "tier" in by_reason["invalid_data"].headers["dlq_error"]
    for record in dead:
        h = record.headers
        assert h["dlq_source_topic"] == topic
        assert int(h["dlq_source_offset"]) >= 0 and int(h["dlq_source_partition"]) >= 0
        assert h["dlq_consumer_group"] == "crm-identity" + stack.group_suffix
        assert h["dlq_failed_at"].endswith("Z")
    # All three went to one partition (same key); the valid one behind the junk was handled.
    assert len({r.headers["dlq_source_partition"] for r in dead}) == 1
    await bus.wait_event("identity.account.created", correlationid=good.id)


async def test_a_record_at_the_brokers_size_limit_is_dead_lettered_with_a_digest_and_the_partition_moves_on(
        bus, account_id):
    """The dead-letter copy adds headers: a record close to the limit once could not be copied,
    was retried for ever and held its partition. Now the copy keeps the head of the payload, with
    the original's size and SHA-256, and fits."""
    topic = identity.COMMANDS.name
    junk = b"{" + bytes(range(97, 123)) * (1_048_400 // 26)  # about 1 MB, not JSON
    await bus.send_raw(topic, junk, key=account_id)
    good = await bus.command(create_account(account_id), accountid=account_id)
    [dead] = await bus.wait_for(lambda r: r.topic == f"{topic}.dlq" and r.key == account_id, timeout=60)
    assert dead.headers["dlq_reason"] == "invalid_json"
    assert dead.headers["dlq_truncated"] == "true"
    assert int(dead.headers["dlq_original_bytes"]) == len(junk)
    assert dead.headers["dlq_original_sha256"] == hashlib.sha256(junk).hexdigest()
    assert 0 < len(dead.value) < len(junk) and junk.startswith(dead.value)
    await bus.wait_event("identity.account.created", correlationid=good.id)


async def test_a_command_with_headers_that_are_not_text_is_answered_not_lost(bus, account_id):
    """FastStream's header parsing once failed before the runtime saw such a record: it vanished."""
    cmd = command(create_account(account_id), source="test-suite", accountid=account_id)
    await bus.send_raw(identity.COMMANDS.name, cmd.to_json(), key=account_id,
                       headers=[("ce_type", b"identity.account.create"), ("trace", b"\xff\xfe\x00"), ("empty", None)])
    [created] = await bus.wait_event("identity.account.created", correlationid=cmd.id)
    assert created.data["account_id"] == account_id


async def test_unknown_type_on_a_command_topic_is_dead_lettered(bus, account_id):
    junk = CloudEvent(specversion="1.0", id="x-" + account_id, source="test-suite",
                      type="identity.account.explode", accountid=account_id, data={})
    await bus.send_raw(identity.COMMANDS.name, junk.to_json(), key=account_id)
    [dead] = await bus.wait_for(lambda r: r.topic == "identity.commands.v1.dlq" and r.key == account_id)
    assert dead.headers["dlq_reason"] == "unknown_type"
    assert "identity.account.explode" in dead.headers["dlq_error"]


async def test_creating_an_existing_account_with_other_data_is_rejected(bus, account_id):
    first = await bus.command(create_account(account_id, name="Lane Realty"), accountid=account_id)
    await bus.wait_event("identity.account.created", correlationid=first.id)
    second = await bus.command(create_account(account_id, name="Other Name"), accountid=account_id)
    [rejected] = await bus.wait_event("identity.command.rejected", correlationid=second.id)
    assert rejected.data == {"command_id": second.id, "command_type": "identity.account.create",
                             "reason": "account_already_exists", "message": rejected.data["message"]}
    assert account_id in rejected.data["message"]
    # The same data again is a retry: answered with the account as it is, nothing changes.
    third = await bus.command(create_account(account_id, name="Lane Realty"), accountid=account_id)
    [again] = await bus.wait_event("identity.account.created", correlationid=third.id)
    assert again.data["enterprise_instance_id"] == (
        bus.events(lambda e: e.correlationid == first.id)[0].data["enterprise_instance_id"])


async def test_account_id_must_match_the_envelope(bus, account_id):
    cmd = await bus.command(create_account(account_id), accountid=account_id + "_other")
    [rejected] = await bus.wait_event("identity.command.rejected", correlationid=cmd.id)
    assert rejected.data["reason"] == "account_id_mismatch"


@pytest.mark.parametrize("seats_total", [-1, 3_000_000_000])
async def test_seats_out_of_range_are_dead_lettered_and_answered(bus, account_id, seats_total):
    """3,000,000,000 passed the contract once and failed in the database as a 'handler_error'.
    The contract bounds it now: the record is dead-lettered and its sender told why."""
    bad = command(subscription(), source="test-suite", accountid=account_id)
    bad = bad.model_copy(update={"data": {**bad.data, "seats_total": seats_total}})
    await bus.send(bad)
    [dead] = await bus.wait_for(lambda r: r.topic == "seats.commands.v1.dlq" and r.key == account_id)
    assert dead.headers["dlq_reason"] == "invalid_data"
    assert "seats_total" in dead.headers["dlq_error"]
    [answer] = await bus.wait_event("seats.command.rejected", correlationid=bad.id)
    assert answer.data["reason"] == "invalid_data" and answer.data["command_id"] == bad.id
    assert "seats_total" in answer.data["message"]


async def test_an_import_answer_always_fits_and_identity_keeps_publishing(bus, account_id):
    """12,000 empty rows once made a 1.7 MB answer that blocked identity's outbox for everyone."""
    created = await bus.command(create_account(account_id), accountid=account_id)
    await bus.wait_event("identity.account.created", correlationid=created.id)
    too_many = await bus.command(identity.ImportMembers.model_construct(rows=[{}] * 12_000, by_user_id=f"{account_id}_owner"), accountid=account_id)
    [refused] = await bus.wait_event("identity.command.rejected", correlationid=too_many.id)
    assert refused.data["reason"] == "invalid_data" and "rows" in refused.data["message"]

    most = await bus.command(identity.ImportMembers(rows=[{}] * 1_000, by_user_id=f"{account_id}_owner"), accountid=account_id)
    parts = await bus.wait_event("identity.member.import_completed", correlationid=most.id, count=4)
    assert sorted(p.data["part"] for p in parts) == [1, 2, 3, 4] and {p.data["parts"] for p in parts} == {4}
    rows = sorted(r["row"] for p in parts for r in p.data["results"])
    assert rows == list(range(1, 1001))
    assert {r["reason"] for p in parts for r in p.data["results"]} == {"invalid_row"}
    marker = await bus.command(identity.CreateGroup(group_id="after", name="After", parent_group_id=None),
                               accountid=account_id)
    await bus.wait_event("identity.group.created", correlationid=marker.id)


async def _crash_identity_on(stack, variable: str, target: CloudEvent, burst: list[CloudEvent], bus) -> None:
    """Restart identity armed to SIGKILL itself at one point of the batch holding `target`, send
    `burst`, see it die there, and bring it back the way an operator would."""
    said = f"fault_injected {variable}"
    stack.services.stop("identity")
    try:
        before = stack.log_text("identity").count(said)
        stack.services.start("identity", env={variable: target.id})
        await stack.health.wait("identity")
        for cmd in burst:
            await bus.producer.send(cmd.topic, cmd.to_json(), key=cmd.key.encode())
        await bus.producer.flush()
        await eventually(lambda: stack.services.pid("identity") is None, timeout=30, what="identity stopping")
        # It died at the armed point, not of anything else.
        assert stack.log_text("identity").count(said) == before + 1, "identity did not die at the crash point"
    finally:
        stack.services.start("identity")
        await stack.health.wait("identity")


async def _each_answered_once(stack, bus, burst: list[CloudEvent]) -> None:
    for cmd in burst:
        await bus.wait_event("identity.account.created", correlationid=cmd.id, timeout=60)
    # A marker behind each key: a second answer to anything before it would arrive before its answer.
    markers = [await bus.command(identity.CreateGroup(group_id="marker", name="Marker", parent_group_id=None),
                                 accountid=cmd.accountid) for cmd in burst]
    for marker in markers:
        await bus.wait_event("identity.group.created", correlationid=marker.id, timeout=60)
    for cmd in burst:
        answers = bus.events(lambda e, c=cmd: e.correlationid == c.id and e.type.startswith("identity."))
        assert len({e.id for e in answers}) == 1, f"{cmd.accountid} answered {len(answers)} times"
    conn = await asyncpg.connect(stack.database_url("identity"))
    try:
        accounts = [c.accountid for c in burst]
        assert await conn.fetchval("SELECT count(*) FROM accounts WHERE account_id = ANY($1)", accounts) == len(burst)
        assert await conn.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1)",
                                   [c.id for c in burst]) == len(burst)
    finally:
        await conn.close()


def _burst(n: int) -> list[CloudEvent]:
    ids = ["acc_" + uuid.uuid4().hex[:12] for _ in range(n)]
    return [command(create_account(a), source="test-suite", accountid=a) for a in ids]


@pytest.mark.local_stack
async def test_identity_killed_mid_batch_before_its_transaction_commits_loses_nothing(stack, bus):
    """Were offsets committed before the transaction (at-most-once), the batch would be lost here."""
    burst = _burst(60)
    await _crash_identity_on(stack, CRASH_BEFORE_COMMIT, burst[30], burst, bus)
    await _each_answered_once(stack, bus, burst)


@pytest.mark.local_stack
async def test_identity_killed_after_commit_before_offset_commit_duplicates_nothing(stack, bus):
    burst = _burst(60)
    await _crash_identity_on(stack, CRASH_AFTER_COMMIT, burst[30], burst, bus)
    await _each_answered_once(stack, bus, burst)


async def test_the_seat_ledger_names_the_person_behind_each_change(platform, new_account_id):
    """"Allows account admins to add agents": each seat taken or given back names who did it — the
    admin who added or deactivated the member, the member who accepted their invitation."""
    acc = new_account_id()
    await platform.enterprise(acc, seats_total=4)
    await platform.active(acc, "ada", role="admin")
    added = await platform.send(acc, identity.AddMember(
        user_id="bo", email="bo@example.com", first_name="Bo", last_name="B", user_type="platform",
        activation="immediate", role="agent", by_user_id="ada"))
    await platform.answer(added, "seats.seat.reserved")
    invited = await platform.answer(await platform.add(acc, "cy", activation="opt_in"), "identity.invitation.issued")
    await platform.click(platform.stack.auth.invitation_link(invited))
    await platform.bus.wait_event("seats.seat.reserved", where=lambda e: e.accountid == acc
                                  and e.data["user_id"] == "cy")
    await platform.answer(await platform.send(acc, identity.DeactivateMember(user_id="bo", by_user_id="ada")),
                          "seats.seat.released")
    history = (await platform.seats(acc))["history"]
    by = [(h["change"], h["user_id"], h["by_user_id"]) for h in history if h["user_id"] in ("bo", "cy")]
    assert by == [("reserved", "bo", "ada"), ("reserved", "cy", "cy"), ("released", "bo", "ada")], by

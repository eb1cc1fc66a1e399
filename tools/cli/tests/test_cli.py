"""`crm` against the live stack, run as a person runs it: a process, its output and exit code."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from crm_contracts import command, identity, seats
from crm_devstack.dates import period_args

pytestmark = pytest.mark.stack


async def crm(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "crm_cli.main", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


def create(account_id: str) -> dict:
    return {"account_id": account_id, "name": "CLI Realty", "tier": "enterprise",
            "owner": {"user_id": f"{account_id}_o", "email": "o@example.com", "first_name": "O", "last_name": "P"}}


async def test_publish_waits_for_the_answer(stack, account_id):
    code, out, _ = await crm("publish", "identity.account.create", "--account", account_id,
                             "--data", json.dumps(create(account_id)), "--wait", "-b", stack.bootstrap)
    assert code == 0
    assert "identity.account.created" in out and account_id in out


async def test_publish_explains_a_rejection_with_its_exit_code(stack, account_id):
    code, out, _ = await crm("publish", "identity.account.set_opt_in", "--account", account_id,
                             "--data", '{"enabled": true}', "--wait", "-b", stack.bootstrap)
    assert code == 1 and "identity.command.rejected" in out and "unknown_account" in out


async def test_data_outside_the_contract_is_explained_and_nothing_is_sent(stack, bus, account_id):
    code, _, err = await crm("publish", "seats.subscription.set", "--account", account_id,
                             "--data", '{"seats_total": 3000000000, "seat_price_cents": 1, "currency": "usd"}',
                             "-b", stack.bootstrap)
    assert code == 2
    for field in ("seats_total", "currency", "period_start", "period_end"):
        assert field in err
    marker = await bus.command(seats.SetSubscription(seats_total=1, seat_price_cents=1, currency="USD",
                                                     **period_args()),
                               accountid=account_id)
    await bus.wait_event("seats.subscription.changed", correlationid=marker.id)
    assert len(bus.matching(lambda r: r.topic.startswith("seats.commands") and r.key == account_id)) == 1


async def test_unknown_types_topics_and_brokers_are_one_line_not_a_traceback(stack):
    code, _, err = await crm("publish", "identity.acount.create", "--account", "a", "--data", "{}")
    assert code == 2 and "identity.account.create" in err and "Traceback" not in err
    code, _, err = await crm("watch", "no.such.topic", "--idle", "1", "-b", stack.bootstrap)
    assert code == 2 and "no topic no.such.topic" in err
    code, _, err = await crm("lag", "-b", "127.0.0.1:1")
    assert code == 3 and "cannot reach Kafka" in err and "Traceback" not in err


async def test_watch_filters_by_account_and_type(stack, bus, account_id):
    other = account_id + "_other"
    for acc in (other, account_id):
        cmd = await bus.command(identity.CreateAccount.model_validate(create(acc)), accountid=acc)
        await bus.wait_event("identity.account.created", correlationid=cmd.id)
    code, out, _ = await crm("watch", "identity.events.v1", "--account", account_id, "--type", "identity.account.*",
                             "--since", "5m", "--json", "--count", "1", "--idle", "15", "-b", stack.bootstrap)
    assert code == 0
    [line] = out.splitlines()
    event = json.loads(line)["event"]
    assert event["accountid"] == account_id and event["type"] == "identity.account.created"


async def test_trace_shows_an_opt_in_acceptance_as_a_tree(stack, bus, account_id):
    for data in (identity.CreateAccount.model_validate(create(account_id)),
                 seats.SetSubscription(seats_total=2, seat_price_cents=4900, currency="USD",
                                       **period_args()),
                 identity.SetOptIn(enabled=True)):
        await bus.command(data, accountid=account_id)
    await stack.settled()
    add = await bus.command(identity.AddMember(user_id="ana", email="ana@example.com", first_name="Ana",
                                               last_name="A", user_type="platform", activation="opt_in",
                                               group_id=None, role="agent"), accountid=account_id)
    [issued] = await bus.wait_event("identity.invitation.issued", correlationid=add.id)
    accept = await bus.command(identity.AcceptInvitation(token=stack.invitation_link(issued).split("token=")[1]),
                               accountid=account_id)
    await bus.wait_event("seats.seat.reserved", correlationid=accept.id)
    await stack.settled()
    code, out, _ = await crm("trace", accept.id, "--since", "10m", "-b", stack.bootstrap)
    assert code == 0
    lines = out.splitlines()
    depth = {t: next(len(line) - len(line.lstrip("│ ├└─")) for line in lines if t in line)
             for t in ("identity.invitation.accept ", "identity.invitation.accepted", "seats.seat.reserved")}
    # The command is the root's child; the acceptance is caused by it; the seat by the acceptance.
    assert depth["identity.invitation.accept "] < depth["identity.invitation.accepted"] < depth["seats.seat.reserved"]
    assert " ms " in out
    # The invitation's own saga, from the command to the e-mail that carried the link.
    code, out, _ = await crm("trace", add.id, "--since", "10m", "-b", stack.bootstrap)
    assert code == 0
    order = [t for t in ("identity.member.add ", "identity.invitation.issued", "notifications.email.sent") if t in out]
    assert order == ["identity.member.add ", "identity.invitation.issued", "notifications.email.sent"]
    assert out.index("identity.invitation.issued") < out.index("notifications.email.sent")


async def test_a_dead_letter_replayed_is_handled_and_a_second_replay_changes_nothing(stack, bus, account_id):
    """A command that failed once (say, while a bug was live) waits in the dead-letter topic; once
    the cause is fixed it is replayed to where it came from. Replaying it again does nothing."""
    failed = command(identity.CreateAccount.model_validate(create(account_id)), source="test", accountid=account_id)
    await bus.producer.send_and_wait("identity.commands.v1.dlq", failed.to_json(), key=account_id.encode(), headers=[
        ("ce_type", b"identity.account.create"), ("dlq_reason", b"handler_error"), ("dlq_error", b"a bug, since fixed"),
        ("dlq_source_topic", b"identity.commands.v1"), ("dlq_source_partition", b"0"),
        ("dlq_source_offset", b"0"), ("dlq_consumer_group", b"crm-identity"), ("dlq_failed_at", b"2026-11-24T00:00:00Z")])
    [dead] = await bus.wait_for(lambda r: r.topic == "identity.commands.v1.dlq" and r.key == account_id)
    where = ["--offset", str(dead.offset), "--partition", str(dead.partition), "-b", stack.bootstrap]

    code, out, _ = await crm("dlq", "show", "identity.commands.v1", str(dead.offset), "-p", str(dead.partition),
                             "-b", stack.bootstrap)
    assert code == 0 and "a bug, since fixed" in out and failed.id in out
    code, out, err = await crm("dlq", "replay", "identity.commands.v1", "--dry-run", *where)
    assert code == 0 and "would replay" in out, (out, err)
    await stack.settled()
    early = bus.matching(lambda r: r.event is not None and failed.id in (r.event.id, r.event.correlationid))
    assert [(r.topic, r.offset, r.headers) for r in early] == [(dead.topic, dead.offset, dead.headers)]

    for _ in range(2):
        code, out, err = await crm("dlq", "replay", "identity.commands.v1", *where)
        assert code == 0 and "replayed" in out, (out, err)
    await bus.wait_event("identity.account.created", correlationid=failed.id)
    await stack.settled()
    assert len(bus.events(lambda e: e.correlationid == failed.id)) == 1  # the inbox knew the second
    replayed = bus.matching(lambda r: r.topic == "identity.commands.v1" and r.key == account_id)
    assert len(replayed) == 2 and all(r.headers["crm_replay_of"].startswith("identity.commands.v1.dlq/")
                                      for r in replayed)


async def test_lag_grows_while_a_service_is_stopped_and_drains_after(stack, bus, account_id):
    if stack.pg_url:
        pytest.skip("the services are not ours to stop")
    stack.stop_service("seats")
    try:
        for i in range(5):
            await bus.command(seats.SetSubscription(seats_total=i + 1, seat_price_cents=1, currency="USD",
                                                    **period_args()),
                              accountid=account_id)
        code, out, _ = await crm("lag", "-b", stack.bootstrap)
        assert code == 0
        behind = next(line for line in out.splitlines() if line.startswith(f"crm-seats{stack.group_suffix}:"))
        assert int(behind.split(":")[1].split()[0]) >= 5
    finally:
        stack.start_service("seats")
        await stack.wait_healthy("seats")
    await stack.settled()
    code, out, _ = await crm("lag", "-b", stack.bootstrap)
    assert f"crm-seats{stack.group_suffix}: 0 behind" in out

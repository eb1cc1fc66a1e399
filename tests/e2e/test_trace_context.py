"""A W3C trace context that comes with a command (the CloudEvents distributed-tracing extension) is
carried to every event the command causes, in every service, with no tracer configured. (The log
context of a handled message, its correlation and trace id, is shown in
libs/runtime/tests/test_request_trace.py: no handler here logs while the flow runs.)"""

from __future__ import annotations

import secrets

import pytest

from crm_contracts import identity

pytestmark = pytest.mark.stack


async def test_a_trace_context_reaches_every_event_its_command_causes(platform, stack, bus, account_id):
    await platform.enterprise(account_id, seats_total=2)
    trace_id = secrets.token_hex(16)
    parent, state = f"00-{trace_id}-{secrets.token_hex(8)}-01", "crm=e2e"
    add = identity.AddMember.model_validate({**platform.member_row("u1", activation="immediate"),
                                             "by_user_id": platform.owner_of(account_id)})
    cmd = await bus.command(add, accountid=account_id, traceparent=parent, tracestate=state)
    await platform.answer(cmd, "seats.seat.reserved")
    await platform.answer(cmd, "notifications.email.sent")
    await stack.settled()
    caused = bus.matching(lambda r: r.event is not None and r.event.correlationid == cmd.id)
    assert {r.topic for r in caused} >= {"identity.events.v1", "seats.events.v1", "notifications.events.v1"}
    assert [(r.event.type, r.event.traceparent, r.event.tracestate) for r in caused] == [
        (r.event.type, parent, state) for r in caused]


async def test_a_value_that_is_not_a_trace_context_is_carried_not_refused(platform, bus, account_id):
    cmd = await bus.command(identity.SetOptIn(enabled=True), accountid=account_id, traceparent="not-a-trace")
    assert await platform.rejected(cmd) == "unknown_account"  # answered as any command, trace or not
    [answer] = bus.events(lambda e: e.correlationid == cmd.id)
    assert answer.traceparent == "not-a-trace" and answer.trace_id is None

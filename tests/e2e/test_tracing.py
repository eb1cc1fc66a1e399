"""OpenTelemetry on the live stack: with an OTLP endpoint configured, one acceptance of an
invitation (a person's click, carrying their browser's trace context) is one trace whose spans
come from all four services, each span's parent in the trace, through Kafka and two outboxes."""

from __future__ import annotations

import secrets

import httpx
import pytest

from crm_devstack import people
from crm_devstack.spans import SpanReceiver
from crm_devstack.stack import SERVICES
from crm_devstack.waiting import eventually

pytestmark = [pytest.mark.stack, pytest.mark.local_stack]

SERVER, CONSUMER, PRODUCER = 2, 5, 4  # OTLP's span kinds


@pytest.fixture
async def traced(stack):
    """The four services restarted exporting to a collector of this test, then restarted plain."""
    async with SpanReceiver() as spans:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": spans.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        try:
            await stack.restart_services(env)
            yield spans
        finally:
            await stack.restart_services()


async def test_one_acceptance_is_one_trace_across_the_four_services(traced, platform, account_id):
    await platform.enterprise(account_id, seats_total=2)
    await platform.add(account_id, "u1")
    issued = await platform.invitation(account_id, "u1")
    await platform.bus.wait_event("notifications.email.sent", correlationid=issued.correlationid)
    link = people.link_in_mail(platform.stack.mail.maildir, "u1@example.com")

    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    async with httpx.AsyncClient(timeout=10, headers={"traceparent": f"00-{trace_id}-{caller_span}-01"}) as person:
        _, confirmed = await people.accept(person, link)
    assert confirmed is not None and confirmed.status_code == 200, confirmed
    await platform.bus.wait_event("seats.seat.reserved",
                                  where=lambda e: e.accountid == account_id and e.data["user_id"] == "u1")

    def orphans() -> list:
        """Spans whose parent is neither in the trace nor the person's browser span."""
        spans = traced.of_trace(trace_id)
        ids = {s.span_id for s in spans}
        return [s for s in spans if s.parent_id not in ids and s.parent_id != caller_span]

    # Each service sends its spans in batches of its own, so a child may arrive before its parent:
    # wait for every service and for the tree to close, then check it.
    def whole() -> bool:
        return {s.service for s in traced.of_trace(trace_id)} >= set(SERVICES) and not orphans()

    try:
        await eventually(whole, timeout=30, what="spans of all four services in one tree")
    finally:
        assert not orphans(), orphans()  # one tree: every span's parent is in it, or is the person's browser
    spans = traced.of_trace(trace_id)
    assert {s.service for s in spans} >= set(SERVICES)
    confirm = [s for s in spans if s.kind == SERVER and s.parent_id == caller_span and s.name.startswith("POST ")]
    assert [s.service for s in confirm] == ["identity"], spans
    handled = {(s.service, s.name) for s in spans if s.kind == CONSUMER}
    assert ("seats", "process identity.invitation.accepted") in handled, handled
    created = {s.span_id: s for s in spans if s.kind == PRODUCER}
    # A service's handling continues from the span its cause was created in, in another service.
    assert any(s.kind == CONSUMER and s.parent_id in created and created[s.parent_id].service != s.service
               for s in spans)

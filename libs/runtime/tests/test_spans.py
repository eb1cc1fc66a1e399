"""The runtime's spans, in-process with the SDK's in-memory exporter: a handled message continues
the trace its `traceparent` names, an event emitted while handling it carries the context of a
producer span under it, and with tracing off nothing is changed or made."""

from __future__ import annotations

import secrets

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from crm_runtime import tracing
from runtime_helpers import group_created


@pytest.fixture
def exported(monkeypatch):
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    return spans


def test_off_nothing_is_made_and_the_event_is_left_as_it_is():
    assert not tracing.enabled()
    event = group_created("acc_1", "g1").model_copy(update={"traceparent": f"00-{'1' * 32}-{'2' * 16}-01"})
    with tracing.handling(event, "identity.commands.v1"):
        assert tracing.producing(event) is event
        assert tracing.current() == {}


def test_a_handled_message_continues_its_trace_and_its_events_carry_a_producer_span(exported):
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    command = group_created("acc_1", "g1").model_copy(update={"traceparent": f"00-{trace_id}-{parent}-01"})
    answer = group_created("acc_1", "g2")
    with tracing.handling(command, "identity.commands.v1"):
        emitted = tracing.producing(answer)
    process, create = sorted(exported.get_finished_spans(), key=lambda s: s.kind != SpanKind.CONSUMER)
    assert (process.kind, process.name) == (SpanKind.CONSUMER, f"process {command.type}")
    assert format(process.context.trace_id, "032x") == trace_id
    assert format(process.parent.span_id, "016x") == parent
    assert process.attributes["messaging.message.id"] == command.id
    assert (create.kind, create.name, create.parent.span_id) == (SpanKind.PRODUCER, f"create {answer.topic}",
                                                                 process.context.span_id)
    assert emitted.traceparent == f"00-{trace_id}-{format(create.context.span_id, '016x')}-01"
    assert emitted.id == answer.id and emitted.data == answer.data


def test_a_request_span_continues_the_callers_context(exported):
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    with tracing.serving("POST", {"traceparent": f"00-{trace_id}-{parent}-01"}) as span:
        context = tracing.current()
        span.update_name("POST /v1/things")
    [server] = exported.get_finished_spans()
    assert (server.kind, server.name, format(server.parent.span_id, "016x")) == (SpanKind.SERVER, "POST /v1/things",
                                                                                 parent)
    assert context["traceparent"] == f"00-{trace_id}-{format(server.context.span_id, '016x')}-01"

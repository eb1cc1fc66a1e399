"""OpenTelemetry spans: one per HTTP request, per handled message and per event a handler emits
(its `create`, the producer span the event's consumers continue from). One acceptance is then one
trace through every service it reaches, joined by the `traceparent` each event carries through
the outbox (the CloudEvents distributed-tracing extension).

Off unless an OTLP endpoint is configured, with the SDK's own variables
(`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, OTLP over HTTP/protobuf;
`OTEL_SDK_DISABLED=true` turns it off again). Off, nothing here runs more than one `if`, the SDK
is not imported, and a `traceparent` that comes with a command still reaches every event it
causes (`event_caused_by` copies it). Spans leave in batches from the SDK's own thread
(`OTEL_BSP_*`); an exporter that cannot reach its collector drops spans, never holds a message.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from crm_contracts import CloudEvent

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

_PROPAGATOR = TraceContextTextMapPropagator()
_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def endpoint() -> str | None:
    """Where spans go, or None: tracing is off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None


def configure(service: str, version: str) -> bool:
    """Export spans by OTLP if an endpoint is configured. Returns whether tracing is on."""
    global _tracer, _provider
    if endpoint() is None:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    _provider = TracerProvider(resource=Resource.create({
        "service.name": service, "service.namespace": "crm-platform", "service.version": version}))
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _tracer = _provider.get_tracer("crm_runtime", version)
    return True


def shutdown() -> None:
    """Send what is buffered (bounded by the SDK's export timeout) and stop."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def enabled() -> bool:
    return _tracer is not None


def _parent(carrier: Mapping[str, str | None]):  # noqa: ANN202 - an OpenTelemetry Context
    return _PROPAGATOR.extract({k: v for k, v in carrier.items() if v})


def _attributes(message: CloudEvent, topic: str) -> dict[str, str]:
    return {"messaging.system": "kafka", "messaging.destination.name": topic, "messaging.message.id": message.id,
            "messaging.kafka.message.key": message.key, "cloudevents.event_type": message.type,
            "cloudevents.event_source": message.source, "crm.correlationid": message.correlation}


@contextlib.contextmanager
def handling(message: CloudEvent, topic: str) -> Iterator[None]:
    """A consumer span around one message's handler, continuing the trace its `traceparent` names."""
    if _tracer is None:
        yield
        return
    parent = _parent({"traceparent": message.traceparent, "tracestate": message.tracestate})
    with _tracer.start_as_current_span(f"process {message.type}", context=parent, kind=SpanKind.CONSUMER,
                                       attributes=_attributes(message, topic)):
        yield


def producing(event: CloudEvent) -> CloudEvent:
    """The event with the trace context of a producer span made for it under the current span, so
    its consumers' spans are that span's children. Off: the event as it is."""
    if _tracer is None:
        return event
    with _tracer.start_as_current_span(f"create {event.topic}", kind=SpanKind.PRODUCER,
                                       attributes=_attributes(event, event.topic)):
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
    return event.model_copy(update={"traceparent": carrier.get("traceparent"),
                                    "tracestate": carrier.get("tracestate") or event.tracestate})


@contextlib.contextmanager
def serving(method: str, headers: Mapping[str, str]) -> Iterator[trace.Span | None]:
    """A server span around one HTTP request, continuing the caller's trace context. The caller
    names it by route once routing has found one."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(method, context=_parent(headers), kind=SpanKind.SERVER,
                                       attributes={"http.request.method": method}) as span:
        yield span


def current() -> dict[str, str]:
    """The current span's trace context as `traceparent`/`tracestate`, or {} when tracing is off."""
    if _tracer is None:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier

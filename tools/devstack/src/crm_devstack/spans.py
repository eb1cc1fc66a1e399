"""A collector of the spans the services export (OTLP over HTTP/protobuf, decoded by
OpenTelemetry's own protobuf classes), on loopback, for the tests and the bench that turn tracing
on: `async with SpanReceiver() as spans: ... spans.endpoint ... spans.of_trace(trace_id)`."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .waiting import eventually

MAX_BODY = 16 * 2**20


@dataclass(frozen=True)
class Span:
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int


class SpanReceiver:
    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.requests = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        """For `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter adds `/v1/traces`)."""
        return f"http://127.0.0.1:{self.port}"

    def of_trace(self, trace_id: str) -> list[Span]:
        return [s for s in self.spans if s.trace_id == trace_id]

    async def _export(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(status_code=413)
        exported = ExportTraceServiceRequest.FromString(body)
        self.requests += 1
        for resource_spans in exported.resource_spans:
            service = next((a.value.string_value for a in resource_spans.resource.attributes
                            if a.key == "service.name"), "")
            for scope in resource_spans.scope_spans:
                self.spans.extend(Span(service, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.name,
                                       s.kind) for s in scope.spans)
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    async def __aenter__(self) -> SpanReceiver:
        app = Starlette(routes=[Route("/v1/traces", self._export, methods=["POST"])])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        server = self._server
        await eventually(lambda: server.started, timeout=10, every=0.01, what="the span receiver listening")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task

"""How long each HTTP request took, by route template (not the path: ids would make a series per
record), method and status class, in `crm_http_request_seconds`; and, with tracing on, the
request's server span, named by the same template."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics, tracing


class Timing:
    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope.get("method", "?")
        with tracing.serving(method, _trace_headers(scope)) as span:
            try:
                await self.app(scope, receive, watched)
            finally:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                metrics.HTTP_SECONDS.labels(self.service, route, method,
                                            f"{status // 100}xx").observe(time.perf_counter() - started)
                if span is not None:
                    span.update_name(f"{method} {route}")
                    span.set_attributes({"http.route": route, "http.response.status_code": status})


def _trace_headers(scope: Scope) -> dict[str, str]:
    if not tracing.enabled():
        return {}
    return {name: value.decode("latin-1") for raw, value in scope.get("headers", ())
            if (name := raw.decode("latin-1").lower()) in ("traceparent", "tracestate")}

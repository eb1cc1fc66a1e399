"""The trace context of an HTTP request goes on with the command it makes; a value out of bounds
stays behind instead of refusing the request. The log context of a handled message names its
correlation and, when it is one, its trace."""

from __future__ import annotations

import structlog
from starlette.requests import Request

from crm_contracts import command, identity
from crm_runtime import logs
from crm_runtime.http import trace_context

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def request(headers: dict[str, str]) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "query_string": b"",
                    "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})


def test_a_requests_trace_context_is_taken_within_bounds():
    assert trace_context(request({"traceparent": PARENT, "tracestate": "a=1"})) == {
        "traceparent": PARENT, "tracestate": "a=1"}
    assert trace_context(request({})) == {}
    assert trace_context(request({"traceparent": "x" * 513, "tracestate": "a=\u00e9"})) == {}


def test_a_command_keeps_it_and_the_log_context_names_the_trace():
    cmd = command(identity.SetOptIn(enabled=True), source="t", accountid="acc_1", traceparent=PARENT)
    assert cmd.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    with logs.handling(cmd):
        bound = structlog.contextvars.get_contextvars()
    assert bound["trace_id"] == cmd.trace_id and bound["correlationid"] == cmd.id
    assert "trace_id" not in structlog.contextvars.get_contextvars()
    plain = command(identity.SetOptIn(enabled=True), source="t", accountid="acc_1", traceparent="00-" + "0" * 32 + "-1")
    assert plain.trace_id is None
    with logs.handling(plain):
        assert "trace_id" not in structlog.contextvars.get_contextvars()

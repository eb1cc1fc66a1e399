"""The services' HTTP side on Starlette: JSON and HTML answers, routes.

Every route requires a verified bearer token unless it is declared `public`. Endpoints are
module-level functions: they find their service with `service(request)` and the acting user with
`caller(request)`, ask their service's policy and go on with `allow(decision)`; every refusal or
error is raised as one type, `Answer`, and turned into a response in one place. Refusals are
logged with the user id and path, never with the token.
"""

from __future__ import annotations

import json
from dataclasses import replace
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from crm_contracts.envelope import TRACE_MAX_LENGTH

from . import logs, tracing
from .auth import Caller, Decision, NotConfigured, Unauthenticated
from .errors import describe, unreachable
from .openapi import Declared

__all__ = ["Caller", "Request", "Response", "Route", "caller", "delete", "get", "html_response",
           "json_response", "patch", "post", "query", "run_command", "action_name", "Answer", "allow", "service"]

log = logs.get(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


class _JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        # Rows carry dates, timestamps and decimals; they travel as their ISO / plain text form.
        return json.dumps(content, default=str).encode()


def json_response(body: Any, status: int = 200) -> Response:
    return _JSON(body, status)


def html_response(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return HTMLResponse(body, status, headers=headers)


def _unauthorized(request: Request, reason: str) -> Response:
    log.warning("access_unauthenticated", method=request.method, path=request.url.path, reason=reason)
    # RFC 6750: the challenge names the scheme and why the token was refused.
    challenge = 'Bearer error="invalid_token", error_description="{}"'.format(reason.replace('"', "'"))
    return _JSON({"error": "unauthenticated", "message": reason}, 401, headers={"WWW-Authenticate": challenge})


def _guarded(endpoint: Endpoint) -> Endpoint:
    async def guarded(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized(request, "a bearer token from the platform's identity provider is required")
        try:
            request.state.caller = await request.app.state.verifier.verify(token.strip())
        except Unauthenticated as exc:
            return _unauthorized(request, exc.reason)
        except NotConfigured:
            log.error("access_not_configured", path=request.url.path)
            return _JSON({"error": "auth_not_configured",
                          "message": "this service has no identity provider keys configured"}, 503)
        return await endpoint(request)

    return guarded


def caller(request: Request) -> Caller:
    return request.state.caller


def service(request: Request) -> Any:
    """The service the request reached (its pool, processor, settings, clock): endpoints are plain
    module-level functions and find it here."""
    return request.app.state.service


class Answer(Exception):
    """Every refusal or error an endpoint gives, raised where it is found and answered in one place
    (`_available`): the HTTP status, the error's name, a sentence, any other fields of the body and
    headers (Retry-After, WWW-Authenticate) where they apply."""

    def __init__(self, status: int, error: str, message: str = "", *, headers: dict[str, str] | None = None,
                 **fields: Any) -> None:
        super().__init__(error)
        self.status, self.error, self.message, self.headers, self.fields = status, error, message, headers, fields

    @classmethod
    def refused(cls, decision: Decision | Any) -> Answer:
        """A policy's refusal: 403 unless the decision names another status (401, 410)."""
        return cls(getattr(decision, "status", 403), decision.reason, decision.message, refusal=True)

    def response(self, request: Request) -> Response:
        refusal = self.fields.pop("refusal", False)
        if refusal:
            who = getattr(request.state, "caller", None)
            log.warning("access_denied", method=request.method, path=request.url.path,
                        user_id=who.user_id if who else None, reason=self.error)
        body = {"error": self.error, **({"message": self.message} if self.message or refusal else {}), **self.fields}
        return _JSON(body, self.status, headers=self.headers)


Q = TypeVar("Q", bound=BaseModel)


def query(request: Request, model: type[Q]) -> Q:
    """The request's query parameters checked against `model` (types, ranges, sizes): a value out
    of its range is answered 422 naming the parameter, never reaches a query or a loop."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = ".".join(str(part) for part in first["loc"]) or "query"
        raise Answer(422, "invalid_query", f"{name}: {first['msg']}", parameter=name) from None


def allow(decision: Decision | Any) -> None:
    """Go on when the policy allows; else answer its refusal."""
    if not decision:
        raise Answer.refused(decision)


def action_name(request: Request) -> str:
    """The route as the permission model names it: `GET /v1/instances/{instance_id}/leads`."""
    method = "GET" if request.method == "HEAD" else request.method
    return f"{method} {request.scope['route'].path}"


RETRY_AFTER_S = 5
MAX_PATH_PARAMETER = 200  # every id in a path, as the OpenAPI documents say


def _available(endpoint: Endpoint) -> Endpoint:
    """An outage (the database or the broker unreachable) answers 503 with Retry-After and a
    sentence, so a person or a calling service knows to try again; anything else stays a 500."""
    async def answered(request: Request) -> Response:
        try:
            for name, value in request.path_params.items():
                if not 0 < len(str(value)) <= MAX_PATH_PARAMETER or "\x00" in str(value):
                    raise Answer(422, "invalid_path", f"{name}: 1 to {MAX_PATH_PARAMETER} characters, no NUL",
                                 parameter=name)
            for name, value in request.query_params.multi_items():
                if "\x00" in value:  # no text column can hold it: refused before any query
                    raise Answer(422, "invalid_query", f"{name}: NUL is not allowed", parameter=name)
            return await endpoint(request)
        except Answer as answer:
            return answer.response(request)
        except ValidationError as exc:
            # A command or model built from what the request carried refused it: the caller's
            # input, answered as such (never a 500).
            first = exc.errors(include_url=False)[0]
            name = ".".join(str(part) for part in first["loc"]) or "request"
            return Answer(422, "invalid_request", f"{name}: {first['msg']}", parameter=name).response(request)
        except Exception as exc:
            if (away := unreachable(exc)) is None:
                raise
            log.warning("request_unavailable", method=request.method, path=request.url.path, unreachable=away,
                        error=describe(exc))
            return _JSON({"error": f"{away}_unavailable",
                          "message": f"the {away} cannot be reached just now; try again in a few seconds"},
                         503, headers={"Retry-After": str(RETRY_AFTER_S)})

    return answered


def trace_context(request: Request) -> dict[str, str]:
    """The W3C trace context (`traceparent`, `tracestate`) a request came with, for the command it
    makes to carry on; a value too long or not printable is left behind, never a refusal. With
    tracing on, the context of the request's own span, which continues the one it came with."""
    if tracing.enabled():
        return tracing.current()
    return {name: value for name in ("traceparent", "tracestate")
            if (value := request.headers.get(name)) and len(value) <= TRACE_MAX_LENGTH
            and value.isascii() and value.isprintable()}


async def run_command(processor: Any, message: Any, statuses: dict[str, int] | None = None) -> None:
    """Hand a command given over HTTP to the service's own handler, as if it came from its topic
    (same inbox, outbox and rejection answer). Returns when it took effect; else raises the answer:
    the refusal with its reason (`statuses` maps reasons to HTTP codes, 409 otherwise), 503 when the
    database or broker could not be reached (trying again will do), 500 when the handler itself
    failed (trying again would fail again)."""
    try:
        outcome = await processor.handle_message(message)
    except Exception as exc:
        log.exception("http_command_failed", type=message.type)
        if (away := unreachable(exc)) is not None:
            raise Answer(503, f"{away}_unavailable", "try again shortly",
                         headers={"Retry-After": str(RETRY_AFTER_S)}) from None
        raise Answer(500, "internal_error", "the command failed; it was logged") from None
    if outcome.name == "rejected":
        raise Answer((statuses or {}).get(outcome.reason or "", 409), outcome.reason or "rejected", outcome.detail)


def _route(path: str, endpoint: Endpoint, methods: list[str], public: bool, declared: Declared) -> Route:
    """`declared` is what the route takes (query and body models, how it is authenticated); the
    service's OpenAPI document is made from it (`crm_runtime.openapi`)."""
    guarded = _available(endpoint)
    route = Route(path, guarded if public else _guarded(guarded), methods=methods, name=endpoint.__name__)
    auth = declared.auth if public else "bearer"
    route.declared = replace(declared, auth=auth)  # type: ignore[attr-defined]
    route.documented = endpoint  # type: ignore[attr-defined]
    return route


def _declared(public: bool, query: type[BaseModel] | None, body: type[BaseModel] | None, auth: str | None,
              answers: str) -> Declared:
    return Declared(query=query, body=body, auth=auth or ("none" if public else "bearer"), answers=answers)


def get(path: str, endpoint: Endpoint, *, public: bool = False, query: type[BaseModel] | None = None,
        auth: str | None = None, answers: str = "application/json") -> Route:
    """A GET route (HEAD is answered too; other methods get 405)."""
    return _route(path, endpoint, ["GET"], public, _declared(public, query, None, auth, answers))


def post(path: str, endpoint: Endpoint, *, public: bool = False, query: type[BaseModel] | None = None,
         body: type[BaseModel] | None = None, auth: str | None = None, answers: str = "application/json") -> Route:
    return _route(path, endpoint, ["POST"], public, _declared(public, query, body, auth, answers))


def patch(path: str, endpoint: Endpoint, *, public: bool = False, body: type[BaseModel] | None = None,
          auth: str | None = None) -> Route:
    return _route(path, endpoint, ["PATCH"], public, _declared(public, None, body, auth, "application/json"))


def delete(path: str, endpoint: Endpoint, *, public: bool = False, auth: str | None = None) -> Route:
    return _route(path, endpoint, ["DELETE"], public, _declared(public, None, None, auth, "application/json"))

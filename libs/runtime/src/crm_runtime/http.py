"""Small ASGI pieces for the services' HTTP side (health, metrics, read endpoints)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from faststream.asgi import AsgiResponse

Scope = dict[str, Any]
Route = Callable[[Scope, Any, Any], Awaitable[None]]


def json_response(body: Any, status: int = 200) -> AsgiResponse:
    return AsgiResponse(json.dumps(body, default=str).encode(), status,
                        headers={"content-type": "application/json"})


def html_response(body: str, status: int = 200) -> AsgiResponse:
    return AsgiResponse(body.encode(), status, headers={"content-type": "text/html; charset=utf-8"})


def query(scope: Scope) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}


def get_route(fn: Callable[[Scope], Awaitable[AsgiResponse]]) -> Route:
    """Wrap `fn(scope) -> response` as an ASGI app answering GET and HEAD."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            response = json_response({"error": "method_not_allowed"}, 405)
        else:
            response = await fn(scope)
        await response(scope, receive, send)

    return app

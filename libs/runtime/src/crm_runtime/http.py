"""The services' HTTP side on Starlette: JSON and HTML answers, routes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

__all__ = ["Request", "Response", "Route", "delete", "get", "html_response", "json_response", "post"]


class _JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        # Rows carry dates, timestamps and decimals; they travel as their ISO / plain text form.
        return json.dumps(content, default=str).encode()


def json_response(body: Any, status: int = 200) -> Response:
    return _JSON(body, status)


def html_response(body: str, status: int = 200) -> Response:
    return HTMLResponse(body, status)


def get(path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> Route:
    """A GET route (HEAD is answered too; other methods get 405)."""
    return Route(path, endpoint, methods=["GET"])


def post(path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> Route:
    return Route(path, endpoint, methods=["POST"])


def delete(path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> Route:
    return Route(path, endpoint, methods=["DELETE"])

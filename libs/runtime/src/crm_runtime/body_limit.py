"""Every request body is bounded before anything reads it: 413 as soon as a declared length is over
the limit, or as soon as a streamed body passes it (nothing past the limit is kept in memory).

Written as ASGI middleware rather than a check in each endpoint: Starlette reads a body whole on
`request.json()`/`request.body()`, so an endpoint's own check would come after the memory is spent.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_LIMIT = 1024 * 1024  # the APIs: a rule set or a lead is a few KB; 1 MiB leaves room
PUBLIC_LIMIT = 4 * 1024  # the public invitation page posts a token and a CSRF value


class TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, *, default: int = API_LIMIT, by_prefix: dict[str, int] | None = None) -> None:
        self.app, self.default = app, default
        self.by_prefix = by_prefix or {"/invitations/": PUBLIC_LIMIT}

    def limit_of(self, path: str) -> int:
        return next((n for prefix, n in self.by_prefix.items() if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_of(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _too_large(send, limit)
        seen = 0
        started = False

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded, watched)
        except TooLarge:
            if not started:
                await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"error": "body_too_large",
                       "message": f"a request body here is at most {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})

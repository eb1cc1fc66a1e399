"""Request bodies are bounded before anything reads them: a declared length over the limit and a
streamed body that passes it are both answered 413, and the endpoint never sees them."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crm_runtime.body_limit import API_LIMIT, PUBLIC_LIMIT, BodyLimit

READ: list[int] = []


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    READ.append(len(body))
    return JSONResponse({"bytes": len(body)})


APP = Starlette(routes=[Route("/v1/x", echo, methods=["POST"]), Route("/invitations/accept", echo, methods=["POST"])],
                middleware=[Middleware(BodyLimit)])


async def post(path: str, content) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://svc") as client:
        return await client.post(path, content=content)


async def test_a_body_within_the_limit_is_read_and_one_past_it_is_refused_413_unread():
    READ.clear()
    assert (await post("/v1/x", b"x" * API_LIMIT)).json() == {"bytes": API_LIMIT}
    refused = await post("/v1/x", b"x" * (API_LIMIT + 1))
    assert (refused.status_code, refused.json()["error"]) == (413, "body_too_large")
    assert READ == [API_LIMIT]  # the endpoint never ran for the large one


async def test_the_public_page_takes_a_few_kilobytes_only():
    assert (await post("/invitations/accept", b"t" * PUBLIC_LIMIT)).status_code == 200
    assert (await post("/invitations/accept", b"t" * (PUBLIC_LIMIT + 1))).status_code == 413


async def test_a_streamed_body_with_no_length_is_cut_at_the_limit():
    READ.clear()

    async def chunks():
        for _ in range(100):  # 100 × 64 KiB = 6.25 MiB, no Content-Length
            yield b"y" * 65536

    refused = await post("/v1/x", chunks())
    assert refused.status_code == 413 and READ == []

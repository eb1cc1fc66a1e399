"""An HTTP request during an outage is answered 503 with Retry-After and a sentence; a mistake in the
code stays a 500, and refusals keep their own codes."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from asyncpg.exceptions import _base as asyncpg_base
from starlette.applications import Starlette
from starlette.testclient import TestClient

from crm_runtime.http import get, json_response


def raising(exc: BaseException):
    async def endpoint(_request):
        raise exc
    return endpoint


async def conflict(_request):
    return json_response({"error": "already_there"}, 409)


CASES = {
    "/refused": ConnectionRefusedError(111, "Connection refused"),  # the pool cannot connect
    "/closed": asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    "/starting": asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    "/shutdown": asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    "/pool": TimeoutError(),
    "/broker": KafkaConnectionError("no broker"),
}


@pytest.fixture
def client():
    routes = [get(path, raising(exc), public=True) for path, exc in CASES.items()]
    routes += [get("/bug", raising(KeyError("a bug")), public=True),
               get("/bad-value", raising(asyncpg_base.DataError("invalid input for query argument")), public=True),
               get("/constraint", raising(asyncpg.exceptions.UniqueViolationError("duplicate key")), public=True),
               get("/conflict", conflict, public=True)]
    with TestClient(Starlette(routes=routes), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("path", sorted(CASES))
def test_an_outage_is_503_with_retry_after_and_a_sentence(client, path):
    r = client.get(path)
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    away = "broker" if path == "/broker" else "database"
    assert r.json() == {"error": f"{away}_unavailable",
                        "message": f"the {away} cannot be reached just now; try again in a few seconds"}


@pytest.mark.parametrize("path", ["/bug", "/bad-value", "/constraint"])
def test_a_mistake_is_still_a_500(client, path):
    assert client.get(path).status_code == 500


def test_an_answer_of_the_endpoint_keeps_its_code(client):
    assert client.get("/conflict").status_code == 409

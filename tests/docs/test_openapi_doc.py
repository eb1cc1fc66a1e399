"""Each service's OpenAPI document is made from its routes, checked in under docs/openapi, and what
the running service serves at /openapi.json."""

from __future__ import annotations

import json

import httpx
import pytest

from crm_devstack import openapi_doc


@pytest.mark.parametrize("service", openapi_doc.SERVICES)
def test_the_checked_in_document_is_what_the_code_makes(service):
    path = openapi_doc.FOLDER / f"{service}.json"
    assert path.read_text() == openapi_doc.rendered(service), "stale: run `python -m crm_devstack.openapi_doc`"


@pytest.mark.parametrize("service", openapi_doc.SERVICES)
def test_every_route_is_documented_with_its_path_parameters(service):
    document = openapi_doc.document(service)
    assert document["openapi"] == "3.1.0"
    app = __import__(f"crm_{service}.app", fromlist=["service"]).service().app()
    served = {(m.lower(), r.path) for r in app.routes for m in (r.methods or set()) - {"HEAD"}}
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert served == documented
    for path, ops in document["paths"].items():
        for op in ops.values():
            names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert names == {part[1:-1] for part in path.split("/") if part.startswith("{")}, path


@pytest.mark.stack
@pytest.mark.parametrize("service", openapi_doc.SERVICES)
async def test_the_running_service_serves_its_document(stack, service):
    async with httpx.AsyncClient(timeout=5) as client:
        served = (await client.get(f"{stack.http(service)}/openapi.json")).json()
    assert served == json.loads((openapi_doc.FOLDER / f"{service}.json").read_text())

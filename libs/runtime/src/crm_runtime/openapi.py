"""Each service's HTTP contract as an OpenAPI 3.1 document, made from its routes.

A route says what it takes where it is declared (`crm_runtime.http.get(..., query=Model,
body=Model, auth=...)`); the document is built from those declarations, the path templates and
the endpoints' docstrings, so it cannot drift from the code. It is served at `/openapi.json` and a
copy of each is checked in (`docs/openapi/`, `python -m crm_devstack.openapi_doc --check`)."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.routing import BaseRoute, Route

OPENAPI = "3.1.0"
ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 200}
ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string", "description": "a stable snake_case code"},
    "message": {"type": "string"}}, "additionalProperties": True}
SECURITY = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": "a token of the platform's identity provider"},
            "api_key": {"type": "http", "scheme": "bearer",
                        "description": "an instance API key, crmk_… (the Open API)"}}
_PARAM = re.compile(r"{([a-z_]+)}")


@dataclass(frozen=True)
class Declared:
    """What a route takes, as declared with it."""

    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    auth: str = "bearer"  # bearer | api_key | none
    answers: str = "application/json"


def declared(route: BaseRoute) -> Declared | None:
    return getattr(route, "declared", None)


def _summary(endpoint: Any) -> tuple[str, str]:
    """The docstring's first paragraph after "METHOD /path — ", to its first sentence's end."""
    doc = inspect.getdoc(endpoint) or ""
    first = " ".join(doc.split("\n\n", 1)[0].split())
    summary = first.split(" — ", 1)[-1]
    summary = re.split(r"(?<=[.;:])\s", summary, maxsplit=1)[0]
    return summary[:160], doc


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    return schema


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _schema(model, components)
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop,
             **({"description": prop["description"]} if "description" in prop else {})}
            for name, prop in schema.get("properties", {}).items()]


def document(title: str, description: str, routes: list[BaseRoute], version: str = "1") -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR}
    paths: dict[str, Any] = {}
    for route in routes:
        how = declared(route)
        if how is None or not isinstance(route, Route):
            continue
        summary, doc = _summary(getattr(route, "documented", route.endpoint))
        parameters = [{"name": p, "in": "path", "required": True, "schema": ID_SCHEMA}
                      for p in _PARAM.findall(route.path)]
        if how.query is not None:
            parameters += _query_parameters(how.query, components)
        ok = {"description": "done", "content": {how.answers: {"schema": {"type": "object"} if how.answers ==
                                                                  "application/json" else {"type": "string"}}}}
        operation: dict[str, Any] = {
            "summary": summary, "description": doc,
            "parameters": parameters,
            "responses": {**({"201": ok} if "POST" in (route.methods or ()) else {}), "200": ok, "default": {
                "description": "refused or failed: the status says which (400, 401, 403, 404, 409, 410, 413, "
                               "422, 429 with Retry-After, 503 with Retry-After)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "security": [] if how.auth == "none" else [{how.auth: []}],
        }
        if how.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": _schema(how.body, components)}}}
        for method in sorted((route.methods or set()) - {"HEAD"}):
            slug = re.sub(r"[^a-z0-9]+", "_", route.path.lower()).strip("_")
            paths.setdefault(route.path, {})[method.lower()] = {**operation, "operationId": f"{method.lower()}_{slug}"}
    return {"openapi": OPENAPI, "info": {"title": title, "version": version, "description": description},
            "servers": [{"url": "/"}], "paths": dict(sorted(paths.items())),
            "components": {"schemas": dict(sorted(components.items())), "securitySchemes": SECURITY}}

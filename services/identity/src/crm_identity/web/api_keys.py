"""An instance's Open API keys over HTTP: issued (the key shown this once), listed, revoked. Issue
and revoke run identity's own handlers, as if the command came from the topic."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError

from crm_contracts import command, identity
from crm_runtime.http import (
    Answer,
    Request,
    caller,
    delete,
    get,
    json_response,
    post,
    run_command,
    service,
    trace_context,
)

from .. import repository
from ..domain.instances import new_api_key
from .access import instance_gate

class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="what the key is for, e.g. crm sync")


# HTTP status for each refusal of an instance command made over HTTP.
_REFUSED_STATUS = {"not_instance_owner": 403, "not_a_private_instance": 403, "not_account_admin": 403,
                   "instance_cancelled": 403, "member_inactive": 403, "unknown_instance": 404, "unknown_api_key": 404}


async def _run(request: Request, data, instance_id: str) -> None:
    """Hand an instance command to this service's own handler, as if it came from the topic, acting
    as the token's subject, once the policy allows the route."""
    async with service(request).pool.acquire() as conn:
        instance = await instance_gate(request, conn, instance_id)
    message = command(data, source="crm/identity-web", accountid=instance.account_id, instanceid=instance_id,
                      **trace_context(request))
    await run_command(service(request).processor, message, _REFUSED_STATUS)


async def issue_key(request: Request):
    """POST /v1/instances/{instance_id}/api-keys {"name"} — the key, shown this once."""
    instance_id = request.path_params["instance_id"]
    key = new_api_key()
    try:
        body = await request.json()
        data = identity.IssueApiKey(instance_id=instance_id, name=body.get("name"), by_user_id=caller(request).user_id,
                                    key_id=key.key_id, key_hash=key.key_hash, last_four=key.last_four)
    except (ValueError, AttributeError, ValidationError) as exc:
        raise Answer(400, "invalid_request", str(exc)[:500]) from None
    await _run(request, data, instance_id)
    return json_response({"key_id": key.key_id, "name": data.name, "key": key.key, "last_four": key.last_four,
                          "instance_id": instance_id,
                          "note": "This is the only time the key is shown; only its hash is kept."}, 201)


async def revoke_key(request: Request):
    """DELETE /v1/instances/{instance_id}/api-keys/{key_id}"""
    instance_id, key_id = request.path_params["instance_id"], request.path_params["key_id"]
    await _run(request, identity.RevokeApiKey(instance_id=instance_id, key_id=key_id,
                                              by_user_id=caller(request).user_id), instance_id)
    return json_response({"key_id": key_id, "revoked": True})


async def list_keys(request: Request):
    """GET /v1/instances/{instance_id}/api-keys — names, ids, created, last four, revoked, last used."""
    instance_id = request.path_params["instance_id"]
    async with service(request).pool.acquire() as conn:
        await instance_gate(request, conn, instance_id)
        return json_response({"instance_id": instance_id, "keys": await repository.instances.api_keys(conn, instance_id)})


ROUTES = [post("/v1/instances/{instance_id}/api-keys", issue_key, body=NewKey), get("/v1/instances/{instance_id}/api-keys", list_keys),
          delete("/v1/instances/{instance_id}/api-keys/{key_id}", revoke_key)]

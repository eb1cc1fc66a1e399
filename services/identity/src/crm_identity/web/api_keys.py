"""An instance's Open API keys over HTTP: issued (the key shown this once), listed, revoked. Issue
and revoke run identity's own handlers, as if the command came from the topic."""

from __future__ import annotations

from crm_contracts import command, identity
from crm_runtime.http import Request, Response, Route, caller, delete, get, json_response, post, run_command
from crm_runtime.service import Service
from pydantic import ValidationError

from .. import repository
from ..domain.instances import new_api_key
from .access import instance_gate


# HTTP status for each refusal of an instance command made over HTTP.
_REFUSED_STATUS = {"not_instance_owner": 403, "not_a_private_instance": 403, "not_account_admin": 403,
                   "instance_cancelled": 403, "member_inactive": 403, "unknown_instance": 404, "unknown_api_key": 404}


def routes(svc: Service) -> list[Route]:
    commands = svc.processor  # handles this service's commands given over HTTP

    async def _run(request: Request, data, instance_id: str) -> Response | None:
        """Hand an owner's instance command to this service's own handler, as if it came from the
        topic, acting as the token's subject; a response when it was refused or could not be
        handled, None when it took effect."""
        async with svc.pool.acquire() as conn:
            refused, instance = await instance_gate(request, conn, instance_id)
        if refused is not None or instance is None:
            return refused
        message = command(data, source="crm/identity-web", accountid=instance.account_id, instanceid=instance_id)
        return await run_command(commands, message, _REFUSED_STATUS)

    async def issue_key(request: Request):
        """POST /v1/instances/{instance_id}/api-keys {"name"} — the key, shown this once."""
        instance_id = request.path_params["instance_id"]
        key = new_api_key()
        try:
            body = await request.json()
            data = identity.IssueApiKey(instance_id=instance_id, name=body.get("name"), by_user_id=caller(request).user_id,
                                        key_id=key.key_id, key_hash=key.key_hash, last_four=key.last_four)
        except (ValueError, AttributeError, ValidationError) as exc:
            return json_response({"error": "invalid_request", "message": str(exc)[:500]}, 400)
        if (refused := await _run(request, data, instance_id)) is not None:
            return refused
        return json_response({"key_id": key.key_id, "name": data.name, "key": key.key, "last_four": key.last_four,
                              "instance_id": instance_id,
                              "note": "This is the only time the key is shown; only its hash is kept."}, 201)

    async def revoke_key(request: Request):
        """DELETE /v1/instances/{instance_id}/api-keys/{key_id}"""
        instance_id, key_id = request.path_params["instance_id"], request.path_params["key_id"]
        data = identity.RevokeApiKey(instance_id=instance_id, key_id=key_id, by_user_id=caller(request).user_id)
        if (refused := await _run(request, data, instance_id)) is not None:
            return refused
        return json_response({"key_id": key_id, "revoked": True})

    async def list_keys(request: Request):
        """GET /v1/instances/{instance_id}/api-keys — names, ids, created, last four, revoked, last used."""
        instance_id = request.path_params["instance_id"]
        async with svc.pool.acquire() as conn:
            refused, _ = await instance_gate(request, conn, instance_id)
            if refused is not None:
                return refused
            return json_response({"instance_id": instance_id, "keys": await repository.api_keys(conn, instance_id)})

    return [post("/v1/instances/{instance_id}/api-keys", issue_key), get("/v1/instances/{instance_id}/api-keys", list_keys),
            delete("/v1/instances/{instance_id}/api-keys/{key_id}", revoke_key)]

"""Identity's HTTP side: the invitation link people click, and read endpoints."""

from __future__ import annotations

from html import escape

from crm_contracts import command, identity
from crm_runtime import logs
from pydantic import ValidationError

from crm_runtime.http import Request, Response, Route, delete, get, html_response, json_response, post
from crm_runtime.service import Service

from . import repository
from .domain.instances import new_api_key
from .domain.invitations import hash_token

log = logs.get(__name__)

# What a person is told for each way a link can fail, and what to do next.
_REFUSED_PAGES = {
    "invitation_not_found": (404, "This link is not valid",
                             "Check that you opened the whole link from your invitation e-mail."),
    "invitation_already_used": (409, "This invitation was already used",
                                "You have joined already. Sign in to the CRM with your e-mail address."),
    "invitation_expired": (410, "This invitation has expired",
                           "Ask your brokerage administrator to send you a new invitation."),
    "invitation_superseded": (410, "A newer invitation was sent",
                              "Use the link in the most recent invitation e-mail you received."),
    "invitation_revoked": (410, "This invitation was withdrawn",
                           "Your brokerage administrator withdrew it. Contact them if this is unexpected."),
}


# HTTP status for each refusal of an instance command made over HTTP.
_REFUSED_STATUS = {"by_user_id_required": 400, "not_instance_owner": 403, "not_a_private_instance": 403,
                   "unknown_instance": 404, "unknown_api_key": 404}


def _page(status: int, title: str, text: str):
    return html_response(
        "<!doctype html><html><head><meta charset='utf-8'><title>{t}</title></head>"
        "<body><main><h1>{t}</h1><p>{x}</p></main></body></html>".format(t=escape(title), x=escape(text)),
        status)


def routes(svc: Service) -> list[Route]:
    commands = svc.processor_for(identity.COMMANDS)

    async def accept(request: Request):
        """GET /invitations/accept?token=… — the "Launch CRM" link of an invitation e-mail."""
        token = request.query_params.get("token", "")
        async with svc.pool.acquire() as conn:
            invitation = await repository.invitation_by_hash(conn, hash_token(token)) if token else None
            account = await repository.get_account(conn, invitation.account_id) if invitation else None
        if invitation is None or account is None:
            return _page(*_REFUSED_PAGES["invitation_not_found"])
        message = command(identity.AcceptInvitation(token=token), source="crm/identity-web",
                          accountid=invitation.account_id, subject=invitation.user_id)
        try:
            outcome = await commands.handle_message(message)
        except Exception:
            log.exception("invitation_accept_failed")
            return _page(503, "Please try again", "We could not process your invitation just now.")
        if outcome.name == "rejected":
            return _page(*_REFUSED_PAGES.get(outcome.reason or "", (400, "This link cannot be used", outcome.detail or "")))
        return _page(200, f"Welcome to {account.name}",
                     "Your invitation is accepted. Launch the CRM to finish setting up your account.")

    async def account(request: Request):
        """GET /v1/accounts?account_id=… — the account, its members and groups."""
        account_id = request.query_params.get("account_id", "")
        async with svc.pool.acquire() as conn:
            found = await repository.get_account(conn, account_id)
            if found is None:
                return json_response({"error": "not_found", "account_id": account_id}, 404)
            members = await repository.list_members(conn, account_id)
        return json_response({"account": found.__dict__, "members": members})

    async def _run(data, instance_id: str) -> Response | None:
        """Hand an instance command to this service's own handler, as if it came from the topic;
        a response when it was refused or could not be handled, None when it took effect."""
        async with svc.pool.acquire() as conn:
            instance = await repository.get_instance(conn, instance_id)
        if instance is None:
            return json_response({"error": "unknown_instance", "instance_id": instance_id}, 404)
        message = command(data, source="crm/identity-web", accountid=instance.account_id, instanceid=instance_id)
        try:
            outcome = await commands.handle_message(message)
        except Exception:
            log.exception("instance_command_failed", type=message.type)
            return json_response({"error": "unavailable", "message": "try again shortly"}, 503)
        if outcome.name == "rejected":
            return json_response({"error": outcome.reason, "message": outcome.detail},
                                 _REFUSED_STATUS.get(outcome.reason or "", 409))
        return None

    async def issue_key(request: Request):
        """POST /v1/instances/{instance_id}/api-keys {"name", "by_user_id"} — the key, shown this once."""
        instance_id = request.path_params["instance_id"]
        key = new_api_key()
        try:
            body = await request.json()
            data = identity.IssueApiKey(instance_id=instance_id, name=body.get("name"), by_user_id=body.get("by_user_id"),
                                        key_id=key.key_id, key_hash=key.key_hash, last_four=key.last_four)
        except (ValueError, AttributeError, ValidationError) as exc:
            return json_response({"error": "invalid_request", "message": str(exc)[:500]}, 400)
        if (refused := await _run(data, instance_id)) is not None:
            return refused
        return json_response({"key_id": key.key_id, "name": data.name, "key": key.key, "last_four": key.last_four,
                              "instance_id": instance_id,
                              "note": "This is the only time the key is shown; only its hash is kept."}, 201)

    async def revoke_key(request: Request):
        """DELETE /v1/instances/{instance_id}/api-keys/{key_id}?by_user_id=…"""
        instance_id, key_id = request.path_params["instance_id"], request.path_params["key_id"]
        by_user_id = request.query_params.get("by_user_id") or None
        data = identity.RevokeApiKey(instance_id=instance_id, key_id=key_id, by_user_id=by_user_id)
        if (refused := await _run(data, instance_id)) is not None:
            return refused
        return json_response({"key_id": key_id, "revoked": True})

    async def list_keys(request: Request):
        """GET /v1/instances/{instance_id}/api-keys?by_user_id=… — names, ids, created, last four, revoked."""
        instance_id = request.path_params["instance_id"]
        async with svc.pool.acquire() as conn:
            instance = await repository.get_instance(conn, instance_id)
            if instance is None or instance.kind != "private":
                return json_response({"error": "unknown_instance", "instance_id": instance_id}, 404)
            if request.query_params.get("by_user_id") != instance.owner_user_id:
                return json_response({"error": "not_instance_owner",
                                      "message": "only the instance's owner may list its keys"}, 403)
            return json_response({"instance_id": instance_id, "keys": await repository.api_keys(conn, instance_id)})

    async def instances(request: Request):
        """GET /v1/instances?user_id=…[&account_id=…] — instances the user owns and belongs to, with roles."""
        user_id = request.query_params.get("user_id", "")
        if not user_id:
            return json_response({"error": "invalid_request", "message": "user_id is required"}, 400)
        async with svc.pool.acquire() as conn:
            account_id = request.query_params.get("account_id") or None
            found = await repository.instances_of(conn, user_id, account_id)
            own = await repository.personal(conn, user_id, account_id)
        for row in found:
            row["personal"] = own  # the same on every instance of the user (PI11)
        return json_response({"user_id": user_id, "instances": found,
                              "owns": [i["instance_id"] for i in found if i["owner"]]})

    async def instance_members(request: Request):
        """GET /v1/instances/{instance_id}/members — the roster, with roles."""
        instance_id = request.path_params["instance_id"]
        async with svc.pool.acquire() as conn:
            instance = await repository.get_instance(conn, instance_id)
            if instance is None:
                return json_response({"error": "unknown_instance", "instance_id": instance_id}, 404)
            return json_response({"instance": instance.__dict__,
                                  "members": await repository.instance_members(conn, instance_id)})

    return [get("/invitations/accept", accept), get("/v1/accounts", account), get("/v1/instances", instances),
            get("/v1/instances/{instance_id}/members", instance_members),
            post("/v1/instances/{instance_id}/api-keys", issue_key), get("/v1/instances/{instance_id}/api-keys", list_keys),
            delete("/v1/instances/{instance_id}/api-keys/{key_id}", revoke_key)]

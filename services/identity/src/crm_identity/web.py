"""Identity's HTTP side: the invitation page people open from their e-mail, read endpoints, and
API keys. Every endpoint but the invitation page takes a bearer token; `domain/access.py` and
`may_administer_account` decide what its subject may see or do."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from html import escape
from urllib.parse import parse_qs, urlsplit

from crm_contracts import command, identity
from crm_runtime import logs
from crm_runtime.auth import may_administer_account, may_read_own
from crm_runtime.http import (Request, Response, Route, caller, delete, forbidden, get, html_response, json_response,
                              post)
from crm_runtime.service import Service
from pydantic import ValidationError

from . import repository
from .domain.access import may_manage_instance, may_read_roster
from .domain.instances import new_api_key
from .domain.invitations import InvitationError, hash_token

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
_REFUSED_STATUS = {"not_instance_owner": 403, "not_a_private_instance": 403,
                   "unknown_instance": 404, "unknown_api_key": 404}


_CSRF_COOKIE = "crm_invitation_csrf"
# The confirmation page holds a live link in its address: keep it out of caches, other sites'
# Referer headers and other sites' frames (a framed "Accept" button is a clickjacking target).
_PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                 "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'"}


def _page(status: int, title: str, text: str, form: str = ""):
    return html_response(
        "<!doctype html><html><head><meta charset='utf-8'><title>{t}</title></head>"
        "<body><main><h1>{t}</h1><p>{x}</p>{f}</main></body></html>".format(t=escape(title), x=escape(text), f=form),
        status, headers=_PAGE_HEADERS)


def _same_site(request: Request, public_origin: str) -> bool:
    """Browsers say where a form post came from; a post from another site is refused."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin is None or origin == public_origin


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def routes(svc: Service) -> list[Route]:
    commands = svc.processor_for(identity.COMMANDS)
    public_origin = _origin(svc.settings.base_url())

    async def _pending(token: str):
        """The invitation and account a token names, or the refusal page to show instead."""
        async with svc.pool.acquire() as conn:
            invitation = await repository.invitation_by_hash(conn, hash_token(token)) if token else None
            account = await repository.get_account(conn, invitation.account_id) if invitation else None
            instance = await repository.get_instance(conn, invitation.instance_id) \
                if invitation and invitation.instance_id else None
        if invitation is None or account is None:
            return None, _page(*_REFUSED_PAGES["invitation_not_found"])
        try:
            invitation.accept(datetime.now(UTC))  # only asks whether it could be; nothing is stored
        except InvitationError as refused:
            return None, _page(*_REFUSED_PAGES[refused.reason])
        return (invitation, account, instance), None

    async def confirm_page(request: Request):
        """GET /invitations/accept?token=… — the link of an invitation e-mail. It accepts nothing:
        mail scanners and link previews open links before people do. It names the account and asks
        the person to confirm."""
        found, refused = await _pending(request.query_params.get("token", ""))
        if refused is not None:
            return refused
        invitation, account, instance = found
        place = f"{instance.name} ({account.name})" if instance else account.name
        csrf = secrets.token_urlsafe(32)
        form = ("<form method='post' action='/invitations/accept'>"
                "<input type='hidden' name='token' value='{t}'><input type='hidden' name='csrf' value='{c}'>"
                "<button type='submit'>Accept and join {p}</button></form>").format(
                    t=escape(request.query_params["token"]), c=csrf, p=escape(place))
        page = _page(200, f"Join {place}", f"You were invited to join {place} in the CRM. "
                     f"Confirm to accept; this link then stops working.", form)
        page.set_cookie(_CSRF_COOKIE, csrf, max_age=3600, path="/invitations", httponly=True, samesite="strict",
                        secure=public_origin.startswith("https://"))
        return page

    async def accept(request: Request):
        """POST /invitations/accept (form: token, csrf) — the person's confirmation from the page."""
        body = await request.body()
        try:
            fields = parse_qs(body.decode(errors="replace"), max_num_fields=4) if len(body) <= 4096 else {}
        except ValueError:  # more fields than the form has: not our page's post
            fields = {}
        token, csrf = (fields.get("token") or [""])[0], (fields.get("csrf") or [""])[0]
        cookie = request.cookies.get(_CSRF_COOKIE, "")
        if not (_same_site(request, public_origin) and csrf and cookie and secrets.compare_digest(csrf, cookie)):
            log.warning("invitation_confirm_refused", reason="cross_site_or_missing_csrf")
            return _page(403, "Please confirm from the invitation page",
                         "Open the link in your invitation e-mail again and press the button on that page.")
        found, refused = await _pending(token)
        if refused is not None:
            return refused
        invitation, account, _ = found
        message = command(identity.AcceptInvitation(token=token), source="crm/identity-web",
                          accountid=invitation.account_id, subject=invitation.user_id)
        try:
            outcome = await commands.handle_message(message)
        except Exception:
            log.exception("invitation_accept_failed")
            return _page(503, "Please try again", "We could not process your invitation just now.")
        if outcome.name == "rejected":
            return _page(*_REFUSED_PAGES.get(outcome.reason or "", (400, "This link cannot be used", outcome.detail or "")))
        page = _page(200, f"Welcome to {account.name}",
                     "Your invitation is accepted. Launch the CRM to finish setting up your account.")
        page.delete_cookie(_CSRF_COOKIE, path="/invitations")
        return page

    async def account(request: Request):
        """GET /v1/accounts?account_id=… — the account, its members and groups (owner and admins)."""
        account_id = request.query_params.get("account_id", "")
        async with svc.pool.acquire() as conn:
            decision = may_administer_account(
                caller(request), await repository.account_standing(conn, account_id, caller(request).user_id))
            if not decision.allowed:
                return forbidden(request, decision)
            found = await repository.get_account(conn, account_id)
            if found is None:
                return json_response({"error": "not_found", "account_id": account_id}, 404)
            members = await repository.list_members(conn, account_id)
        return json_response({"account": found.__dict__, "members": members})

    async def _run(request: Request, data, instance_id: str) -> Response | None:
        """Hand an owner's instance command to this service's own handler, as if it came from the
        topic, acting as the token's subject; a response when it was refused or could not be
        handled, None when it took effect."""
        async with svc.pool.acquire() as conn:
            instance = await repository.get_instance(conn, instance_id)
        if not (decision := may_manage_instance(caller(request), instance)).allowed:
            return forbidden(request, decision)
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
        """GET /v1/instances/{instance_id}/api-keys — names, ids, created, last four, revoked."""
        instance_id = request.path_params["instance_id"]
        async with svc.pool.acquire() as conn:
            instance = await repository.get_instance(conn, instance_id)
            if not (decision := may_manage_instance(caller(request), instance)).allowed:
                return forbidden(request, decision)
            return json_response({"instance_id": instance_id, "keys": await repository.api_keys(conn, instance_id)})

    async def instances(request: Request):
        """GET /v1/instances[?user_id=…][&account_id=…] — instances the user (by default the caller)
        owns and belongs to, with roles."""
        user_id = request.query_params.get("user_id") or caller(request).user_id
        if not (decision := may_read_own(caller(request), user_id)).allowed:
            return forbidden(request, decision)
        async with svc.pool.acquire() as conn:
            account_id = request.query_params.get("account_id") or None
            found = await repository.instances_of(conn, user_id, account_id)
            own = await repository.personal(conn, user_id, account_id)
        for row in found:
            row["personal"] = own  # the same on every instance of the user (PI11)
        return json_response({"user_id": user_id, "instances": found,
                              "owns": [i["instance_id"] for i in found if i["owner"]]})

    async def instance_members(request: Request):
        """GET /v1/instances/{instance_id}/members — the roster, with roles (its members, the account's admins)."""
        instance_id = request.path_params["instance_id"]
        me = caller(request)
        async with svc.pool.acquire() as conn:
            instance = await repository.get_instance(conn, instance_id)
            member = instance is not None and await repository.instance_role(conn, instance_id, me.user_id) is not None
            admin = instance is not None and may_administer_account(
                me, await repository.account_standing(conn, instance.account_id, me.user_id)).allowed
            if not (decision := may_read_roster(me, instance, member=member, administers_account=admin)).allowed:
                return forbidden(request, decision)
            if instance is None:
                return json_response({"error": "unknown_instance", "instance_id": instance_id}, 404)
            return json_response({"instance": instance.__dict__,
                                  "members": await repository.instance_members(conn, instance_id)})

    return [get("/invitations/accept", confirm_page, public=True), post("/invitations/accept", accept, public=True),
            get("/v1/accounts", account), get("/v1/instances", instances),
            get("/v1/instances/{instance_id}/members", instance_members),
            post("/v1/instances/{instance_id}/api-keys", issue_key), get("/v1/instances/{instance_id}/api-keys", list_keys),
            delete("/v1/instances/{instance_id}/api-keys/{key_id}", revoke_key)]

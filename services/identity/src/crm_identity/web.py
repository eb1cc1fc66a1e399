"""Identity's HTTP side: the invitation link people click, and read endpoints."""

from __future__ import annotations

from html import escape

from crm_contracts import command, identity
from crm_runtime import logs
from crm_runtime.http import Request, Route, get, html_response, json_response
from crm_runtime.service import Service

from . import repository
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

    return [get("/invitations/accept", accept), get("/v1/accounts", account)]

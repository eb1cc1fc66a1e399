"""Notifications' HTTP side: the notification center, each user's own; an account's e-mail
templates, read back and previewed, for its owner and admins."""

from __future__ import annotations

from crm_contracts.notifications import TemplateName
from crm_runtime.auth import may_administer_account, may_read_own
from crm_runtime.http import Request, Response, Route, caller, forbidden, get, json_response
from crm_runtime.service import Service

from . import repository
from .domain.templates import DEFAULTS, PLACEHOLDERS, preview


def routes(svc: Service) -> list[Route]:
    async def center(request: Request):
        """GET /v1/notifications[?user_id=…] — the caller's notifications and unread counts per instance."""
        user_id = request.query_params.get("user_id") or caller(request).user_id
        if not (decision := may_read_own(caller(request), user_id)).allowed:
            return forbidden(request, decision)
        async with svc.pool.acquire() as conn:
            return json_response({"user_id": user_id,
                                  "unread": await repository.unread_counts(conn, user_id),
                                  "items": await repository.notification_center(conn, user_id)})

    async def _admin(request: Request, conn) -> Response | None:
        account_id = request.query_params.get("account_id", "")
        standing = await repository.account_standing(conn, account_id, caller(request).user_id)
        if not (decision := may_administer_account(caller(request), standing)).allowed:
            return forbidden(request, decision)
        return None

    async def templates(request: Request):
        """GET /v1/templates?account_id=… — every e-mail template the account sends: subject, body,
        placeholders, whether it is the account's own (`custom`) and whether it can be set."""
        account_id = request.query_params.get("account_id", "")
        async with svc.pool.acquire() as conn:
            if (refused := await _admin(request, conn)) is not None:
                return refused
            own = await repository.custom_templates(conn, account_id)
        settable = {t.value for t in TemplateName}
        return json_response({"account_id": account_id, "templates": [
            {"kind": kind, "custom": kind in own, "settable": kind in settable,
             "subject": own.get(kind, DEFAULTS[kind]).subject, "body": own.get(kind, DEFAULTS[kind]).body,
             "placeholders": sorted(PLACEHOLDERS[kind])} for kind in PLACEHOLDERS]})

    async def template_preview(request: Request):
        """GET /v1/templates/{kind}/preview?account_id=… — the account's template rendered with sample
        values, escaped as when sent."""
        kind, account_id = request.path_params["kind"], request.query_params.get("account_id", "")
        async with svc.pool.acquire() as conn:
            if (refused := await _admin(request, conn)) is not None:
                return refused
            if kind not in PLACEHOLDERS:
                return json_response({"error": "unknown_template", "kind": kind}, 404)
            template = await repository.template_for(conn, account_id, kind)
        subject, body = preview(template, kind)
        return json_response({"kind": kind, "subject": subject, "html": body})

    return [get("/v1/notifications", center), get("/v1/templates", templates),
            get("/v1/templates/{kind}/preview", template_preview)]

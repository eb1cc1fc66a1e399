"""Notifications' HTTP side: the notification center, each user's own; an account's e-mail
templates, read back and previewed, for its owner and admins."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from crm_contracts import command
from crm_contracts.common import Ref
from crm_contracts.notifications import ReadNotifications, TemplateName
from crm_runtime.http import (Answer, Request, Response, Route, action_name, allow, caller, get, json_response, post,
                              query, run_command, service)

from . import access, repository
from .domain import policy
from .domain.templates import DEFAULTS, PLACEHOLDERS, preview


class CenterQuery(BaseModel):
    instance_id: Ref | None = Field(default=None, description="the instance the person is signed into")
    user_id: Ref | None = Field(default=None, description="the user asked about (the caller by default)")
    device_id: Ref | None = Field(default=None, description="the asking device, as its session was set: a mobile "
                                                             "device sees the details of its own instance only")


class InstanceQuery(BaseModel):
    instance_id: Ref


class AccountQuery(BaseModel):
    account_id: Ref


async def _gate(request: Request, conn, account_id: str | None, *, about_user_id: str | None = None) -> None:
    """Go on when the policy allows this route; else its refusal."""
    me = caller(request)
    facts = await access.facts(conn, account_id, me.user_id, operator=me.operator, about_user_id=about_user_id)
    allow(policy.route(action_name(request), facts))


async def center(request: Request):
    """GET /v1/notifications[?instance_id=…][&user_id=…][&device_id=…] — with `instance_id` (the
    instance the person is signed into): that instance's notifications in full, and for every other
    instance only its name and unread count ("the notification will display the source
    information"); without it, every notification (the web center). A mobile device (`device_id`
    of its session) gets its own instance's view whatever it asks: the server decides from the
    session. Unread counts per instance either way."""
    asked = query(request, CenterQuery)
    user_id, here = asked.user_id or caller(request).user_id, asked.instance_id
    async with service(request).pool.acquire() as conn:
        await _gate(request, conn, None, about_user_id=user_id)
        if asked.device_id is not None:
            signed_in = await repository.center.session(conn, user_id, asked.device_id)
            if signed_in is None:
                raise Answer(404, "unknown_device", f"no session of {user_id} on device {asked.device_id}")
            if signed_in.device == "mobile":
                # "Must be logged in to that instance to see the notification details": the
                # session says which, whatever the app asks.
                if here is not None and here != signed_in.instance_id:
                    raise Answer(403, "not_signed_into_instance",
                                 f"device {asked.device_id} is signed into {signed_in.instance_id}; sign into "
                                 f"{here} to see its notifications")
                here = signed_in.instance_id
        unread = await repository.center.unread_counts(conn, user_id)
        items = await repository.center.notification_center(conn, user_id, here)
        if here is None:
            return json_response({"user_id": user_id, "unread": unread, "items": items})
        names = await repository.center.instance_names(conn, [i for i in unread if i != here])
    elsewhere = [{"instance_id": i, "instance_name": names.get(i, i), "unread": n}
                 for i, n in unread.items() if i != here]
    return json_response({"user_id": user_id, "instance_id": here, "unread": unread, "items": items,
                          "elsewhere": elsewhere})


async def _read(request: Request, data, account_id: str | None) -> Response:
    """Mark read through this service's own handler (it publishes the new unread counts), as a
    command of the account the notifications belong to."""
    svc = service(request)
    async with svc.pool.acquire() as conn:
        await _gate(request, conn, account_id, about_user_id=data.user_id)
    if account_id is None:
        raise Answer(404, "not_found", "no such notification of yours")
    await run_command(svc.processor, command(data, source="crm/notifications-web", accountid=account_id,
                                             subject=data.user_id))
    async with svc.pool.acquire() as conn:
        return json_response({"user_id": data.user_id, "unread": await repository.center.unread_counts(conn, data.user_id)})


async def read_one(request: Request):
    """POST /v1/notifications/{notification_id}/read — the caller's own notification."""
    me, notification_id = caller(request).user_id, request.path_params["notification_id"]
    async with service(request).pool.acquire() as conn:
        account_id = await repository.center.account_of_notification(conn, me, notification_id)
    return await _read(request, ReadNotifications(user_id=me, notification_ids=[notification_id]), account_id)


async def read_all(request: Request):
    """POST /v1/notifications/read-all?instance_id=… — every one of the caller's in that instance."""
    instance_id = query(request, InstanceQuery).instance_id
    async with service(request).pool.acquire() as conn:
        account_id = await repository.center.account_of_instance(conn, instance_id)
    return await _read(request, ReadNotifications(user_id=caller(request).user_id, instance_id=instance_id),
                       account_id)


async def templates(request: Request):
    """GET /v1/templates?account_id=… — every e-mail template the account sends: subject, body,
    placeholders, whether it is the account's own (`custom`) and whether it can be set."""
    account_id = query(request, AccountQuery).account_id
    async with service(request).pool.acquire() as conn:
        await _gate(request, conn, account_id)
        own = await repository.emails.custom_templates(conn, account_id)
    settable = {t.value for t in TemplateName}
    return json_response({"account_id": account_id, "templates": [
        {"kind": kind, "custom": kind in own, "settable": kind in settable,
         "subject": own.get(kind, DEFAULTS[kind]).subject, "body": own.get(kind, DEFAULTS[kind]).body,
         "placeholders": sorted(PLACEHOLDERS[kind])} for kind in PLACEHOLDERS]})


async def template_preview(request: Request):
    """GET /v1/templates/{kind}/preview?account_id=… — the account's template rendered with sample
    values, escaped as when sent."""
    kind, account_id = request.path_params["kind"], query(request, AccountQuery).account_id
    async with service(request).pool.acquire() as conn:
        await _gate(request, conn, account_id)
        if kind not in PLACEHOLDERS:
            raise Answer(404, "unknown_template", kind=kind)
        template = await repository.emails.template_for(conn, account_id, kind)
    subject, body = preview(template, kind)
    return json_response({"kind": kind, "subject": subject, "html": body})


ROUTES: list[Route] = [
    get("/v1/notifications", center, query=CenterQuery), post("/v1/notifications/{notification_id}/read", read_one),
    post("/v1/notifications/read-all", read_all, query=InstanceQuery), get("/v1/templates", templates, query=AccountQuery),
    get("/v1/templates/{kind}/preview", template_preview, query=AccountQuery)]


def routes(_svc: Any = None) -> list[Route]:
    """The endpoints are module-level; each finds its service on the request."""
    return ROUTES

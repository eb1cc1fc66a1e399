"""The instance Open API ("Different instances have their own API key. This key allows the Lofty
user to get/create/update data in the specific instance"): `Authorization: Bearer crmk_…` alone,
each key reaching only its own instance's leads.

The key is looked up by its SHA-256 on every request, so a key is refused as soon as routing has
read its `identity.api_key.revoked`. Writes run routing's own handlers as if the command came from
the topic (`leads.lead.captured` with the key's hash, `routing.lead.move_stage`/`.tag`/`.update`
naming the key by id), so they publish the same events. Each key may make 20 requests a second,
counted across every replica, and an address sending unknown keys is stopped before any lookup
(`rate`). A key's use is reported
on `routing.api_key_usage.v1` at most once a minute, for identity's key list."""

from __future__ import annotations

import hashlib
import time
import uuid

from pydantic import BaseModel, Field, ValidationError

from crm_contracts import command
from crm_contracts.leads import Channel, Lead, LeadCaptured
from crm_contracts.organisation import Contact, MoveLeadStage, StageId, Tag, TagLead, UpdateLead
from crm_contracts.routing import RecordKeyUse
from crm_runtime import logs
from crm_contracts.permissions import Facts
from crm_runtime.http import (
    Answer,
    Request,
    action_name,
    get,
    json_response,
    patch,
    post,
    query,
    run_command,
    service,
    trace_context,
)

from .. import repository
from ..access import instance_state
from ..domain import policy
from . import rate
from .paging import Page, cursor_of

log = logs.get(__name__)

KEY_PREFIX = "crmk_"
USE_REPORTED_EVERY_S = 60


class NewLead(Lead):
    """A lead for the key's instance; `lead_id`, when given, is the caller's own id for it."""

    lead_id: str | None = Field(default=None, min_length=1, max_length=200)


class Patch(BaseModel):
    """What PATCH may change, applied in this order: stage, tags, contact fields."""

    stage_id: StageId | None = None
    add_tags: list[Tag] = Field(default=[], max_length=50)
    remove_tags: list[Tag] = Field(default=[], max_length=50)
    contact: Contact | None = None


def _lead_id(instance_id: str, asked: object) -> str:
    """A caller's own lead id is kept within its instance: the stored id is derived from both, so it
    can neither collide with nor reveal another instance's lead; the same id again is the same lead."""
    if asked is None:
        return "lead_" + uuid.uuid4().hex[:16]
    if not isinstance(asked, str) or not 1 <= len(asked) <= 200:
        raise ValueError("lead_id is text of 1 to 200 characters")
    return "lead_" + hashlib.sha256(f"{instance_id}/{asked}".encode()).hexdigest()[:24]


def _error(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, error, message, headers=headers)


# When this process last reported each key's use.
_reported: dict[str, float] = {}  # key id → when (monotonic)


def _limited(retry_after: str) -> Answer:
    return _error(429, "rate_limited", f"at most {rate.KEY_RATE.amount} requests per second per key",
                  {"Retry-After": retry_after})


async def _key(request: Request) -> dict:
    """The key's row once it may make this request; else the answer refusing it."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX):
        raise _error(401, "unauthenticated", "an instance API key is required: Authorization: Bearer crmk_…",
                     {"WWW-Authenticate": "Bearer"})
    address = request.client.host if request.client else "-"
    per_minute = service(request).settings.open_api_misses_per_minute
    if (wait := rate.address_refused(address, per_minute)) is not None:
        raise _error(429, "rate_limited", "too many unknown API keys from this address", {"Retry-After": wait})
    key_hash = hashlib.sha256(key.encode()).hexdigest()
    if (wait := rate.process_refused(key_hash)) is not None:
        raise _limited(wait)
    async with service(request).pool.acquire() as conn:
        found = await repository.roster.api_key(conn, key_hash)
        if found is not None and not found["revoked"] and not await rate.shared_allows(conn, key_hash):
            raise _limited("1")
    if found is None or found["revoked"]:
        rate.missed(address, per_minute)
        log.warning("open_api_key_refused", path=request.url.path, known=found is not None)
        raise _error(401, "invalid_api_key", "the API key is unknown or revoked",
                     {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    facts = Facts(api_key=True, instance_kind=found["kind"], instance_state=instance_state(found["read_only_until"],
                                                                     service(request).clock(None)))
    if not (decision := policy.route(action_name(request), facts)):
        raise _error(decision.status, decision.reason, decision.message)
    row = {**dict(found), "key_hash": key_hash}
    await _report_use(request, row)
    return row


async def _report_use(request: Request, key: dict) -> None:
    """At most once a minute per key and process: identity shows it in the key list."""
    if time.monotonic() - _reported.get(key["key_id"], -USE_REPORTED_EVERY_S) < USE_REPORTED_EVERY_S:
        return
    _reported[key["key_id"]] = time.monotonic()
    try:
        await _run(request, key, RecordKeyUse(key_id=key["key_id"], used_at=service(request).clock(None)))
    except Answer:
        log.warning("open_api_use_not_recorded", key_id=key["key_id"])


async def _run(request: Request, key: dict, data) -> None:
    message = command(data, source="crm/routing-open-api", accountid=key["account_id"], instanceid=key["instance_id"],
                      **trace_context(request))
    await run_command(service(request).processor, message, {"unknown_lead": 404})


async def _lead(request: Request, key: dict, lead_id: str) -> dict | None:
    async with service(request).pool.acquire() as conn:
        return await repository.organisation.open_lead(conn, key["instance_id"], lead_id)


def _not_found(lead_id: str) -> Answer:
    # Another instance's lead is answered exactly as one that does not exist.
    return _error(404, "not_found", f"no lead {lead_id} in this instance")


async def list_leads(request: Request):
    """GET /v1/open/leads?cursor=…&limit=… — the key's instance's leads, newest first."""
    key = await _key(request)
    page = query(request, Page)
    after, limit = page.after, page.limit
    async with service(request).pool.acquire() as conn:
        rows = await repository.organisation.segment_leads(conn, key["instance_id"], {}, after=after, limit=limit)
    return json_response({"instance_id": key["instance_id"], "leads": rows,
                          "next": cursor_of(rows[-1]) if len(rows) == limit else None})


async def read_lead(request: Request):
    """GET /v1/open/leads/{lead_id}"""
    key = await _key(request)
    lead_id = request.path_params["lead_id"]
    if (found := await _lead(request, key, lead_id)) is None:
        raise _not_found(lead_id)
    return json_response(found)


async def create_lead(request: Request):
    """POST /v1/open/leads {first_name, last_name, email, phone, zip, price, source, tags, lead_id?}
    — captured as an Open API lead of the key's instance and routed; 201 with where it went."""
    key = await _key(request)
    try:
        body = await request.json()
        lead_id = _lead_id(key["instance_id"], body.pop("lead_id", None))
        data = LeadCaptured(lead_id=lead_id, channel=Channel.OPEN_API, api_key_sha256=key["key_hash"],
                            lead=Lead.model_validate(body))
    except (ValueError, AttributeError, TypeError, ValidationError) as exc:
        raise _error(400, "invalid_request", str(exc)[:500]) from None
    await _run(request, key, data)
    if (found := await _lead(request, key, lead_id)) is None:  # answered with routing.lead.rejected
        raise _error(409, "not_captured", f"lead {lead_id} was not captured")
    return json_response(found, 201)


async def update_lead(request: Request):
    """PATCH /v1/open/leads/{lead_id} {stage_id?, add_tags?, remove_tags?, contact?} — each part
    publishes what the person's command would; the first refused part stops the rest."""
    key = await _key(request)
    lead_id = request.path_params["lead_id"]
    try:
        change = Patch.model_validate(await request.json())
    except (ValueError, ValidationError) as exc:
        raise _error(400, "invalid_request", str(exc)[:500]) from None
    if await _lead(request, key, lead_id) is None:
        raise _not_found(lead_id)
    actor = {"lead_id": lead_id, "via_api_key": key["key_id"]}
    try:
        steps = [*([MoveLeadStage(stage_id=change.stage_id, **actor)] if change.stage_id else []),
                 *([TagLead(add=change.add_tags, remove=change.remove_tags, **actor)]
                   if change.add_tags or change.remove_tags else []),
                 *([UpdateLead(contact=change.contact, **actor)] if change.contact else [])]
    except ValidationError as exc:
        raise _error(400, "invalid_request", str(exc)[:500]) from None
    for step in steps:
        await _run(request, key, step)
    return json_response(await _lead(request, key, lead_id))


ROUTES = [get("/v1/open/leads", list_leads, public=True, auth="api_key", query=Page),
          post("/v1/open/leads", create_lead, public=True, auth="api_key", body=NewLead),
          get("/v1/open/leads/{lead_id}", read_lead, public=True, auth="api_key"),
          patch("/v1/open/leads/{lead_id}", update_lead, public=True, auth="api_key", body=Patch)]

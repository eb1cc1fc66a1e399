"""The instance Open API ("Different instances have their own API key. This key allows the Lofty
user to get/create/update data in the specific instance"): `Authorization: Bearer crmk_…` alone,
each key reaching only its own instance's leads.

The key is looked up by its SHA-256 on every request, so a key is refused as soon as routing has
read its `identity.api_key.revoked`. Writes run routing's own handlers as if the command came from
the topic (`leads.lead.captured` with the key's hash, `routing.lead.move_stage`/`.tag`/`.update`
naming the key by id), so they publish the same events. Each key may make `RATE` requests; past
that the answer is 429 with `Retry-After` (counted per routing process). A key's use is reported
on `routing.api_key_usage.v1` at most once a minute, for identity's key list."""

from __future__ import annotations

import hashlib
import math
import time
import uuid

from limits import parse, storage, strategies
from pydantic import BaseModel, ValidationError

from crm_contracts import command, now
from crm_contracts.leads import Channel, Lead, LeadCaptured
from crm_contracts.organisation import Contact, MoveLeadStage, TagLead, UpdateLead
from crm_contracts.routing import RecordKeyUse
from crm_runtime import logs
from crm_contracts.permissions import Facts
from crm_runtime.http import Request, Response, Route, action_name, get, json_response, patch, post, run_command
from crm_runtime.service import Service

from .. import repository
from ..access import instance_state
from ..domain import policy
from .paging import after as after_cursor, cursor_of

log = logs.get(__name__)

RATE = parse("20/second")
KEY_PREFIX = "crmk_"
USE_REPORTED_EVERY_S = 60


class Patch(BaseModel):
    """What PATCH may change, applied in this order: stage, tags, contact fields."""

    stage_id: str | None = None
    add_tags: list[str] = []
    remove_tags: list[str] = []
    contact: Contact | None = None


def _lead_id(instance_id: str, asked: object) -> str:
    """A caller's own lead id is kept within its instance: the stored id is derived from both, so it
    can neither collide with nor reveal another instance's lead; the same id again is the same lead."""
    if asked is None:
        return "lead_" + uuid.uuid4().hex[:16]
    if not isinstance(asked, str) or not 1 <= len(asked) <= 200:
        raise ValueError("lead_id is text of 1 to 200 characters")
    return "lead_" + hashlib.sha256(f"{instance_id}/{asked}".encode()).hexdigest()[:24]


def _json_error(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Response:
    response = json_response({"error": error, "message": message}, status)
    response.headers.update(headers or {})
    return response


def routes(svc: Service) -> list[Route]:
    limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
    reported: dict[str, float] = {}  # key id → when this process last reported its use (monotonic)

    async def _key(request: Request) -> tuple[dict | None, Response | None]:
        """The key's row, or the answer refusing the request."""
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX):
            return None, _json_error(401, "unauthenticated", "an instance API key is required: "
                                     "Authorization: Bearer crmk_…", {"WWW-Authenticate": "Bearer"})
        key_hash = hashlib.sha256(key.encode()).hexdigest()
        if not limiter.hit(RATE, key_hash):
            reset = limiter.get_window_stats(RATE, key_hash).reset_time
            return None, _json_error(429, "rate_limited", f"at most {RATE.amount} requests per second per key",
                                     {"Retry-After": str(max(1, math.ceil(reset - time.time())))})
        async with svc.pool.acquire() as conn:
            found = await repository.api_key(conn, key_hash)
        if found is None or found["revoked"]:
            log.warning("open_api_key_refused", path=request.url.path, known=found is not None)
            return None, _json_error(401, "invalid_api_key", "the API key is unknown or revoked",
                                     {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        facts = Facts(api_key=True, instance_kind=found["kind"], instance_state=instance_state(found["read_only_until"]))
        if not (decision := policy.route(action_name(request), facts)):
            return None, _json_error(decision.status, decision.reason, decision.message)
        key = {**dict(found), "key_hash": key_hash}
        await _report_use(key)
        return key, None

    async def _report_use(key: dict) -> None:
        """At most once a minute per key and process: identity shows it in the key list."""
        if time.monotonic() - reported.get(key["key_id"], -USE_REPORTED_EVERY_S) < USE_REPORTED_EVERY_S:
            return
        reported[key["key_id"]] = time.monotonic()
        if await _run(key, RecordKeyUse(key_id=key["key_id"], used_at=now())) is not None:
            log.warning("open_api_use_not_recorded", key_id=key["key_id"])

    async def _run(key: dict, data) -> Response | None:
        message = command(data, source="crm/routing-open-api", accountid=key["account_id"],
                          instanceid=key["instance_id"])
        return await run_command(svc.processor, message, {"unknown_lead": 404})

    async def _lead(key: dict, lead_id: str) -> dict | None:
        async with svc.pool.acquire() as conn:
            found = await repository.open_lead(conn, key["instance_id"], lead_id)
        return found

    def _not_found(lead_id: str) -> Response:
        # Another instance's lead is answered exactly as one that does not exist.
        return _json_error(404, "not_found", f"no lead {lead_id} in this instance")

    async def list_leads(request: Request):
        """GET /v1/open/leads?cursor=…&limit=… — the key's instance's leads, newest first."""
        key, refused = await _key(request)
        if refused is not None:
            return refused
        try:
            after = after_cursor(request.query_params.get("cursor"))
            limit = min(max(int(request.query_params.get("limit", "50")), 1), 500)
        except ValueError:
            return _json_error(400, "invalid_request", "cursor is one this endpoint gave, limit a whole number")
        async with svc.pool.acquire() as conn:
            rows = await repository.segment_leads(conn, key["instance_id"], {}, after=after, limit=limit)
        return json_response({"instance_id": key["instance_id"], "leads": rows,
                              "next": cursor_of(rows[-1]) if len(rows) == limit else None})

    async def read_lead(request: Request):
        """GET /v1/open/leads/{lead_id}"""
        key, refused = await _key(request)
        if refused is not None:
            return refused
        lead_id = request.path_params["lead_id"]
        found = await _lead(key, lead_id)
        return json_response(found) if found else _not_found(lead_id)

    async def create_lead(request: Request):
        """POST /v1/open/leads {first_name, last_name, email, phone, zip, price, source, tags, lead_id?}
        — captured as an Open API lead of the key's instance and routed; 201 with where it went."""
        key, refused = await _key(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
            lead_id = _lead_id(key["instance_id"], body.pop("lead_id", None))
            data = LeadCaptured(lead_id=lead_id, channel=Channel.OPEN_API, api_key_sha256=key["key_hash"],
                                lead=Lead.model_validate(body))
        except (ValueError, AttributeError, TypeError, ValidationError) as exc:
            return _json_error(400, "invalid_request", str(exc)[:500])
        if (refused := await _run(key, data)) is not None:
            return refused
        found = await _lead(key, lead_id)
        if found is None:  # the capture was answered with routing.lead.rejected (e.g. a lead id seen before)
            return _json_error(409, "not_captured", f"lead {lead_id} was not captured: its id is taken")
        return json_response(found, 201)

    async def update_lead(request: Request):
        """PATCH /v1/open/leads/{lead_id} {stage_id?, add_tags?, remove_tags?, contact?} — each part
        publishes what the person's command would; the first refused part stops the rest."""
        key, refused = await _key(request)
        if refused is not None:
            return refused
        lead_id = request.path_params["lead_id"]
        try:
            change = Patch.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return _json_error(400, "invalid_request", str(exc)[:500])
        if await _lead(key, lead_id) is None:
            return _not_found(lead_id)
        actor = {"lead_id": lead_id, "via_api_key": key["key_id"]}
        try:
            steps = [*([MoveLeadStage(stage_id=change.stage_id, **actor)] if change.stage_id else []),
                     *([TagLead(add=change.add_tags, remove=change.remove_tags, **actor)]
                       if change.add_tags or change.remove_tags else []),
                     *([UpdateLead(contact=change.contact, **actor)] if change.contact else [])]
        except ValidationError as exc:
            return _json_error(400, "invalid_request", str(exc)[:500])
        for step in steps:
            if (refused := await _run(key, step)) is not None:
                return refused
        return json_response(await _lead(key, lead_id))

    return [get("/v1/open/leads", list_leads, public=True), post("/v1/open/leads", create_lead, public=True),
            get("/v1/open/leads/{lead_id}", read_lead, public=True),
            patch("/v1/open/leads/{lead_id}", update_lead, public=True)]

"""Read endpoints: an account with its members, the instances of a user, an instance's roster."""

from __future__ import annotations

from pydantic import BaseModel, Field

from crm_contracts.common import MAX_ID
from crm_runtime.http import Answer, Request, caller, get, json_response, query, service

from .. import repository
from .access import account_gate, instance_gate


class AccountQuery(BaseModel):
    account_id: str = Field(min_length=1, max_length=MAX_ID)


class InstancesQuery(BaseModel):
    user_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID,
                                description="the user asked about (the caller by default)")
    account_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID)


async def account(request: Request):
    """GET /v1/accounts?account_id=… — the account, its members and groups (owner and admins)."""
    account_id = query(request, AccountQuery).account_id
    async with service(request).pool.acquire() as conn:
        await account_gate(request, conn, account_id)
        found = await repository.accounts.get_account(conn, account_id)
        if found is None:
            raise Answer(404, "not_found", account_id=account_id)
        members = await repository.accounts.list_members(conn, account_id)
    return json_response({"account": found.__dict__, "members": members})


async def instances(request: Request):
    """GET /v1/instances[?user_id=…][&account_id=…] — instances the user (by default the caller)
    owns and belongs to, with roles."""
    asked = query(request, InstancesQuery)
    user_id, account_id = asked.user_id or caller(request).user_id, asked.account_id
    async with service(request).pool.acquire() as conn:
        await account_gate(request, conn, account_id, about_user_id=user_id)
        found = await repository.instances.instances_of(conn, user_id, account_id)
        own = await repository.accounts.personal(conn, user_id, account_id)
    for row in found:
        row["personal"] = own  # the same on every instance of the user (PI11)
    return json_response({"user_id": user_id, "instances": found,
                          "owns": [i["instance_id"] for i in found if i["owner"]]})


async def instance_members(request: Request):
    """GET /v1/instances/{instance_id}/members — the roster, with roles (its members, the account's admins)."""
    instance_id = request.path_params["instance_id"]
    async with service(request).pool.acquire() as conn:
        instance = await instance_gate(request, conn, instance_id)
        return json_response({"instance": instance.__dict__,
                              "members": await repository.instances.instance_members(conn, instance_id)})


class CandidatesPage(BaseModel):
    after: str = Field(default="", max_length=MAX_ID)  # the last user id of the page before
    limit: int = Field(default=100, ge=1, le=500)


async def candidates(request: Request):
    """GET /v1/instances/{instance_id}/candidates[?after=user_id][&limit=…] — the Enterprise
    account's people who can sign in and are not yet in the instance or invited to it, from every
    group, with name and group (for the owner and the instance's admins)."""
    instance_id = request.path_params["instance_id"]
    asked = query(request, CandidatesPage)
    limit, after = asked.limit, asked.after
    async with service(request).pool.acquire() as conn:
        instance = await instance_gate(request, conn, instance_id)
        caps = instance.capabilities
        found = [] if caps is None or not caps.members_allowed else await repository.instances.invitation_candidates(
            conn, instance, at=service(request).clock(None), after=after, limit=limit)
    return json_response({"instance_id": instance_id, "members_allowed": bool(caps and caps.members_allowed),
                          "candidates": found, "next": found[-1]["user_id"] if len(found) == limit else None})


class RosterPage(BaseModel):
    after: str = Field(default="", max_length=MAX_ID, description="the last user id of the page before")
    limit: int = Field(default=100, ge=1, le=500)


async def roster(request: Request):
    """GET /v1/accounts/{account_id}/roster[?after=user_id][&limit=…] — the people the account
    shows on its website (display-only users and active agents): names, roles and offices, no
    e-mail and no status. Public: the website reads it without a token."""
    account_id = request.path_params["account_id"]
    asked = query(request, RosterPage)
    async with service(request).pool.acquire() as conn:
        if await repository.accounts.get_account(conn, account_id) is None:
            raise Answer(404, "not_found", account_id=account_id)
        people = await repository.accounts.public_roster(conn, account_id, after=asked.after, limit=asked.limit)
    answer = json_response({"account_id": account_id, "people": people,
                            "next": people[-1]["user_id"] if len(people) == asked.limit else None})
    answer.headers["Cache-Control"] = "public, max-age=60"  # a website may cache it a minute
    return answer


ROUTES = [get("/v1/accounts", account, query=AccountQuery),
          get("/v1/accounts/{account_id}/roster", roster, public=True, query=RosterPage), get("/v1/instances", instances, query=InstancesQuery),
          get("/v1/instances/{instance_id}/members", instance_members),
          get("/v1/instances/{instance_id}/candidates", candidates, query=CandidatesPage)]

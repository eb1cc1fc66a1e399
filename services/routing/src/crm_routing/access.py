"""The facts routing's policy decides on (`domain/policy.py`), gathered from routing's own copy of
identity's roster: the instance and its account, the person's role in the instance, their status
in the account (kept from identity's events), whether the lead is theirs. One query each; the
HTTP side and the handlers both ask here, so they decide alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from crm_contracts.permissions import Facts

from . import repository


def instance_state(read_only_until: Any, at: datetime) -> str:
    """active; cancelled (read-only until `read_only_until`); closed once `at` passes it."""
    if read_only_until is None:
        return "active"
    return "closed" if read_only_until <= at else "cancelled"


def facts_of(row: Mapping[str, Any] | None, user_id: str | None, *, at: datetime, account_id: str | None = None,
             operator: bool = False) -> Facts:
    """The facts of `user_id` about the instance `row` (from `repository.organisation.actor`). A row of another
    account than `account_id` (the message's) says the person is not of that account."""
    if operator:
        return Facts(user_id=user_id, operator=True,
                     instance_state=instance_state(row["read_only_until"], at) if row else "active")
    if row is None:
        return Facts(user_id=user_id)
    foreign = account_id is not None and row["account_id"] != account_id
    enterprise = row["kind"] == "enterprise"
    return Facts(user_id=user_id, status=None if foreign else row["status"],
                 account_owner=enterprise and user_id == row["owner_user_id"], administers=bool(row["administers"]),
                 instance_kind=row["kind"], instance_owner=user_id == row["owner_user_id"],
                 instance_role=row["role"], instance_state=instance_state(row["read_only_until"], at))


async def facts(conn, instance_id: str, user_id: str | None, *, at: datetime, account_id: str | None = None,
                operator: bool = False) -> tuple[Facts, Any]:
    """The facts and the instance's row (None: no such instance)."""
    row = await repository.organisation.actor(conn, instance_id, user_id or "") if instance_id else None
    return facts_of(row, user_id, at=at, account_id=account_id, operator=operator), row


async def lead_facts(conn, lead: Mapping[str, Any], user_id: str | None, *, at: datetime,
                     account_id: str | None = None, operator: bool = False) -> Facts:
    """The facts about a lead: those about its instance, and whether it is the person's."""
    found, _ = await facts(conn, lead["instance_id"], user_id, at=at, account_id=account_id, operator=operator)
    if account_id is not None and lead["account_id"] != account_id:
        found = replace(found, status=None)
    return replace(found, lead_holder=user_id is not None and lead.get("user_id") == user_id)

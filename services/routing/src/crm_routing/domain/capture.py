"""What travels between routing's handlers and its store when a lead is routed: the instance as
routing sees it (read in one round trip), and a new lead with its decision (written in one
statement). Named fields instead of rows and keyword lists, so each side says what it reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_contracts import Message

from .router import Decision, Member


@dataclass(frozen=True)
class RoutingContext:
    """Everything routing a lead in an instance needs: the instance, its latest rules (raw, parsed
    once per version by the handler), its roster, its rotation state and whether the lead id was
    seen before."""

    instance_id: str
    account_id: str
    kind: str
    owner_user_id: str
    routing: bool  # False for crm_idx_solo: the owner gets everything
    read_only_until: datetime | None
    rules_version: int | None
    rules: list[dict[str, Any]] | None
    roster: dict[str, Member]
    rotation: dict[str, dict[str, Any]]
    seen: bool
    business_hours: dict[str, Any] | None


@dataclass(frozen=True)
class Outcome:
    """What a decision makes of a lead: its state, its agent, who it is offered to, and the event
    that says so."""

    state: str  # assigned | offered | pooled
    user_id: str | None
    offered_to: list[str]
    event: Message


@dataclass(frozen=True)
class Timer:
    timer_id: str
    due_at: datetime


@dataclass(frozen=True)
class NewLead:
    """A captured lead with what routing decided for it: stored with its rotation state, timer and
    log line, or not at all when the id was seen before."""

    lead_id: str
    instance_id: str
    account_id: str
    channel: str
    captured: dict[str, Any]
    decision: Decision
    outcome: Outcome
    rules_version: int | None
    timer: Timer | None

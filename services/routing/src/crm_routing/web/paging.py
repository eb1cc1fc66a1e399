"""Keyset paging over leads, newest first (the cursor is the last row's capture time and id), and
whether a cancelled instance's leads are past their read-only time."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from pydantic import BaseModel, Field, field_validator


# Leads are captured in these years; a cursor naming another time was not given by this service.
FIRST_YEAR, LAST_YEAR = 2000, 2999
MAX_CURSOR = 400


def cursor_of(row: dict) -> str:
    return base64.urlsafe_b64encode(f"{row['captured_at'].isoformat()}|{row['lead_id']}".encode()).decode()


def after(cursor: str | None) -> tuple[datetime, str] | None:
    """The keyset a cursor names; ValueError for one this service did not give (undecodable, a
    time without its zone or out of the years leads are captured in)."""
    if not cursor:
        return None
    try:
        at, lead_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        when = datetime.fromisoformat(at)
    except (ValueError, UnicodeError) as exc:  # binascii.Error is a ValueError
        raise ValueError("not a cursor this endpoint gave") from exc
    if when.tzinfo is None or not FIRST_YEAR <= when.astimezone(UTC).year <= LAST_YEAR or not lead_id:
        raise ValueError("not a cursor this endpoint gave")
    return when, lead_id


class Page(BaseModel):
    """`?cursor=…&limit=…`: the cursor the previous page gave, and how many leads (1–500)."""

    cursor: str | None = Field(default=None, max_length=MAX_CURSOR,
                               description="the `next` of the previous page; none for the first")
    limit: int = Field(default=50, ge=1, le=500)

    @field_validator("cursor")
    @classmethod
    def _given_here(cls, raw: str | None) -> str | None:
        after(raw)  # raises for a cursor this service did not give
        return raw

    @property
    def after(self) -> tuple[datetime, str] | None:
        return after(self.cursor)


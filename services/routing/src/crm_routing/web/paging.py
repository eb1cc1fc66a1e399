"""Keyset paging over leads, newest first (the cursor is the last row's capture time and id), and
whether a cancelled instance's leads are past their read-only time."""

from __future__ import annotations

import base64
from datetime import datetime

from crm_contracts import now


def cursor_of(row: dict) -> str:
    return base64.urlsafe_b64encode(f"{row['captured_at'].isoformat()}|{row['lead_id']}".encode()).decode()


def after(cursor: str | None) -> tuple[datetime, str] | None:
    """The keyset a cursor names; ValueError for one this service did not give."""
    if not cursor:
        return None
    at, lead_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
    return datetime.fromisoformat(at), lead_id


def closed(read_only_until: datetime | None) -> bool:
    """A cancelled instance's leads are read until then, and gone from its reads after."""
    return read_only_until is not None and read_only_until <= now()

"""Keyset paging over leads, newest first: the cursor is the last row's capture time and id."""

from __future__ import annotations

import base64
from datetime import datetime


def cursor_of(row: dict) -> str:
    return base64.urlsafe_b64encode(f"{row['captured_at'].isoformat()}|{row['lead_id']}".encode()).decode()


def after(cursor: str | None) -> tuple[datetime, str] | None:
    """The keyset a cursor names; ValueError for one this service did not give."""
    if not cursor:
        return None
    at, lead_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
    return datetime.fromisoformat(at), lead_id

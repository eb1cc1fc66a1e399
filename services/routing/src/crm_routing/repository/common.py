"""What the routing queries share: JSON in and out of jsonb."""

from __future__ import annotations

import json
from typing import Any

import asyncpg


def _j(value: Any) -> str:
    return json.dumps(value, default=str)


def _decoded(row: asyncpg.Record | None, *columns: str) -> dict | None:
    if row is None:
        return None
    out = dict(row)
    for c in columns:
        if isinstance(out.get(c), str):
            out[c] = json.loads(out[c])
    return out

"""What changed between two versions of an instance's rules, for people reading the history."""

from __future__ import annotations

from typing import Any


def diff(previous: list[dict[str, Any]] | None, current: list[dict[str, Any]]) -> dict[str, Any]:
    """Rules added, removed and changed (by id), and whether the kept ones changed order."""
    before = {r["id"]: r for r in previous or []}
    after = {r["id"]: r for r in current}
    kept_before = [i for i in before if i in after]
    kept_after = [i for i in after if i in before]
    return {"added": [i for i in after if i not in before],
            "removed": [i for i in before if i not in after],
            "changed": [i for i in kept_after if before[i] != after[i]],
            "reordered": kept_before != kept_after}

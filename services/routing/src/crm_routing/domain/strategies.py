"""Choosing an agent among the eligible candidates (R2), deterministically and from stored state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Choice:
    user_id: str | None
    why: str
    state: dict[str, Any]  # the rotation state to store for next time


def round_robin(candidates: list[str], state: dict[str, Any], *, skip: frozenset[str] = frozenset()) -> Choice:
    """The candidate after the last one chosen, in a stable order: fair whoever joins or leaves."""
    pool = sorted(c for c in candidates if c not in skip)
    if not pool:
        return Choice(None, "no eligible candidate left", state)
    last = state.get("last")
    chosen = next((c for c in pool if last is None or c > last), pool[0])
    position = pool.index(chosen) + 1
    return Choice(chosen, f"round robin: next after {last or 'nobody'} (position {position} of {len(pool)})",
                  {**state, "last": chosen})


def weighted(candidates: list[str], weights: dict[str, int], state: dict[str, Any], *,
             skip: frozenset[str] = frozenset()) -> Choice:
    """Smooth weighted round robin: over any window of Σw leads each agent gets exactly its
    weight's share, spread out rather than in runs; the same state always gives the same choice."""
    pool = sorted(c for c in candidates if c in weights and c not in skip)
    if not pool:
        return Choice(None, "no eligible candidate with a weight", state)
    current = {c: state.get("current", {}).get(c, 0) + weights[c] for c in pool}
    chosen = max(pool, key=lambda c: (current[c], -pool.index(c)))
    total = sum(weights[c] for c in pool)
    current[chosen] -= total
    return Choice(chosen, f"weighted: weight {weights[chosen]} of {total} (smooth weighted round robin)",
                  {**state, "current": current})

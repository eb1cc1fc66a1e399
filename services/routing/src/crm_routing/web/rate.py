"""How often the Open API answers whom.

- **A key**: at most `KEY_RATE` requests per second, shared by every routing replica. The count is
  kept in PostgreSQL, which every replica sees, as a GCRA ("generic cell rate algorithm": the key's
  theoretical arrival time moves `1/rate` per request and may run at most one second ahead of the
  database's clock), in the statement that records the hit. Each process also keeps its own
  window of the same rate in memory, so a flood with one key is refused before any query.
- **An address that sends unknown keys**: after `open_api_misses_per_minute` refused keys in a
  minute (30 by default), every request from it is answered 429 before any lookup, so random keys
  cost no query each.

Answers past a limit are 429 with `Retry-After` (whole seconds)."""

from __future__ import annotations

import functools
import math
import time
from datetime import timedelta

import asyncpg
from limits import parse, storage, strategies

KEY_RATE = parse("20/second")


@functools.lru_cache(maxsize=8)
def _misses(per_minute: int):
    return parse(f"{per_minute}/minute")
_BURST = timedelta(seconds=1)

_memory = strategies.MovingWindowRateLimiter(storage.MemoryStorage())


def _retry_after(item, *keys: str) -> str:
    reset = _memory.get_window_stats(item, *keys).reset_time
    return str(max(1, math.ceil(reset - time.time())))


def address_refused(address: str, per_minute: int) -> str | None:
    """`Retry-After` when the address sent too many unknown keys lately; None when it may ask."""
    limit = _misses(per_minute)
    return None if _memory.test(limit, "miss", address) else _retry_after(limit, "miss", address)


def missed(address: str, per_minute: int) -> None:
    _memory.hit(_misses(per_minute), "miss", address)


def process_refused(key_hash: str) -> str | None:
    """This process's own window of the key's rate (no query): `Retry-After` when past it."""
    return None if _memory.hit(KEY_RATE, "key", key_hash) else _retry_after(KEY_RATE, "key", key_hash)


async def shared_allows(conn: asyncpg.Connection, key_hash: str) -> bool:
    """One hit on the key's shared rate; whether it was within it (then it is counted)."""
    step = timedelta(seconds=KEY_RATE.get_expiry() / KEY_RATE.amount)
    return bool(await conn.fetchval(
        """INSERT INTO api_key_rate AS r (key_hash, tat) VALUES ($1, clock_timestamp() + $2)
           ON CONFLICT (key_hash) DO UPDATE SET tat = GREATEST(r.tat, clock_timestamp()) + $2
               WHERE GREATEST(r.tat, clock_timestamp()) + $2 - clock_timestamp() <= $3
           RETURNING true""", key_hash, step, _BURST))

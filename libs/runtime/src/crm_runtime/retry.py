"""The one back-off used wherever the runtime waits for something to come back, and the one loop
that retries an attempt with it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Backoff:
    """Doubling delays from `first` up to `most` seconds; `reset()` after a success."""

    def __init__(self, first: float = 0.1, most: float = 5.0) -> None:
        self.first = first
        self.most = most
        self.delay = first

    async def wait(self) -> float:
        waited = self.delay
        await asyncio.sleep(waited)
        self.delay = min(self.delay * 2, self.most)
        return waited

    def reset(self) -> None:
        self.delay = self.first

    async def retrying(self, attempt: Callable[[], Awaitable[T]], *, log: Any, event: str,
                       on_error: Callable[[Exception], None] | None = None, **fields: Any) -> T:
        """`attempt()` until it returns, then reset. Each failure (never a cancellation) is given to
        `on_error`, logged as a warning `event` with its error and the delay, and waited out."""
        while True:
            try:
                result = await attempt()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if on_error is not None:
                    on_error(exc)
                log.warning(event, error=repr(exc)[:500], retry_in_s=self.delay, **fields)
                await self.wait()
                continue
            self.reset()
            return result

"""The one back-off used wherever the runtime waits for something to come back."""

from __future__ import annotations

import asyncio


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

"""The one way tests and tools wait for something on the live stack: ask again until it holds."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], T | Awaitable[T]], *, timeout: float, every: float = 0.1,
                     what: str = "the condition") -> T:
    """The first truthy value `check()` returns (it may be async), asked every `every` seconds;
    AssertionError naming `what` once `timeout` seconds pass without one."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if inspect.isawaitable(got):
            got = await got
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s (last: {got!r})")
        await asyncio.sleep(every)

"""Where a service's memory goes, for an operator chasing growth: with `MEMORY_PROFILE=1` the
service traces its Python allocations from start (tracemalloc; it slows the service, so it is off
by default), and `GET /debug/memory` (operator scope) answers the lines that grew most since the
previous call (or since start), with the RSS beside them."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import tracemalloc
from pathlib import Path

from pydantic import BaseModel, Field

from .auth import deny
from .http import Answer, Request, Response, Route, caller, get, json_response, query

FRAMES = 8
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def fix_mmap_threshold(threshold: int) -> bool:
    """Keep glibc's mmap threshold where it is instead of letting it climb. glibc raises the
    threshold each time a block it had mmapped is freed (up to 32 MB), and from then on blocks of
    that size (Kafka fetch responses, a batch's rows and events: hundreds of KB) come from the heap;
    freed, they leave holes the heap seldom gives back, and RSS creeps up for hours under a steady
    load. With the threshold fixed they stay mmapped and go back to the system when freed. False
    (and nothing done) where the C library is not glibc, or `MALLOC_MMAP_THRESHOLD_` is set: the
    operator's value stands."""
    if threshold <= 0 or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):
        return False


def start() -> None:
    tracemalloc.start(FRAMES)


def _rss_mb() -> float:
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Top(BaseModel):
    top: int = Field(default=15, ge=1, le=100, description="how many allocation sites")


class Profile:
    def __init__(self) -> None:
        self.last: tracemalloc.Snapshot | None = None

    async def endpoint(self, request: Request) -> Response:
        if not caller(request).operator:
            raise Answer.refused(deny("operators_only", "the memory profile is for operators"))
        if not tracemalloc.is_tracing():
            return json_response({"error": "not_tracing", "message": "start the service with MEMORY_PROFILE=1"}, 409)
        top = query(request, Top).top
        snapshot = tracemalloc.take_snapshot().filter_traces([
            tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")])
        previous, self.last = self.last, snapshot
        stats = snapshot.compare_to(previous, "traceback") if previous else snapshot.statistics("traceback")
        traced, peak = tracemalloc.get_traced_memory()
        return json_response({
            "rss_mb": _rss_mb(), "traced_mb": round(traced / 2**20, 2), "traced_peak_mb": round(peak / 2**20, 2),
            "since": "previous call" if previous else "start",
            "top": [{"kib": round(getattr(s, "size_diff", s.size) / 1024, 1), "count": getattr(s, "count_diff", s.count),
                     "where": s.traceback.format()[-2 * FRAMES:]} for s in stats[:top]]})


def routes() -> list[Route]:
    return [get("/debug/memory", Profile().endpoint, query=Top)]

"""One function per command or event the seats service acts on, split by aggregate: seats and the
subscription (`seats`), purchases for instances and bridge numbers (`purchases`), call settings
(`calls`), and what they build on (`billing`)."""

from __future__ import annotations

from crm_runtime.handlers import Handlers

from . import calls, purchases, seats

handlers = Handlers.combine(seats.handlers, purchases.handlers, calls.handlers)

"""One function per routing command, captured lead or identity event (issue: lead routing).

None is registered yet, so every routing command is answered with `routing.command.rejected`
(`unsupported_command`) rather than left unanswered, and identity's events are passed over.
"""

from __future__ import annotations

from crm_runtime.handling import Handlers

handlers = Handlers()

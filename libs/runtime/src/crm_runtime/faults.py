"""Fault injection for crash tests, armed only by environment variables the tests set.

Crash tests need a process that dies at one exact point — inside a batch's transaction before it
commits, after it committed and before the offsets are, or after an e-mail was handed to SMTP
and before that was recorded. No timing trick hits such a point reliably. The variables are read
once at start-up; when none is set (production), `ARMED` is False and the runtime's only cost is
one check of it per batch.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable

CRASH_BEFORE_COMMIT = "CRM_FAULT_CRASH_BEFORE_COMMIT"
CRASH_AFTER_COMMIT = "CRM_FAULT_CRASH_AFTER_COMMIT"
CRASH_AFTER_SEND = "CRM_FAULT_CRASH_AFTER_SEND"

_armed: dict[str, str] = {
    name: os.environ[name] for name in (CRASH_BEFORE_COMMIT, CRASH_AFTER_COMMIT, CRASH_AFTER_SEND)
    if os.environ.get(name)
}
ARMED = bool(_armed)


def _crash_if(variable: str, keys: Iterable[str], said: str = "") -> None:
    wanted = _armed.get(variable)
    if wanted and wanted in keys:
        # Said before dying, so a test tells this death from any other (its exit status may be
        # reaped by whoever started the process before the test can read it).
        sys.stderr.write(f"fault_injected {variable}{said}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def crash_before_commit(message_ids: Iterable[str], partitions: int = 1) -> None:
    """Die with the batch holding `wanted` still uncommitted (its transaction open), saying how
    many partitions' records that transaction held."""
    _crash_if(CRASH_BEFORE_COMMIT, message_ids, f" partitions={partitions}")


def crash_after_commit(message_ids: Iterable[str]) -> None:
    """Die after the batch's transaction committed, before its offsets are committed."""
    _crash_if(CRASH_AFTER_COMMIT, message_ids)


def crash_after_send(recipient: str) -> None:
    _crash_if(CRASH_AFTER_SEND, (recipient,))

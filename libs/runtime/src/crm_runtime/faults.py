"""Fault injection for crash tests, armed only by an environment variable the tests set.

The crash test needs a process that dies at one exact point: after a message's transaction
committed and before its offset is committed. No timing trick hits that point reliably.
"""

from __future__ import annotations

import os
import signal

CRASH_AFTER_COMMIT = "CRM_FAULT_CRASH_AFTER_COMMIT"


def crash_after_commit(message_id: str) -> None:
    if message_id and os.environ.get(CRASH_AFTER_COMMIT) == message_id:
        os.kill(os.getpid(), signal.SIGKILL)

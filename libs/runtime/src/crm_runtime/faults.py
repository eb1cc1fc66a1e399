"""Fault injection for crash tests, armed only by environment variables the tests set.

Crash tests need a process that dies at one exact point — after a transaction committed and
before the offset commit, or after an e-mail was handed to SMTP and before that was recorded.
No timing trick hits such a point reliably.
"""

from __future__ import annotations

import os
import signal

CRASH_AFTER_COMMIT = "CRM_FAULT_CRASH_AFTER_COMMIT"
CRASH_AFTER_SEND = "CRM_FAULT_CRASH_AFTER_SEND"


def _crash_if(variable: str, key: str) -> None:
    if key and os.environ.get(variable) == key:
        os.kill(os.getpid(), signal.SIGKILL)


def crash_after_commit(message_id: str) -> None:
    _crash_if(CRASH_AFTER_COMMIT, message_id)


def crash_after_send(recipient: str) -> None:
    _crash_if(CRASH_AFTER_SEND, recipient)

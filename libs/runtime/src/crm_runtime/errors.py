"""Whose failure an exception is: the infrastructure's (wait and retry), the sender's, or the code's.

The decision rests on where the error came from, not on its Python type. asyncpg's client-side
`DataError` subclasses `InterfaceError`, a `TimeoutError` may come from handler code as well as
from a dead socket, and `OSError` is raised by bugs too. So: a server error is judged by its
SQLSTATE; anything else counts as an outage only when the database connection itself is gone.
"""

from __future__ import annotations

import enum

import asyncpg
from asyncpg.exceptions import _base as asyncpg_base


class Fault(enum.Enum):
    TRANSIENT = "transient"  # the database or broker is away or busy: retry, never dead-letter
    INVALID_VALUE = "invalid_value"  # the message carries a value the database cannot hold
    FAILURE = "failure"  # the record's own failure (a bug or a broken invariant): retry a few times


# Connection exception, transaction rollback (serialization, deadlock), insufficient resources
# (disk full, out of memory, too many connections), operator intervention (shutdown, statement
# timeout / query cancelled).
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58"})
# Lock not available (lock_timeout), read-only transaction (a failover in progress), cannot
# connect now (starting up) — in classes that otherwise mean a mistake.
_TRANSIENT_STATES = frozenset({"55P03", "25006", "57P03"})


# Statement timeout (query_canceled) and lock timeout: transient, unless one record keeps hitting
# them while the database answers other work (then it is that record's own doing).
_TIMEOUT_STATES = frozenset({"57014", "55P03"})


def is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.PostgresError) and getattr(exc, "sqlstate", None) in _TIMEOUT_STATES


def sqlstate_is_transient(state: str | None) -> bool:
    return state is not None and (state in _TRANSIENT_STATES or state[:2] in _TRANSIENT_CLASSES)


def classify(exc: BaseException, conn: asyncpg.Connection | None = None) -> Fault:
    """Judge `exc`, raised while `conn` (the record's connection, if any) was in use."""
    state = getattr(exc, "sqlstate", None) if isinstance(exc, asyncpg.PostgresError) else None
    if state is not None:
        if sqlstate_is_transient(state):
            return Fault.TRANSIENT
        # Data exception (out of range, too long, bad format), or a value too big for an index row.
        if state.startswith("22") or state == "54000":
            return Fault.INVALID_VALUE
        return Fault.FAILURE
    if isinstance(exc, asyncpg_base.DataError):  # refused by the client before it was sent
        return Fault.INVALID_VALUE
    if conn is not None and conn.is_closed():
        return Fault.TRANSIENT
    return Fault.FAILURE


def unreachable(exc: BaseException) -> str | None:
    """Which part of the infrastructure `exc` says is away ("database", "broker"), for a request
    that cannot be answered now; None when it is a mistake to be reported as one. Outside handlers
    (an HTTP request) a refused or dropped connection and a pool that cannot give one are outages."""
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError

    if isinstance(exc, (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError)):
        return "broker"
    if isinstance(exc, asyncpg.PostgresError):
        return "database" if sqlstate_is_transient(getattr(exc, "sqlstate", None)) else None
    if isinstance(exc, asyncpg_base.DataError):  # refused by the client: a value, not an outage
        return None
    if isinstance(exc, (asyncpg.InterfaceError, OSError, TimeoutError)):
        return "database"
    return None


def describe(exc: BaseException) -> str:
    return repr(exc)[:2000]

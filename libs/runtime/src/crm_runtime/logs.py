"""JSON logs through structlog, for our code and for the libraries' stdlib loggers alike."""

from __future__ import annotations

import contextlib
import logging
import sys

import structlog

from crm_contracts import CloudEvent

_SHARED: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure(service: str, level: str = "INFO") -> None:
    structlog.configure(
        # Level first: a debug line costs nothing more than this check when debug is off.
        processors=[structlog.stdlib.filter_by_level, *_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka reports every connection retry at ERROR while the broker restarts; we log our own.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def handling(message: CloudEvent) -> contextlib.AbstractContextManager:
    """Every log line while `message` is handled carries its correlation (and trace id, when it
    came with a trace context): what joins a line to `crm trace` and to a tracing backend."""
    if (trace_id := message.trace_id) is not None:
        return structlog.contextvars.bound_contextvars(correlationid=message.correlation, trace_id=trace_id)
    return structlog.contextvars.bound_contextvars(correlationid=message.correlation)


def get(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)

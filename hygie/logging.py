"""Structured logging (structlog) with a redaction processor.

Principle: no patient data in logs. Only whitelisted keys are logged with their value; anything
else that looks like content (bodies, names, query strings) is replaced by ``[redacted]``.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import structlog

SAFE_KEYS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "logger",
        "method",
        "path",
        "status",
        "duration_ms",
        "resource_type",
        "version",
        "database",
        "backend",
        "host",
        "port",
        "count",
        "error",
        "exc_info",
        "migration",
        "interaction",
        "schema_version",
        # operational, about no person: an alert's severity and escalation level, a Bulk Data
        # job's random id, whether a check passed (resource ids and reasons stay redacted)
        "severity",
        "escalation",
        "job",
        "ok",
    }
)


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the value of every key not known to be free of personal data."""
    for key in list(event_dict):
        if key not in SAFE_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def configure(level: str = "INFO", json: bool = False) -> None:
    # Tracebacks in plain text: structlog's default console formatter (rich, installed with typer)
    # prints every frame's local variables, request bodies and patient ids among them, past the
    # redaction above, and rendering a deeply nested body took minutes on the event loop.
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)

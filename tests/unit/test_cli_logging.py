"""Every ``hygie`` command logs as the server does: ``HYGIE_LOG_LEVEL``, ``HYGIE_LOG_JSON`` and the
redaction of every key not known to be free of personal data (hygie/logging.py). Before, only
``hygie serve`` configured logging: the other commands (``hygie demo``'s load, ``ingest``,
``import``...) printed structlog's defaults, every value in clear."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from hygie.settings import Settings

PROBE = (
    "from hygie.cli import cli\n"
    "cli(['db', 'upgrade'], standalone_mode=False)\n"
    "from hygie.logging import get_logger\n"
    "get_logger('probe').info('probe_event', patient='Patient/p1', count=3)\n"
)


def _run(tmp_path: Path, **env: str) -> list[str]:
    environ = {**os.environ, "HYGIE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
               "HYGIE_KEYS_DIR": str(tmp_path / "keys"), **env}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=environ, capture_output=True, text=True, check=True
    )
    return [line for line in out.stdout.splitlines() if "probe_event" in line]


def test_commands_log_redacted_json_when_asked(tmp_path: Path) -> None:
    lines = _run(tmp_path, HYGIE_LOG_JSON="true")
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["event"] == "probe_event" and event["count"] == 3
    assert event["patient"] == "[redacted]"


def test_commands_respect_the_log_level(tmp_path: Path) -> None:
    assert _run(tmp_path, HYGIE_LOG_LEVEL="WARNING") == []


def test_the_log_level_is_checked_and_any_case_is_accepted() -> None:
    assert Settings(log_level="warning").log_level == "WARNING"
    with pytest.raises(ValidationError, match="log_level"):
        Settings(log_level="loud")


def test_invalid_settings_are_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    environ = {
        **os.environ,
        "HYGIE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "HYGIE_LOG_LEVEL": "loud",
    }
    out = subprocess.run(
        [sys.executable, "-m", "hygie", "db", "upgrade"],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert "HYGIE_LOG_LEVEL" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "x.db").exists()  # nothing was done

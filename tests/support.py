"""Helpers shared by every test tier: an in-process client that authenticates like an operator."""

from __future__ import annotations

import time

from starlette.testclient import TestClient

from hygie.app import create_app
from hygie.auth.keys import load_keys
from hygie.auth.operator import operator_token
from hygie.settings import Settings

OPERATOR_SCOPE = "system/*.cruds"


def operator_header(
    settings: Settings, scope: str = OPERATOR_SCOPE, patient: str | None = None
) -> dict[str, str]:
    """``Authorization`` for a token minted the way ``hygie token issue`` does it."""
    keys = load_keys(settings.keys_dir)
    token = operator_token(keys, scope, patient=patient, ttl=3600, now=int(time.time()))
    return {"Authorization": f"Bearer {token}"}


def open_client(settings: Settings, scope: str = OPERATOR_SCOPE) -> TestClient:
    """A TestClient over ``create_app(settings)`` sending an operator token (use it as a context
    manager so the app's lifespan runs)."""
    return TestClient(create_app(settings), headers=operator_header(settings, scope))

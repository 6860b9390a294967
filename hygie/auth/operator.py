"""Tokens for operators: ``hygie token issue`` (public contract, docs/cli.md).

Whoever can read the key directory (``HYGIE_KEYS_DIR``) can sign tokens; the command needs local
access to it and to the database, so only the machine's operators can run it. The token is a
*system* principal (subject ``operator``, client ``hygie-cli``) with the scopes asked for; with
``--patient`` it carries that patient's launch context, so ``patient/…`` scopes reach that patient
only (``system/…`` scopes stay system-wide).
"""

from __future__ import annotations

from hygie.auth.keys import Keys
from hygie.auth.scopes import ScopeError, parse_scopes
from hygie.auth.tokens import Principal, issue

MAX_TTL_S = 30 * 24 * 3600  # a month: long-lived bearer tokens are a liability; re-issue instead


class OperatorError(ValueError):
    """A request ``hygie token issue`` refuses (message for the operator)."""


def operator_token(keys: Keys, scope: str, *, patient: str | None, ttl: int, now: int) -> str:
    """A signed system token for ``scope`` (SMART v1/v2 syntax), valid ``ttl`` seconds."""
    if not 1 <= ttl <= MAX_TTL_S:
        raise OperatorError(f"--ttl must be between 1 and {MAX_TTL_S} seconds")
    try:
        scopes = parse_scopes(scope)
    except ScopeError as error:
        raise OperatorError(f"--scope: {error}") from None
    if not scopes.grants:
        raise OperatorError("--scope names no resource access (e.g. 'system/*.cruds')")
    if any(g.context == "user" for g in scopes.grants):
        raise OperatorError("--scope: user/ scopes need a signed-in user; use system/ or patient/")
    if any(g.context == "patient" for g in scopes.grants) and not patient:
        raise OperatorError("--scope: patient/ scopes need --patient ID")
    principal = Principal(
        kind="system", subject="operator", scopes=scopes, client_id="hygie-cli", launch_patient=patient
    )
    return issue(keys, principal, audience=keys.instance, now=now, ttl=ttl)

"""Authentication of FHIR API calls and the type-level permission of each interaction.

Spec: SMART App Launch 2.2 (https://hl7.org/fhir/smart-app-launch/) and RFC 6750 (bearer tokens).
``authenticate`` turns the ``Authorization: Bearer …`` header into a :class:`Principal` (401 with a
``WWW-Authenticate`` challenge otherwise); ``check`` refuses an interaction the caller's scopes do
not grant at all (403: it reveals nothing about any resource). Which *rows* the caller sees is not
decided here but inside every query (:mod:`hygie.auth.policy`, carried by the request's catalog):
HTTP requests and batch/transaction entries go through the same ``check`` and the same queries.
"""

from __future__ import annotations

from collections.abc import Collection

from hygie.api.context import Env, FhirRequest
from hygie.api.routes import READ_ONLY
from hygie.auth.keys import Keys
from hygie.auth.tokens import Principal, TokenError, VerifiedTokens, verify
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError, Issue
from hygie.search.catalog import Catalog

register(
    {
        "auth_required": {
            "fr": "Authentification requise : présentez un jeton d'accès (Authorization: Bearer).",
            "en": "Authentication required: present an access token (Authorization: Bearer).",
        },
        "auth_invalid": {
            "fr": "Jeton d'accès refusé : {reason}.",
            "en": "Access token refused: {reason}.",
        },
    }
)


def authenticate(
    header: str | None,
    keys: Keys,
    *,
    audiences: Collection[str],
    now: int,
    revoked: Collection[str],
    cache: VerifiedTokens | None = None,
) -> Principal:
    """The caller of a request from its ``Authorization`` header (RFC 6750 §2.1); ``cache``
    skips the signature check of a token already verified (claims are checked every time)."""
    if not header:
        challenge = 'Bearer realm="hygie"'
        raise FhirError(401, Issue("login", "auth_required", {}), headers={"WWW-Authenticate": challenge})
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _invalid("malformed authorization header")
    try:
        if cache is not None:
            return cache.verify(keys, token.strip(), audiences=audiences, now=now, revoked=revoked)
        return verify(keys, token.strip(), audiences=audiences, now=now, revoked=revoked)
    except TokenError as error:
        raise _invalid(error.reason) from None


def _invalid(reason: str) -> FhirError:
    challenge = f'Bearer realm="hygie", error="invalid_token", error_description="{reason}"'
    issue = Issue("login", "auth_invalid", {"reason": reason})
    return FhirError(401, issue, headers={"WWW-Authenticate": challenge})


def permission(req: FhirRequest) -> str | None:
    """The SMART permission (c r u d s) an interaction needs on ``req.type`` (None: none at type
    level — system-wide history, compartment-wide search and ``$validate`` are filtered row by row
    or read no stored data)."""
    method, op = req.method, req.operation
    if req.type is None:
        return None
    if op == "$validate":
        return None
    if op in ("$everything", "$break-glass"):
        return "r"
    if op == "_search" or req.compartment is not None:
        return "s"
    if method in READ_ONLY:
        if op == "_history":
            return "r" if req.id is not None else "s"
        return "r" if req.id is not None else "s"
    if method == "POST":
        return "c"
    if method in ("PUT", "PATCH"):
        return "u"
    if method == "DELETE":
        return "d"
    return None


def check(env: Env, req: FhirRequest) -> None:
    """403 when the caller's grants give no ``permission(req)`` on ``req.type`` at all."""
    params = env.store.params
    guard = params.guard if isinstance(params, Catalog) else None
    needed = permission(req)
    if guard is None or needed is None or req.type is None:
        return
    if not guard.allows(req.type, needed):
        raise FhirError.of(403, "forbidden", "forbidden_interaction", type=req.type, permission=needed)

"""The authorization request — RFC 6749 §4.1.1, RFC 7636, SMART App Launch 2.2 (standalone launch).

https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code

Checks, in this order (RFC 6749 §4.1.2.1: an unknown client or a redirect URI that is not
registered is **never** redirected to — an error page is shown instead; every later error goes
back to the app's redirect URI with ``error`` and the ``state``):

1. ``client_id`` names an enabled app (not a backend service);
2. ``redirect_uri`` is exactly one of its registered URIs (RFC 9700 §2.1: exact string match);
3. ``response_type`` is ``code``; ``state`` is present (SMART: required);
4. ``aud`` is this server's FHIR base URL (SMART: "the EHR SHALL ... reject" other audiences, so a
   token meant for one server cannot be phished for another);
5. PKCE: ``code_challenge_method`` is ``S256`` and ``code_challenge`` is present — ``plain`` or no
   challenge is refused (SMART 2.2 requires S256);
6. ``scope`` parses (SMART v1/v2) and is **narrowed** to the client's registered scope.

The launch context ``launch/patient`` (standalone launch) is resolved at consent: a patient
account launches with its own Patient or picks one of the patients it acts for (proxies); a
professional types the id of a patient they care for (checked with
:meth:`hygie.auth.policy.Policy.cared_for`, the same rule as every query).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from hygie.auth.accounts import Account, patients_of
from hygie.auth.oauth.clients import Client, find_client
from hygie.auth.oauth.codes import CHALLENGE, issue_code
from hygie.auth.oauth.errors import OAuthError
from hygie.auth.policy import Policy
from hygie.auth.scopes import ScopeError, Scopes, narrow, parse_scopes
from hygie.auth.tokens import Principal
from hygie.storage.database import Session

AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "aud",
    "code_challenge",
    "code_challenge_method",
    "nonce",
)
LAUNCH_PATIENT = "launch/patient"
_PATIENT_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR id syntax


class UnsafeRequestError(Exception):
    """An authorization request that must not be redirected (message key for the error page)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class RedirectError(Exception):
    """An error to send back to the app's (registered) redirect URI."""

    def __init__(self, error: OAuthError, redirect_uri: str, state: str | None) -> None:
        super().__init__(error.error)
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state

    def location(self) -> str:
        params = {"error": self.error.error}
        if self.error.description:
            params["error_description"] = self.error.description
        if self.state is not None:
            params["state"] = self.state
        return with_query(self.redirect_uri, params)


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    client: Client
    redirect_uri: str
    state: str
    scopes: Scopes  # narrowed to the client's registration
    challenge: str
    nonce: str | None
    params: dict[str, str]  # the validated request, carried through the sign-in forms

    @property
    def wants_patient(self) -> bool:
        return self.scopes.has(LAUNCH_PATIENT)


def with_query(uri: str, params: Mapping[str, str]) -> str:
    """``uri`` with ``params`` added to its query (keeping the registered query, RFC 6749 §3.1.2)."""
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def parse_authorize(session: Session, params: Mapping[str, str], fhir_base: str) -> AuthorizeRequest:
    """The validated request (raises :class:`UnsafeRequestError` or :class:`RedirectError`)."""
    client = find_client(session, params.get("client_id"))
    if client is None or client.kind == "backend":
        raise UnsafeRequestError("oauth_unknown_client")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        raise UnsafeRequestError("oauth_bad_redirect_uri")
    state = params.get("state")

    def refuse(error: str, description: str) -> RedirectError:
        return RedirectError(OAuthError(error, description), redirect_uri, state)

    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "response_type must be code")
    if not state or len(state) > 1024:
        raise refuse("invalid_request", "state is required (at most 1024 characters)")
    if (params.get("aud") or "").rstrip("/") != fhir_base.rstrip("/"):
        raise refuse("invalid_request", f"aud must be this server's FHIR base URL {fhir_base}")
    if params.get("code_challenge_method") != "S256":
        raise refuse("invalid_request", "PKCE is required with code_challenge_method=S256 (plain is refused)")
    challenge = params.get("code_challenge", "")
    if not CHALLENGE.fullmatch(challenge):
        raise refuse("invalid_request", "code_challenge must be BASE64URL(SHA-256(code_verifier))")
    try:
        asked = parse_scopes(params.get("scope", ""))
    except ScopeError as exc:
        raise refuse("invalid_scope", str(exc)) from None
    scopes = narrow(asked, client.scopes)
    if not scopes.text:
        raise refuse("invalid_scope", "none of the requested scopes is allowed for this app")
    nonce = params.get("nonce")
    if nonce is not None and len(nonce) > 256:
        raise refuse("invalid_request", "nonce too long")
    kept = {k: params[k] for k in AUTHORIZE_PARAMS if k in params}
    return AuthorizeRequest(client, redirect_uri, state, scopes, challenge, nonce, kept)


def patient_choices(session: Session, account: Account) -> tuple[str, ...] | None:
    """The patients a patient account may launch with (None: a professional types an id)."""
    if account.kind == "patient":
        return patients_of(session, account)
    return None


def may_launch(
    session: Session,
    account: Account,
    patient: str,
    *,
    pids: Mapping[tuple[str, str], int],
    base: str,
    now_ms: int,
) -> bool:
    """True if ``account`` may open an app on ``patient`` (see the module docstring)."""
    if not _PATIENT_ID.fullmatch(patient):
        return False
    if account.kind == "patient":
        return patient in patients_of(session, account)
    if account.kind != "professional":
        return False
    principal = Principal(
        kind="professional",
        subject=account.id,
        scopes=Scopes(),
        fhir_user=account.fhir_user,
        organization=account.organization,
    )
    cared = Policy(principal, pids, base, now_ms, account.id).cared_for()
    row = session.one(
        "SELECT 1 FROM resource WHERE type = 'Patient' AND id = ? AND NOT deleted"
        f" AND id IN ({cared.clause})",
        (patient, *cared.args),
    )
    return row is not None


def grant_code(
    session: Session,
    req: AuthorizeRequest,
    account: Account,
    *,
    patient: str | None,
    auth_time: int,
    now_ms: int,
) -> str:
    """Issue the authorization code of an approved request."""
    scopes = req.scopes
    if account.kind == "admin" and scopes.has(LAUNCH_PATIENT):  # administrators see no patient
        scopes = Scopes(
            scopes.grants,
            scopes.other - {LAUNCH_PATIENT},
            " ".join(t for t in scopes.text.split() if t != LAUNCH_PATIENT),
        )
    return issue_code(
        session,
        client_id=req.client.client_id,
        account=account.id,
        scope=scopes.text,
        redirect_uri=req.redirect_uri,
        challenge=req.challenge,
        patient=patient,
        nonce=req.nonce,
        auth_time=auth_time,
        now_ms=now_ms,
    )

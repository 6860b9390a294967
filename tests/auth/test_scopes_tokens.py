"""SMART scopes (v1 and v2) and access tokens (signature, issuer, audience, time, revocation)."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from hygie.auth.keys import load_audit_key, load_keys
from hygie.auth.scopes import ScopeError, narrow, parse_permissions, parse_scopes
from hygie.auth.tokens import LEEWAY_S, Principal, TokenError, issue, verify

NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("text", "permissions"),
    [
        ("rs", "rs"),
        ("cruds", "cruds"),
        ("c", "c"),
        ("s", "s"),
        ("read", "rs"),  # v1
        ("write", "cud"),
        ("*", "cruds"),
    ],
)
def test_permissions(text: str, permissions: str) -> None:
    assert parse_permissions(text) == frozenset(permissions)


@pytest.mark.parametrize("text", ["", "sr", "rr", "x", "crudsx", "READ", "cruds*"])
def test_bad_permissions(text: str) -> None:
    with pytest.raises(ScopeError):
        parse_permissions(text)


def test_scopes_v2_with_criteria_and_other_scopes() -> None:
    scopes = parse_scopes("launch/patient openid patient/Observation.rs?category=laboratory user/*.cruds")
    assert scopes.other == {"launch/patient", "openid"}
    first, second = scopes.grants
    assert (second.context, second.type) == ("user", "*")
    assert (first.context, first.type, first.permissions) == ("patient", "Observation", frozenset("rs"))
    assert first.criteria == (("category", "laboratory"),)
    assert scopes.allows("Observation", "r", "patient")
    assert not scopes.allows("Observation", "c", "patient")
    assert scopes.allows("Encounter", "d", "user")
    assert not scopes.allows("Encounter", "d", "system")


@pytest.mark.parametrize(
    "text",
    [
        "patient/Nope.rs",  # unknown type
        "doctor/Patient.rs",  # unknown context
        "patient/Patient",  # no permissions
        "patient/Patient.sr",  # out of order
        "patient/Patient.rs?",  # empty criteria
        "admin",  # unknown scope
        "x" * 5000,  # too long
    ],
)
def test_bad_scopes(text: str) -> None:
    with pytest.raises(ScopeError):
        parse_scopes(text)


def test_narrow_keeps_only_what_is_allowed() -> None:
    allowed = parse_scopes("patient/*.rs user/Observation.cruds openid")
    requested = parse_scopes(
        "patient/Observation.rs patient/Patient.cruds user/Observation.rs system/*.rs openid"
    )
    kept = narrow(requested, allowed)
    assert kept.text == "patient/Observation.rs user/Observation.rs openid"


@pytest.fixture
def keys(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_keys(tmp_path / "keys")


def _principal() -> Principal:
    return Principal(
        kind="professional",
        subject="acc1",
        scopes=parse_scopes("user/*.rs"),
        fhir_user="Practitioner/pr1",
        organization="org1",
    )


def test_keys_are_created_once_and_private(tmp_path: Path) -> None:
    first = load_keys(tmp_path / "k")
    second = load_keys(tmp_path / "k")
    assert first.kid == second.kid and first.audit == second.audit and first.instance == second.instance
    assert (tmp_path / "k").stat().st_mode & 0o077 == 0
    for name in ("signing.json", "audit.key", "instance"):
        assert (tmp_path / "k" / name).stat().st_mode & 0o077 == 0
    assert "d" not in first.jwks()["keys"][0]  # no private part published


def test_the_audit_key_alone_is_the_one_of_all_the_keys(tmp_path: Path) -> None:
    """Commands that only write audit entries read the audit key without the signing key."""
    alone = load_audit_key(tmp_path / "k")
    assert len(alone) == 32 and (tmp_path / "k" / "audit.key").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "k" / "signing.json").exists()
    assert load_keys(tmp_path / "k").audit == alone == load_audit_key(tmp_path / "k")


def test_token_round_trip(keys) -> None:  # type: ignore[no-untyped-def]
    token = issue(keys, _principal(), audience="https://h.example/fhir", now=NOW, ttl=300)
    found = verify(keys, token, audiences={"https://h.example/fhir"}, now=NOW + 10)
    assert (found.kind, found.subject, found.practitioner, found.organization) == (
        "professional",
        "acc1",
        "pr1",
        "org1",
    )
    assert found.scopes.allows("Observation", "r")


@pytest.mark.parametrize(
    ("shift", "audience", "revoke", "reason"),
    [
        (300 + LEEWAY_S + 1, "https://h.example/fhir", False, "expired"),
        (-LEEWAY_S - 1, "https://h.example/fhir", False, "not yet valid"),
        (0, "https://other.example/fhir", False, "audience"),
        (0, "https://h.example/fhir", True, "revoked"),
    ],
)
def test_token_refused(keys, shift: int, audience: str, revoke: bool, reason: str) -> None:  # type: ignore[no-untyped-def]
    principal = Principal(kind="system", subject="c", scopes=parse_scopes("system/*.rs"), token_id="j1")
    token = issue(keys, principal, audience="https://h.example/fhir", now=NOW, ttl=300)
    with pytest.raises(TokenError, match=reason):
        verify(keys, token, audiences={audience}, now=NOW + shift, revoked={"j1"} if revoke else ())
    assert verify(keys, token, audiences={"https://h.example/fhir"}, now=NOW).subject == "c"


def test_forged_tokens_refused(keys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = issue(keys, _principal(), audience="a", now=NOW, ttl=300)
    header, payload, signature = good.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["kind"] = "system"
    claims["scope"] = "system/*.cruds"
    forged_payload = base64.urlsafe_b64encode(orjson.dumps(claims)).decode().rstrip("=")
    other = load_keys(tmp_path / "other")
    attempts = [
        f"{header}.{forged_payload}.{signature}",  # claims changed, signature kept
        issue(other, _principal(), audience="a", now=NOW, ttl=300),  # another installation's key
        jwt.encode({"alg": "HS256", "typ": "at+jwt"}, claims, OctKey.import_key(b"k" * 32)),  # alg swap
        jwt.encode(
            {"alg": "ES256", "typ": "JWT"},
            {**claims, "iss": keys.instance, "aud": "a"},
            ECKey.import_key(keys.signing.as_dict(private=True)),
        ),  # not an access token
        "none.none.none",
        "",
        "a.b",
        "x" * 10_000,
    ]
    for token in attempts:
        with pytest.raises(TokenError):
            verify(keys, token, audiences={"a"}, now=NOW)


def test_verified_tokens_cache_still_checks_time_audience_and_revocation(keys) -> None:  # type: ignore[no-untyped-def]
    from hygie.auth.tokens import VerifiedTokens

    cache = VerifiedTokens(size=4)
    principal = Principal(kind="system", subject="c", scopes=parse_scopes("system/*.rs"), token_id="j9")
    token = issue(keys, principal, audience="a", now=NOW, ttl=300)
    assert cache.verify(keys, token, audiences={"a"}, now=NOW).subject == "c"
    assert cache.verify(keys, token, audiences={"a"}, now=NOW + 100).subject == "c"  # from the cache
    with pytest.raises(TokenError, match="audience"):
        cache.verify(keys, token, audiences={"b"}, now=NOW)
    with pytest.raises(TokenError, match="revoked"):
        cache.verify(keys, token, audiences={"a"}, now=NOW, revoked={"j9"})
    with pytest.raises(TokenError, match="expired"):
        cache.verify(keys, token, audiences={"a"}, now=NOW + 300 + LEEWAY_S + 1)
    header, payload, signature = token.split(".")
    with pytest.raises(TokenError):  # a different text is a different key: checked in full
        cache.verify(keys, f"{header}.{payload}.{signature[:-2]}AA", audiences={"a"}, now=NOW)
    for i in range(10):  # bounded
        other = issue(keys, Principal(kind="system", subject=f"s{i}", scopes=parse_scopes("system/*.rs")),
                      audience="a", now=NOW, ttl=300)  # fmt: skip
        cache.verify(keys, other, audiences={"a"}, now=NOW)
    assert len(cache._known) <= 4

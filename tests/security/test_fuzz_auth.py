"""Hostile credentials never break the server: random or forged bearer tokens get a 401, never a 500.

Hypothesis builds Authorization headers (random text, JWT-shaped strings with random headers and
claims — ``alg: none``, wrong types, huge numbers, unicode — and real tokens with a byte flipped);
every answer must be a 401 OperationOutcome with a ``WWW-Authenticate`` challenge.
"""

from __future__ import annotations

import base64
import json
import os
import random
from typing import Any

import psycopg_pool.base
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hygie.app import create_app
from hygie.settings import Settings
from tests.support import operator_header

psycopg_pool.base.random = random.Random(0).random  # type: ignore[attr-defined]  (see test_robustness)

PROFILE = settings(
    max_examples=int(os.environ.get("HYGIE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=20))
claims = st.dictionaries(
    st.sampled_from(
        ["iss", "aud", "sub", "exp", "nbf", "iat", "jti", "scope", "kind", "patients", "patient", "x"]
    ),
    st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3), max_leaves=6),
    max_size=10,
)
headers = st.dictionaries(
    st.sampled_from(["alg", "typ", "kid", "jku", "x5u", "crit"]),
    st.one_of(st.sampled_from(["none", "ES256", "HS256", "RS256", "at+jwt", "JWT"]), json_leaf),
    max_size=4,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.fixture
def anonymous(settings: Settings) -> Any:
    with TestClient(create_app(settings)) as client:
        yield client


def check(r: Any) -> None:
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["resourceType"] == "OperationOutcome"


@PROFILE
@given(header=headers, body=claims, signature=st.binary(max_size=80))
def test_forged_jwts_are_refused(
    settings: Settings, header: dict[str, Any], body: dict[str, Any], signature: bytes
) -> None:
    token = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}.{b64(signature)}"
    with TestClient(create_app(settings)) as c:
        check(c.get("/fhir/Patient", headers={"Authorization": f"Bearer {token}"}))


@PROFILE
@given(text=st.text(max_size=300).filter(lambda t: "\n" not in t and "\r" not in t))
def test_random_authorization_headers_are_refused(anonymous: TestClient, text: str) -> None:
    try:
        r = anonymous.get(
            "/fhir/Observation", headers={"Authorization": text.encode("utf-8").decode("latin-1")}
        )
    except (ValueError, UnicodeError):  # the HTTP client itself refuses such a header
        return
    check(r)


@PROFILE
@given(position=st.integers(0, 10_000), replacement=st.sampled_from("ABCxyz019-_."))
def test_real_token_with_one_character_changed_is_refused(
    settings: Settings, anonymous: TestClient, position: int, replacement: str
) -> None:
    token = operator_header(settings)["Authorization"].split(" ", 1)[1]
    index = position % len(token)
    if token[index] in (replacement, "."):
        return
    forged = token[:index] + replacement + token[index + 1 :]
    r = anonymous.get("/fhir/Patient", headers={"Authorization": f"Bearer {forged}"})
    if r.status_code == 200:  # base64url: the last character's low bits may decode to the same bytes
        assert index == len(token) - 1
        return
    check(r)

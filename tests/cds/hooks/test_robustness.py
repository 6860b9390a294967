"""Bad input never breaks the CDS Hooks service: property-based bodies never get a 500.

Hypothesis mutates a real order-sign request, a feedback request and a ``$check-interactions``
input, field by field and deep inside the context, prefetch and draft orders; every answer is a
200 or a 4xx OperationOutcome. Authentication is off here so that the bodies reach the checks
(the JWT checks are tested in test_clients.py and test_live.py; the OpenAPI fuzzing of
tests/security/test_openapi_fuzz.py covers the endpoints with authentication on).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from typing import Any

import psycopg_pool.base
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hygie.settings import Settings
from tests.cds.hooks.support import hook_request, medication_request
from tests.support import open_client

psycopg_pool.base.random = random.Random(0).random  # type: ignore[attr-defined]  # see tests/api/test_robustness.py

SIGN = "/cds-services/medication-safety-order-sign"
DRAFT = medication_request("keto", "p1", "68267981", "KETOPROFENE ARROW LP 100 mg", status="draft")
DRAFT["dosageInstruction"] = [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                               "doseAndRate": [{"doseQuantity": {"value": 100, "unit": "mg"}}]}]  # fmt: skip
BASE = hook_request("order-sign", "p1", drafts=[DRAFT], fhir="http://testserver/fhir", token="t")
BASE["prefetch"] = {"patient": {"resourceType": "Patient", "id": "p1"}}
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))  # fmt: skip
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
PROFILE = settings(
    max_examples=int(os.environ.get("HYGIE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
PATHS = [
    (),
    ("context",),
    ("context", "draftOrders"),
    ("context", "draftOrders", "entry", 0, "resource"),
    ("context", "draftOrders", "entry", 0, "resource", "dosageInstruction", 0),
    ("context", "draftOrders", "entry", 0, "resource", "medicationCodeableConcept"),
    ("prefetch",),
    ("prefetch", "patient"),
    ("fhirAuthorization",),
]
KEYS = ["hook", "hookInstance", "fhirServer", "fhirAuthorization", "context", "prefetch", "userId",
        "patientId", "selections", "draftOrders", "entry", "resourceType", "status", "contained",
        "medicationReference", "timing", "doseAndRate", "coding", "birthDate", "medications", "observations",
        "extra"]  # fmt: skip


@pytest.fixture
def bench(settings: Settings) -> Iterator[TestClient]:
    with open_client(settings.model_copy(update={"auth_required": False})) as client:
        yield client


def check(answer: Any) -> None:
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.json()["resourceType"] == "OperationOutcome"
    else:
        assert answer.status_code == 200


def _mutate(path: tuple[Any, ...], key: str, value: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(BASE))
    node: Any = body
    for step in path:
        node = node[step]
    node[key] = value
    return body


@PROFILE
@given(path=st.sampled_from(PATHS), key=st.sampled_from(KEYS), value=json_value)
def test_mutated_hook_requests(bench: TestClient, path: tuple[Any, ...], key: str, value: Any) -> None:
    body = _mutate(path, key, value)
    check(
        bench.post(
            SIGN, content=json.dumps(body, allow_nan=False), headers={"Content-Type": "application/json"}
        )
    )


@PROFILE
@given(body=json_value)
def test_any_json_as_feedback_or_check(bench: TestClient, body: Any) -> None:
    raw = json.dumps(body, allow_nan=False)
    headers = {"Content-Type": "application/json"}
    check(bench.post(f"{SIGN}/feedback", content=raw, headers=headers))
    check(bench.post("/fhir/MedicationRequest/$check-interactions", content=raw, headers=headers))
    entry = {"card": "6c1d58b4-7a3c-4a8b-9c57-2b1f3f6f9e01", "outcome": "overridden", "overrideReason": body,
             "acceptedSuggestions": body, "outcomeTimestamp": body}  # fmt: skip
    check(bench.post(f"{SIGN}/feedback", content=json.dumps({"feedback": [entry]}), headers=headers))
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "medicationRequest", "resource": body}],
    }
    check(
        bench.post(
            "/fhir/MedicationRequest/$check-interactions", content=json.dumps(parameters), headers=headers
        )
    )


@PROFILE
@given(raw=st.binary(max_size=200))
def test_random_bytes(bench: TestClient, raw: bytes) -> None:
    for path in (SIGN, f"{SIGN}/feedback", "/cds-services/medication-safety-patient-view"):
        check(bench.post(path, content=raw, headers={"Content-Type": "application/json"}))

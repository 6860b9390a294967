"""The body of a CDS Hooks 2.0 call, checked field by field (hygie/cds/hooks_request.py), and the
prefetch templates (hygie/cds/hooks_prefetch.py).

https://cds-hooks.hl7.org/2.0/#http-request_1, https://cds-hooks.hl7.org/2.0/#prefetch-template
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hygie.cds.hooks_prefetch import TEMPLATES, provided, render_template, wanted_for
from hygie.cds.hooks_request import parse_hook_request
from hygie.fhir.outcome import FhirError
from tests.cds.hooks.support import hook_request, medication_request

DRAFT = medication_request("d1", "p1", "68267981", "KETOPROFENE ARROW LP 100 mg", status="draft")


def _error(body: Any, hook: str) -> dict[str, Any]:
    with pytest.raises(FhirError) as caught:
        parse_hook_request(body, hook)
    assert caught.value.status == 400
    issue: dict[str, Any] = caught.value.outcome("en")["issue"][0]
    return issue


def _without(body: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = out
    for name in parents:
        node = node[name]
    del node[last]
    return out


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = out
    for name in parents:
        node = node[name]
    node[last] = value
    return out


SIGN = hook_request("order-sign", "p1", drafts=[DRAFT], fhir="http://h/fhir", token="t")
SELECT = hook_request("order-select", "p1", drafts=[DRAFT])


def test_good_requests_are_read() -> None:
    view = parse_hook_request(hook_request("patient-view", "p1"), "patient-view")
    assert (view.patient_id, view.user_id, view.fhir_server, view.authorization) == (
        "p1",
        "Practitioner/dr",
        None,
        None,
    )
    sign = parse_hook_request(SIGN, "order-sign")
    assert sign.fhir_server == "http://h/fhir" and sign.authorization is not None
    assert sign.authorization.access_token == "t"
    assert parse_hook_request(SELECT, "order-select").selections == ("MedicationRequest/d1",)


@pytest.mark.parametrize("field", ["hook", "hookInstance", "context", "context.userId", "context.patientId",
                                   "context.draftOrders"])  # fmt: skip
def test_required_fields(field: str) -> None:
    issue = _error(_without(SIGN, field), "order-sign")
    assert issue["expression"] == [field]
    assert field in issue["diagnostics"]


@pytest.mark.parametrize(
    ("field", "value", "expression"),
    [
        ("hookInstance", "not-a-uuid", "hookInstance"),
        ("hookInstance", 12, "hookInstance"),
        ("fhirServer", "ftp://x", "fhirServer"),
        ("fhirAuthorization.token_type", "MAC", "fhirAuthorization.token_type"),
        ("fhirAuthorization.expires_in", "300", "fhirAuthorization.expires_in"),
        ("fhirAuthorization.access_token", "", "fhirAuthorization.access_token"),
        ("context", [], "context"),
        ("context.userId", "Device/1", "context.userId"),
        ("context.patientId", "a b", "context.patientId"),
        ("context.encounterId", "é", "context.encounterId"),
        ("context.draftOrders", {"resourceType": "List"}, "context.draftOrders"),
        ("context.draftOrders.entry", [{"resource": 1}], "context.draftOrders.entry[0].resource"),
        ("prefetch", [], "prefetch"),
        ("prefetch", {"patient": "Patient/p1"}, "prefetch.patient"),
    ],
)
def test_invalid_fields_are_named(field: str, value: Any, expression: str) -> None:
    assert _error(_with(SIGN, field, value), "order-sign")["expression"] == [expression]


def test_fhir_authorization_needs_a_fhir_server() -> None:
    issue = _error(_without(SIGN, "fhirServer"), "order-sign")
    assert issue["expression"] == ["fhirAuthorization"] and "fhirServer is required" in issue["diagnostics"]


def test_the_hook_must_be_the_services() -> None:
    issue = _error(SIGN, "order-select")
    assert issue["expression"] == ["hook"] and "order-select" in issue["diagnostics"]


@pytest.mark.parametrize(
    ("selections", "expression"),
    [(None, "context.selections"), ([], "context.selections"), (["x"], "context.selections[0]"),
     (["MedicationRequest/other"], "context.selections[0]")],
)  # fmt: skip
def test_selections_point_into_the_draft_orders(selections: Any, expression: str) -> None:
    body = (
        _without(SELECT, "context.selections")
        if selections is None
        else _with(SELECT, "context.selections", selections)
    )
    assert _error(body, "order-select")["expression"] == [expression]


def test_not_an_object() -> None:
    assert _error([], "patient-view")["code"] == "structure"


def test_prefetch_of_the_wrong_kind_or_patient() -> None:
    good = parse_hook_request(
        _with(SIGN, "prefetch", {"patient": {"resourceType": "Patient", "id": "p1"}}), "order-sign"
    )
    assert set(provided(good)) == {"patient"}
    for prefetch, expression in (
        ({"patient": {"resourceType": "Bundle"}}, "prefetch.patient"),
        ({"medications": {"resourceType": "Patient"}}, "prefetch.medications"),
        ({"patient": {"resourceType": "Patient", "id": "p2"}}, "prefetch.patient"),
    ):
        hook = parse_hook_request(_with(SIGN, "prefetch", prefetch), "order-sign")
        with pytest.raises(FhirError) as caught:
            provided(hook)
        assert caught.value.status == 400
        assert caught.value.outcome("en")["issue"][0]["expression"] == [expression]


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        ("Patient/{{context.patientId}}", {"patientId": "p1"}, "Patient/p1"),
        (
            "MedicationRequest?_id={{context.selections}}",
            {"selections": ["a", "b"]},
            "MedicationRequest?_id=a,b",
        ),
        ("Practitioner/{{userPractitionerId}}", {"userId": "Practitioner/dr"}, "Practitioner/dr"),
        (
            "PractitionerRole/{{ userPractitionerRoleId }}",
            {"userId": "PractitionerRole/r"},
            "PractitionerRole/r",
        ),
        ("Patient/{{userPatientId}}", {"userId": "Patient/p"}, "Patient/p"),
        ("RelatedPerson/{{userRelatedPersonId}}", {"userId": "RelatedPerson/x"}, "RelatedPerson/x"),
        ("Practitioner/{{userPractitionerId}}", {"userId": "Patient/p"}, None),
        ("Encounter/{{context.encounterId}}", {"patientId": "p1"}, None),
        ("Observation?patient={{context.patientId}}&x={{context.nothing}}", {"patientId": "p"}, None),
    ],
)
def test_prefetch_tokens(template: str, context: dict[str, Any], expected: str | None) -> None:
    assert render_template(template, context) == expected


def test_every_template_is_for_the_context_patient() -> None:
    queries = wanted_for("p42")
    assert set(queries) == set(TEMPLATES)
    assert queries["patient"] == "Patient/p42"
    assert all("patient=p42" in url for key, url in queries.items() if key != "patient")

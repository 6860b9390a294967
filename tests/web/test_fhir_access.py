"""What pages may read and write (both databases): hygie.web.fhir.WebFhir acting as the
signed-in person through FhirApi.call — the API's access policy and audit, nothing more."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from hygie.api.http import FhirApi
from hygie.settings import Settings
from hygie.web.fhir import WebFhir, WebFhirError, resources
from hygie.web.session import SESSION_COOKIE, signed_in, web_principal
from tests.security.smart_support import Installation, installation
from tests.web.support import login

T = TypeVar("T")


def _run(inst: Installation, work: Callable[[], Awaitable[T]]) -> T:
    portal = inst.http.portal
    assert portal is not None
    return portal.call(work)


def _fhir(inst: Installation, username: str, profile: str | None = None) -> WebFhir:
    """The WebFhir of a page of ``username`` (signed in through the forms) showing ``profile``."""
    login(inst, username)
    api: FhirApi = inst.http.app.state.fhir_api  # type: ignore[attr-defined]
    cookie = inst.http.cookies[SESSION_COOKIE]

    async def who() -> Any:
        return await signed_in(api.db, cookie, now_ms=int(inst.clock.now * 1000), hours=4)

    found = _run(inst, who)
    assert found is not None
    inst.http.cookies.clear()
    return WebFhir(api, web_principal(found, profile or (found.patients[0] if found.patients else None)))


def test_a_patient_reads_their_records_only(settings: Settings) -> None:
    with installation(settings) as inst:
        fhir = _fhir(inst, "alice")
        assert _run(inst, lambda: fhir.get("Patient/alice"))["id"] == "alice"
        assert _run(inst, lambda: fhir.get("Patient/charlie"))["id"] == "charlie"  # acts for charlie
        with pytest.raises(WebFhirError) as hidden:
            _run(inst, lambda: fhir.get("Patient/bob"))
        assert hidden.value.status == 404 and "not-found" in hidden.value.codes
        bundle = _run(inst, lambda: fhir.search("Observation", [("_sort", "_id")]))
        assert [r["id"] for r in resources(bundle)] == ["obs-alice", "obs-charlie"]


def test_a_patient_writes_into_the_record_shown_only(settings: Settings) -> None:
    with installation(settings) as inst:
        fhir = _fhir(inst, "alice", profile="charlie")

        def observation(who: str) -> dict[str, Any]:
            return {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "height"},
                "subject": {"reference": f"Patient/{who}"},
            }

        created = _run(inst, lambda: fhir.create(observation("charlie")))
        assert created["subject"]["reference"] == "Patient/charlie" and created["id"]
        with pytest.raises(WebFhirError) as refused:
            _run(inst, lambda: fhir.create(observation("alice")))  # her own record, not the one shown
        assert refused.value.status in (403, 404)


def test_a_professional_reads_the_patients_they_care_for(settings: Settings) -> None:
    with installation(settings) as inst:
        fhir = _fhir(inst, "drmartin")
        bundle = _run(inst, lambda: fhir.search("Patient", [("_sort", "_id")]))
        assert [r["id"] for r in resources(bundle)] == ["alice", "charlie"]  # bob has another GP
        with pytest.raises(WebFhirError) as hidden:
            _run(inst, lambda: fhir.get("Observation/obs-bob"))
        assert hidden.value.status == 404


def test_resources_put_for_a_page_test_are_seen_by_their_patient(settings: Settings) -> None:
    from tests.web.support import put_resources

    with installation(settings) as inst:
        put_resources(
            inst,
            {
                "resourceType": "AllergyIntolerance",
                "id": "allergy-alice",
                "patient": {"reference": "Patient/alice"},
                "code": {"text": "penicillin"},
            },
        )
        fhir = _fhir(inst, "alice")
        bundle = _run(inst, lambda: fhir.search("AllergyIntolerance", [("patient", "alice")]))
        assert [r["code"]["text"] for r in resources(bundle)] == ["penicillin"]

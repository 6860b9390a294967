"""``/portal/privacy`` (both databases): blocking a professional writes the Consent the access
policy reads — the FHIR API then hides the record from them — and lifting it gives it back;
proxy-aware, CSRF-checked, nothing changed by a bad request."""

from __future__ import annotations

from typing import Any

from hygie.settings import Settings
from tests.security.smart_support import Installation, installation
from tests.support import operator_header
from tests.web.portal.support import doctor, seed, words
from tests.web.support import form_fields, login, post_form, put_resources


def doctor_sees(inst: Installation, pid: str) -> bool:
    answer = inst.http.get(f"/fhir/Patient/{pid}", headers=doctor(inst.settings))
    assert answer.status_code in (200, 404), answer.text
    observations = inst.http.get(f"/fhir/Observation?patient={pid}", headers=doctor(inst.settings)).json()
    assert (answer.status_code == 200) == bool(observations.get("entry")), "the block covers the whole record"
    return answer.status_code == 200


def consents(inst: Installation, *query: tuple[str, str]) -> list[dict[str, Any]]:
    found = inst.http.get("/fhir/Consent", params=query, headers=operator_header(inst.settings)).json()
    return [e["resource"] for e in found.get("entry", [])]


def test_blocking_the_gp_hides_the_record_from_them_until_lifted(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        login(inst, "alice", lang="en")
        assert doctor_sees(inst, "alice") and doctor_sees(inst, "charlie")
        page = inst.http.get("/portal/privacy")
        assert "You have not blocked anybody." in page.text
        known = words(page.text, "known-table")
        assert (
            "Claire Martin, doctor (general practice), Maison de santé des Lices Block Claire Martin" in known
        )
        first = page.text
        done = post_form(inst, first, "/portal/privacy/block", practitioner="gp")
        assert done.status_code == 303 and done.headers["location"] == "/portal/privacy?done=blocked"
        [consent] = consents(inst)
        assert consent["status"] == "active" and consent["patient"] == {"reference": "Patient/alice"}
        assert consent["provision"]["type"] == "deny"
        assert consent["provision"]["actor"][0]["reference"]["reference"] == "Practitioner/gp"
        assert consent["performer"] == [{"reference": "Patient/alice"}]
        # The FHIR API now hides alice's record from the GP; charlie's stays visible
        assert not doctor_sees(inst, "alice") and doctor_sees(inst, "charlie")
        page = inst.http.get("/portal/privacy?done=blocked")
        assert "Done: this professional can no longer see the record." in page.text
        assert "Claire Martin" in words(page.text, "blocks-table") and "Blocked" in words(
            page.text, "known-table"
        )
        # Blocking again (an old page in another tab) changes nothing
        post_form(inst, first, "/portal/privacy/block", practitioner="gp")
        assert len(consents(inst)) == 1
        lifted = post_form(inst, page.text, "/portal/privacy/unblock", consent=consent["id"])
        assert lifted.status_code == 303
        assert [c["status"] for c in consents(inst)] == ["inactive"]  # kept in the record, no longer read
        assert (
            doctor_sees(inst, "alice")
            and "You have not blocked anybody." in inst.http.get("/portal/privacy").text
        )
        # Blocking again makes a new Consent
        post_form(inst, first, "/portal/privacy/block", practitioner="gp")
        assert len(consents(inst, ("status", "active"))) == 1 and not doctor_sees(inst, "alice")
        # Every change is in alice's access history
        history = words(inst.http.get("/portal/access").text, "accesses")
        assert history.count("Changed who may see your record") == 3


def test_bad_or_forged_requests_change_nothing(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        bobs = {
            "resourceType": "Consent",
            "id": "c-bob",
            "status": "active",
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "patient-privacy",
                    }
                ]
            },
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": "Patient/bob"},
            "policyRule": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}]
            },
            "provision": {
                "type": "deny",
                "actor": [
                    {"role": {"coding": [{"code": "PRCP"}]}, "reference": {"reference": "Practitioner/gp"}}
                ],
            },
        }
        nested = {
            **bobs,
            "id": "c-nested",
            "patient": {"reference": "Patient/alice"},
            "provision": {"type": "permit", "provision": [bobs["provision"]]},
        }
        put_resources(inst, bobs, nested)
        login(inst, "alice", lang="en")
        page = inst.http.get("/portal/privacy")
        # A block written elsewhere is shown, and not lifted here
        assert "Choice recorded elsewhere" in words(page.text, "blocks-table")
        assert 'value="c-nested"' not in page.text
        fields = form_fields(page.text, "/portal/privacy/find")
        for consent in ("c-bob", "c-nested", "nothing", "../x"):
            assert (
                inst.http.post("/portal/privacy/unblock", data={**fields, "consent": consent}).status_code
                == 404
            )
        unknown = inst.http.post("/portal/privacy/block", data={**fields, "practitioner": "nobody"})
        assert unknown.status_code == 400 and "This professional was not found." in unknown.text
        forged = inst.http.post(
            "/portal/privacy/block", data={"practitioner": "nurse"}, follow_redirects=False
        )
        assert forged.status_code == 403
        assert {c["id"] for c in consents(inst)} == {"c-bob", "c-nested"}


def test_find_a_professional_by_name_and_block_for_a_child(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        login(inst, "alice", lang="en")
        profile = inst.http.get("/account/profile")
        post_form(inst, profile.text, "/account/profile", patient="charlie")
        page = inst.http.get("/portal/privacy")
        assert "You manage the record of" in words(page.text, "proxy-record")
        short = post_form(inst, page.text, "/portal/privacy/find", name="R")
        assert short.status_code == 400 and "Type at least two letters of the name." in short.text
        found = post_form(inst, page.text, "/portal/privacy/find", name="Riou")
        assert found.status_code == 200 and "Élodie Riou" in words(found.text, "found-table")
        assert "Riou" not in str(found.url)  # names stay out of URLs
        assert post_form(inst, found.text, "/portal/privacy/block", practitioner="gp").status_code == 303
        [consent] = consents(inst)
        assert consent["patient"] == {"reference": "Patient/charlie"}  # the record shown
        assert consent["performer"] == [{"reference": "Patient/alice"}] or "performer" not in consent
        assert not doctor_sees(inst, "charlie") and doctor_sees(inst, "alice")

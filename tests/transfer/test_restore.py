"""``Store.restore``: a resource keeps its own id, versionId and lastUpdated (docs/import.md).

Used by ``hygie import``, Bulk ``$import`` and the portability ZIP. Both databases. Spec of the
stored shape: https://hl7.org/fhir/R4/resource.html#Meta, https://hl7.org/fhir/R4/http.html#vread
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from hygie.auth.policy import Policy
from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal
from hygie.fhir.outcome import FhirError
from hygie.storage.store import OnConflict, Store, Version

STAMP = "2021-03-04T05:06:07.123Z"


def _obs(
    rid: str, subject: str = "p1", vid: Any = "3", updated: Any = STAMP, text: str = "pouls"
) -> dict[str, Any]:
    meta: dict[str, Any] = {"tag": [{"system": "urn:test", "code": "t"}]}
    if vid is not None:
        meta["versionId"] = vid
    if updated is not None:
        meta["lastUpdated"] = updated
    return {
        "resourceType": "Observation",
        "id": rid,
        "meta": meta,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": text},
        "subject": {"reference": f"Patient/{subject}"},
    }


def _restore(
    client: Any, resource: dict[str, Any], on_conflict: OnConflict = "version", guard: Any = None
) -> Version | None:
    api = client.app.state.fhir_api
    params = api.params.scoped(guard) if guard is not None else api.params
    return api.db.run_sync(  # type: ignore[no-any-return]
        lambda s: Store(s, params).restore(resource["resourceType"], resource, on_conflict=on_conflict)
    )


def _patient(client: Any, rid: str) -> None:
    got = _restore(client, {"resourceType": "Patient", "id": rid, "name": [{"family": rid}]})
    assert got is not None


def test_new_resource_keeps_id_version_and_last_updated(client: Any) -> None:
    _patient(client, "p1")
    version = _restore(client, _obs("o-1"))
    assert version is not None and version.vid == 3
    got = client.get("/fhir/Observation/o-1")
    assert got.status_code == 200
    assert got.json()["meta"]["versionId"] == "3"
    assert got.json()["meta"]["lastUpdated"] == STAMP
    assert got.json()["meta"]["tag"] == [{"system": "urn:test", "code": "t"}]
    assert got.headers["etag"] == 'W/"3"'
    assert client.get("/fhir/Observation/o-1/_history/3").json()["meta"]["lastUpdated"] == STAMP
    assert client.get("/fhir/Observation/o-1/_history/1").status_code == 404
    history = client.get("/fhir/Observation/o-1/_history").json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["3"]
    found = client.get("/fhir/Observation?code=http://loinc.org|8867-4&subject=Patient/p1").json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["o-1"]
    assert (
        client.get("/fhir/Observation?_lastUpdated=2021-03-04").json()["entry"][0]["resource"]["id"] == "o-1"
    )
    # the next write goes on from the restored version
    body = {**got.json(), "status": "amended"}
    assert client.put("/fhir/Observation/o-1", json=body).json()["meta"]["versionId"] == "4"


def test_identical_restore_is_a_no_op(client: Any) -> None:
    _patient(client, "p1")
    assert _restore(client, _obs("o-1")) is not None
    again = _obs("o-1", updated="2024-01-01T00:00:00Z")  # lastUpdated aside, same content
    for mode in ("version", "error", "skip"):
        assert _restore(client, again, mode) is None
    history = client.get("/fhir/Observation/o-1/_history").json()
    assert len(history["entry"]) == 1
    assert history["entry"][0]["resource"]["meta"]["lastUpdated"] == STAMP


@pytest.mark.parametrize("changed", ["content", "version"])
def test_conflict_modes(client: Any, changed: str) -> None:
    _patient(client, "p1")
    _restore(client, _obs("o-1"))
    other = _obs("o-1", text="fréquence") if changed == "content" else _obs("o-1", vid="5")
    assert _restore(client, other, "skip") is None
    assert client.get("/fhir/Observation/o-1").json()["meta"]["versionId"] == "3"
    with pytest.raises(FhirError) as caught:
        _restore(client, other, "error")
    assert caught.value.status == 409
    text = caught.value.outcome("en")["issue"][0]["diagnostics"]
    assert "Observation/o-1" in text
    assert "Observation/o-1" in caught.value.outcome("fr")["issue"][0]["diagnostics"]
    assert client.get("/fhir/Observation/o-1").json()["meta"]["versionId"] == "3"
    version = _restore(client, other, "version")
    assert version is not None and version.vid == 4
    got = client.get("/fhir/Observation/o-1").json()
    assert got["meta"]["versionId"] == "4"
    assert got["meta"]["lastUpdated"] != STAMP
    assert len(client.get("/fhir/Observation/o-1/_history").json()["entry"]) == 2


def test_restore_over_a_deleted_resource(client: Any) -> None:
    _patient(client, "p1")
    _restore(client, _obs("o-1", vid="1"))
    assert client.delete("/fhir/Observation/o-1").status_code in (200, 204)
    with pytest.raises(FhirError) as caught:
        _restore(client, _obs("o-1", vid="1"), "error")
    assert caught.value.status == 409
    version = _restore(client, _obs("o-1", vid="1"), "version")
    assert version is not None and version.vid == 3
    assert client.get("/fhir/Observation/o-1").status_code == 200


@pytest.mark.parametrize(
    ("vid", "updated", "expected_vid"),
    [
        (None, None, 1),
        ("0", "yesterday", 1),
        ("abc", "2021-02-30T00:00:00Z", 1),
        (7, STAMP, 7),
        ("12", None, 12),
    ],
)
def test_missing_or_invalid_meta_falls_back(client: Any, vid: Any, updated: Any, expected_vid: int) -> None:
    _patient(client, "p1")
    before = int(time.time() * 1000)
    version = _restore(client, _obs("o-x", vid=vid, updated=updated))
    assert version is not None and version.vid == expected_vid
    got = client.get("/fhir/Observation/o-x").json()
    assert got["meta"]["versionId"] == str(expected_vid)
    if updated == STAMP:
        assert got["meta"]["lastUpdated"] == STAMP
    else:
        assert version.last_updated >= before  # now


@pytest.mark.parametrize("rid", [None, "", "a b", "x" * 65, 12, "é"])
def test_invalid_id_is_refused(client: Any, rid: Any) -> None:
    body = _obs("o-1")
    if rid is None:
        del body["id"]
    else:
        body["id"] = rid
    with pytest.raises(FhirError) as caught:
        _restore(client, body)
    assert caught.value.status == 400
    assert "id" in caught.value.outcome("en")["issue"][0]["diagnostics"]
    assert client.get("/fhir/Observation").json().get("total", 0) == 0


def _patient_guard(client: Any, patient: str) -> Policy:
    principal = Principal(
        kind="system", subject="restorer", scopes=parse_scopes("patient/*.cruds"), launch_patient=patient
    )
    return Policy(principal, client.app.state.fhir_api.params, None, int(time.time() * 1000))


def test_access_policy_applies(client: Any) -> None:
    _patient(client, "p1")
    _patient(client, "p2")
    _restore(client, _obs("mine", "p1", vid="1"))
    _restore(client, _obs("theirs", "p2", vid="1"))
    guard = _patient_guard(client, "p1")
    # an existing resource of the caller's record, unchanged: a no-op
    assert _restore(client, _obs("mine", "p1", vid="1"), guard=guard) is None
    # moved into another patient's record: refused, nothing written
    with pytest.raises(FhirError) as caught:
        _restore(client, _obs("mine", "p2", vid="2"), guard=guard)
    assert caught.value.status == 403
    assert client.get("/fhir/Observation/mine").json()["subject"]["reference"] == "Patient/p1"
    # another patient's resource, overwritten or re-created: 404 (hidden or absent alike)
    for rid in ("theirs", "absent"):
        with pytest.raises(FhirError) as caught:
            _restore(client, _obs(rid, "p1", vid="4"), guard=guard)
        assert caught.value.status == 404
    assert client.get("/fhir/Observation/theirs").json()["meta"]["versionId"] == "1"
    assert client.get("/fhir/Observation/absent").status_code == 404
    # an update of the caller's own resource within the record is allowed
    version = _restore(client, _obs("mine", "p1", vid="1", text="autre"), guard=guard)
    assert version is not None and version.vid == 2


def test_type_level_scope_applies(client: Any) -> None:
    principal = Principal(kind="system", subject="r", scopes=parse_scopes("system/Patient.rs"))
    guard = Policy(principal, client.app.state.fhir_api.params, None, int(time.time() * 1000))
    with pytest.raises(FhirError) as caught:
        _restore(client, {"resourceType": "Patient", "id": "p9"}, guard=guard)
    assert caught.value.status == 403
    assert client.get("/fhir/Patient/p9").status_code == 404

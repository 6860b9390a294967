"""Bulk Data ``$export`` with ``_elements``: root elements kept, resources tagged SUBSETTED.

Bulk Data Access IG 2.0, kick-off parameters —
https://hl7.org/fhir/uv/bulkdata/STU2/export.html#query-parameters and
https://hl7.org/fhir/uv/bulkdata/STU2/OperationDefinition-export.html: "_elements: String of
comma-delimited FHIR Elements [...] of the form [resource type].[element name] or [element
name] and only root elements in a resource are permitted. If the resource type is omitted, the
element should be returned for all resources [...] Servers SHOULD always return mandatory
elements [...] SHOULD mark the resources with the tag SUBSETTED".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from hygie.fhir.summary import SUBSETTED_CODE, SUBSETTED_SYSTEM
from hygie.settings import Settings
from hygie.transfer.commands_export import export_cli
from hygie.transfer.commands_import import import_cli
from tests.support import open_client
from tests.transfer.bulk_helpers import ASYNC, bulk_settings, export, kick_off, manifest_of, wait
from tests.transfer.test_bulk_export import load

SUBSETTED = {"system": SUBSETTED_SYSTEM, "code": SUBSETTED_CODE, "display": "subsetted"}
WORLD: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": "e1",
        "gender": "female",
        "birthDate": "1970-02-03",
        "_birthDate": {"extension": [{"url": "http://example.org/x", "valueString": "approx"}]},
        "name": [{"family": "Durand", "given": ["Anne"]}],
        "telecom": [{"system": "phone", "value": "0600000000"}],
    },
    {"resourceType": "Organization", "id": "eorg", "name": "Cabinet", "alias": ["CM"]},
]
# sent as text: 72.50 is an exact decimal that a float would write back as 72.5
OBSERVATION = (
    '{"resourceType":"Observation","id":"eo1","status":"final","code":{"text":"poids"},'
    '"subject":{"reference":"Patient/e1"},"valueQuantity":{"value":72.50,"unit":"kg"},'
    '"note":[{"text":"après le repas"}]}'
).encode()


@pytest.fixture
def bulk(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    settings = bulk_settings(database_url, tmp_path)
    with open_client(settings) as client:
        load(client, WORLD)
        put = client.put(
            "/fhir/Observation/eo1", content=OBSERVATION, headers={"Content-Type": "application/fhir+json"}
        )
        assert put.status_code == 201, put.text
        yield client, settings


def _meta_tags(resource: dict[str, Any]) -> list[Any]:
    tags: list[Any] = resource["meta"].get("tag", [])
    return tags


def test_untyped_and_typed_elements(bulk: tuple[TestClient, Settings]) -> None:
    client, _ = bulk
    got = export(client, "$export?_type=Patient,Observation,Organization&_elements=name,Observation.value")
    patient = got["Patient"][0]
    # name asked for every type; id and meta always; the rest of the Patient left out
    assert set(patient) == {"resourceType", "id", "meta", "name"}
    assert patient["name"] == WORLD[0]["name"]
    assert SUBSETTED in _meta_tags(patient)
    assert patient["meta"]["versionId"] == "1"
    observation = got["Observation"][0]
    # status and code are mandatory (1..1) in Observation: kept although not asked for
    assert set(observation) == {"resourceType", "id", "meta", "status", "code", "valueQuantity"}
    assert observation["valueQuantity"] == {"value": 72.5, "unit": "kg"}
    assert SUBSETTED in _meta_tags(observation)
    assert got["Organization"][0]["name"] == "Cabinet" and "alias" not in got["Organization"][0]


def test_decimals_keep_their_text_and_companions_follow(bulk: tuple[TestClient, Settings]) -> None:
    client, _ = bulk
    url = kick_off(client, "$export?_type=Observation,Patient&_elements=value,birthDate")
    manifest = manifest_of(client, url)
    files = {item["type"]: client.get(item["url"]).content for item in manifest["output"]}
    assert b'"value":72.50' in files["Observation"]  # the exact decimal, not 72.5
    assert b'"_birthDate":{"extension"' in files["Patient"]  # a primitive's companion follows it


def test_types_named_by_no_entry_are_exported_whole(bulk: tuple[TestClient, Settings]) -> None:
    client, _ = bulk
    got = export(client, "$export?_type=Patient,Organization&_elements=Patient.gender")
    assert set(got["Patient"][0]) == {"resourceType", "id", "meta", "gender"}
    organization = got["Organization"][0]
    assert organization["alias"] == ["CM"]
    assert SUBSETTED not in _meta_tags(organization)


def test_post_parameters_and_repeated_elements(bulk: tuple[TestClient, Settings]) -> None:
    client, _ = bulk
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Patient"},
            {"name": "_elements", "valueString": "gender"},
            {"name": "_elements", "valueString": "Patient.telecom"},
        ],
    }
    url = kick_off(client, "$export", method="POST", json=body)
    patient = export_files(client, url)["Patient"][0]
    assert set(patient) == {"resourceType", "id", "meta", "gender", "telecom"}


def export_files(client: TestClient, url: str) -> dict[str, list[dict[str, Any]]]:
    import orjson

    manifest = manifest_of(client, url)
    out: dict[str, list[dict[str, Any]]] = {}
    for item in manifest["output"]:
        answer = client.get(item["url"])
        out[item["type"]] = [orjson.loads(line) for line in answer.content.splitlines() if line.strip()]
    return out


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Patient.name.given", "root"),  # only root elements
        ("name.given", "root"),
        ("Patient.nom", "unknown"),  # no such element of Patient
        ("Observation.value", "type"),  # a type the export does not include
        ("Unknown.name", "type"),
        ("nom", "unknown"),  # an element of no exported type
        ("na me", "unknown"),
        ("", "unknown"),
    ],
)
def test_bad_elements_are_refused_or_ignored_when_lenient(
    bulk: tuple[TestClient, Settings], value: str, reason: str
) -> None:
    client, settings = bulk
    jobs_before = len(list(settings.bulk_dir.iterdir())) if settings.bulk_dir.exists() else 0
    answer = client.get(f"/fhir/$export?_type=Patient&_elements={value}", headers=ASYNC)
    assert answer.status_code == 400, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "_elements" in outcome["issue"][0]["diagnostics"]
    assert (len(list(settings.bulk_dir.iterdir())) if settings.bulk_dir.exists() else 0) == jobs_before
    # lenient: the element is ignored with a warning; the export runs (whole resources here)
    lenient = client.get(
        f"/fhir/$export?_type=Patient&_elements={value}",
        headers={**ASYNC, "Prefer": "respond-async, handling=lenient"},
    )
    assert lenient.status_code == 202, lenient.text
    warnings = [i for i in lenient.json()["issue"] if i["severity"] == "warning"]
    assert warnings and "_elements" in warnings[0]["diagnostics"]
    done = wait(client, lenient.headers["content-location"])
    assert done.status_code == 200
    patient = export_files(client, lenient.headers["content-location"])["Patient"][0]
    assert patient["telecom"] == WORLD[0]["telecom"]


def test_cli_elements(bulk: tuple[TestClient, Settings], tmp_path: Path) -> None:
    _, settings = bulk
    out = tmp_path / "out"
    env = {"HYGIE_DATABASE_URL": settings.database_url, "HYGIE_KEYS_DIR": str(settings.keys_dir)}
    result = CliRunner().invoke(
        export_cli, ["bulk", str(out), "--type", "Patient", "--elements", "gender"], env=env
    )
    assert result.exit_code == 0, result.output
    import orjson

    patient = orjson.loads((out / "Patient.ndjson").read_bytes().splitlines()[0])
    assert set(patient) == {"resourceType", "id", "meta", "gender"}
    assert SUBSETTED in _meta_tags(patient)
    bad = CliRunner().invoke(
        export_cli, ["bulk", str(tmp_path / "bad"), "--type", "Patient", "--elements", "name.given"], env=env
    )
    assert bad.exit_code != 0 and "_elements" in bad.output
    # imported back, a subset would overwrite the whole record: the file is refused
    back = CliRunner().invoke(import_cli, [str(out)], env=env)
    assert back.exit_code == 1, back.output
    failed = [line for line in back.output.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "Patient.ndjson" in failed[0] and "422" in failed[0], back.output
    assert "SUBSETTED" in failed[0]
    with open_client(settings) as client:
        assert client.get("/fhir/Patient/e1").json()["name"] == WORLD[0]["name"]

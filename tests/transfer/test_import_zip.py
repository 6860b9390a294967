"""``hygie import`` of a portability ZIP (``hygie-record`` version 1, docs/import.md): checked
against its manifest before anything is loaded, then restored in one transaction with ids,
versionId and lastUpdated kept. Both databases."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from hygie.settings import Settings
from tests.support import open_client
from tests.transfer.test_import import STAMP, here, observation, patient, run  # noqa: F401 (fixture)


def _ndjson(resources: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in resources)


def record_zip(
    path: Path,
    members: dict[str, bytes],
    *,
    unlisted: dict[str, bytes] | None = None,
    tamper: str | None = None,
) -> Path:
    """A ZIP laid out as ``hygie export record`` writes it (the spec of issue 5)."""
    files = [
        {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "resources": None}
        for name, data in members.items()
    ]
    manifest = {
        "format": "hygie-record",
        "version": 1,
        "created": STAMP,
        "generator": "Hygie test",
        "scope": {"patient": "z1"},
        "language": "fr",
        "files": files,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", orjson.dumps(manifest))
        for name, data in {**members, **(unlisted or {})}.items():
            archive.writestr(name, data + (b" " if name == tamper else b""))
    path.write_bytes(buffer.getvalue())
    return path


def members() -> dict[str, bytes]:
    obs = {**observation("z-o1", "z1"), "meta": {"versionId": "4", "lastUpdated": STAMP}}
    return {
        "fhir/Observation.ndjson": _ndjson([obs]),
        "fhir/Patient.ndjson": _ndjson([patient("z1", "Zola", vid="7")]),
        "documents/letter.txt": b"Cher confrere",
        "summary/summary.html": b"<html lang='fr'></html>",
    }


def test_round_trip_keeps_ids_versions_and_dates(settings: Settings, here: Path) -> None:  # noqa: F811
    path = record_zip(here / "record.zip", members())
    result = run(settings, str(path))
    assert result.exit_code == 0, result.output
    assert "2 resources" in result.output
    with open_client(settings) as client:
        got = client.get("/fhir/Patient/z1").json()
        assert got["meta"] == {"versionId": "7", "lastUpdated": STAMP}
        obs = client.get("/fhir/Observation/z-o1/_history/4").json()
        assert obs["subject"] == {"reference": "Patient/z1"} and obs["meta"]["lastUpdated"] == STAMP
    # the same archive again (after --restart): identical resources, nothing written, no error
    again = run(settings, "--restart", str(path))
    assert again.exit_code == 0, again.output
    assert "2 unchanged" in again.output


@pytest.mark.parametrize("damage", ["checksum", "unlisted", "missing", "manifest"])
def test_damaged_zip_is_refused_whole(settings: Settings, here: Path, damage: str) -> None:  # noqa: F811
    content = members()
    if damage == "checksum":
        path = record_zip(here / "r.zip", content, tamper="documents/letter.txt")
    elif damage == "unlisted":
        path = record_zip(here / "r.zip", content, unlisted={"fhir/Extra.ndjson": b""})
    elif damage == "missing":
        path = record_zip(here / "r.zip", content)
        with zipfile.ZipFile(path) as archive:
            kept = {n: archive.read(n) for n in archive.namelist() if n != "summary/summary.html"}
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in kept.items():
                archive.writestr(name, data)
    else:
        path = here / "r.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("manifest.json", b'{"format": "other", "version": 1, "files": []}')
    result = run(settings, str(path))
    assert result.exit_code == 1, result.output
    expected = {
        "checksum": "documents/letter.txt does not match the manifest",
        "unlisted": "fhir/Extra.ndjson is not listed",
        "missing": "summary/summary.html, listed in the manifest, is missing",
        "manifest": "manifest.json missing or invalid",
    }[damage]
    assert expected in result.output
    with open_client(settings) as client:
        assert client.get("/fhir/Patient/z1").status_code == 404
        assert client.get("/fhir/Observation/z-o1").status_code == 404


def test_conflicting_record_is_refused_whole(settings: Settings, here: Path) -> None:  # noqa: F811
    with open_client(settings) as client:
        body = {"resourceType": "Patient", "id": "z1", "name": [{"family": "Autre"}]}
        assert client.put("/fhir/Patient/z1", json=body).status_code == 201
    result = run(settings, str(record_zip(here / "record.zip", members())))
    assert result.exit_code == 1, result.output
    assert "fhir/Patient.ndjson line 1: 409" in result.output and "Patient/z1" in result.output
    with open_client(settings) as client:
        assert client.get("/fhir/Observation/z-o1").status_code == 404  # one transaction: nothing
        assert client.get("/fhir/Patient/z1").json()["name"] == [{"family": "Autre"}]
    # an explicit choice overrides the ZIP's default
    forced = run(settings, "--on-conflict", "version", str(here / "record.zip"))
    assert forced.exit_code == 0, forced.output
    with open_client(settings) as client:
        assert client.get("/fhir/Patient/z1").json()["name"] == [{"family": "Zola"}]
        assert client.get("/fhir/Patient/z1").json()["meta"]["versionId"] == "2"


def test_an_oversized_manifest_is_refused_unread(
    settings: Settings,
    here: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hygie.transfer import import_zip

    path = record_zip(here / "r.zip", members())
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo("manifest.json").file_size
    monkeypatch.setattr(import_zip, "MAX_MANIFEST_BYTES", size - 1)
    result = run(settings, str(path))
    assert result.exit_code == 1, result.output
    assert f"manifest.json missing or invalid (larger than {size - 1} bytes)" in result.output
    with open_client(settings) as client:
        assert client.get("/fhir/Patient/z1").status_code == 404
    monkeypatch.setattr(import_zip, "MAX_MANIFEST_BYTES", size)  # exactly the limit: read
    assert run(settings, str(path)).exit_code == 0


def test_not_a_zip(settings: Settings, here: Path) -> None:  # noqa: F811
    path = here / "fake.zip"
    path.write_bytes(b"PK not really")
    result = run(settings, str(path))
    assert result.exit_code == 1 and "Unreadable ZIP" in result.output

"""Bulk export pages: whatever the page size (``HYGIE_BULK_CHUNK_SIZE``) and however types are
interleaved in storage, every file holds the stored bodies byte for byte, in storage-key order.

Bulk Data Access IG 2.0, output files: https://hl7.org/fhir/uv/bulkdata/STU2/export.html#file-request
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from hygie.storage.codec import unpack
from hygie.storage.database import open_database
from hygie.transfer.commands_export import export_cli
from tests.support import open_client
from tests.transfer.bulk_helpers import bulk_settings


def _world() -> list[dict[str, Any]]:
    """Observations (the dense type) interleaved with Patients, an Organization, and bodies whose
    text holds a line break and non-ASCII characters."""
    out: list[dict[str, Any]] = []
    for i in range(14):
        if i % 4 == 0:
            out.append({"resourceType": "Patient", "id": f"p{i}", "name": [{"family": f"Zoë {i}"}]})
        category = "laboratory" if i % 3 == 0 else "vital-signs"
        out.append(
            {
                "resourceType": "Observation",
                "id": f"o{i}",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": category,
                            }
                        ]
                    }
                ],
                "code": {"text": f"line one\nline two — {i}"},
                "subject": {"reference": f"Patient/p{i - i % 4}"},
            }
        )
        if i == 6:
            out.append({"resourceType": "Organization", "id": "org1", "name": "Org"})
    return out


def _load(client: Any, resources: list[dict[str, Any]]) -> None:
    for resource in resources:
        answer = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource)
        assert answer.status_code in (200, 201), answer.text[:300]


def _stored(database_url: str) -> dict[str, list[bytes]]:
    """Type → current bodies of the live resources, in storage-key order (what an export writes)."""
    db = open_database(database_url)
    try:
        rows = db.run_sync(
            lambda s: s.all(
                "SELECT r.type, v.body FROM resource r JOIN resource_version v"
                " ON v.rk = r.rk AND v.vid = r.vid WHERE r.deleted = ? ORDER BY r.rk",
                (False,),
            ),
            write=False,
        )
    finally:
        db.close()
    out: dict[str, list[bytes]] = {}
    for rtype, body in rows:
        out.setdefault(str(rtype), []).append(unpack(body))
    return out


def _files(out: Path) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sorted(out.glob("*.ndjson"))}


def _export(tmp_path: Path, env: dict[str, str], name: str, size: int, *args: str) -> Path:
    out = tmp_path / name
    result = CliRunner().invoke(
        export_cli, ["bulk", str(out), *args], env={**env, "HYGIE_BULK_CHUNK_SIZE": str(size)}
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def loaded(database_url: str, tmp_path: Path) -> dict[str, str]:
    settings = bulk_settings(database_url, tmp_path)
    with open_client(settings) as client:
        _load(client, _world())
        assert client.delete("/fhir/Observation/o5").status_code in (200, 204)
        updated = {**_world()[2], "status": "amended"}  # o1: a second version, same storage key
        _load(client, [updated])
    return {"HYGIE_DATABASE_URL": database_url, "HYGIE_KEYS_DIR": str(settings.keys_dir)}


def test_every_page_size_writes_the_stored_bodies_in_key_order(
    loaded: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    stored = _stored(database_url)
    assert len(stored["Observation"]) == 13 and len(stored["Patient"]) == 4
    for size in (1, 2, 3, 5, 1000):
        out = _export(tmp_path, loaded, f"out{size}", size)
        files = _files(out)
        assert set(files) == set(stored), size
        for rtype, bodies in stored.items():
            expected = b"".join(
                (b if b"\n" not in b else orjson.dumps(orjson.loads(b))) + b"\n" for b in bodies
            )
            assert files[rtype] == expected, (size, rtype)
        manifest = orjson.loads((out / "manifest.json").read_bytes())
        assert {o["type"]: o["count"] for o in manifest["output"]} == {t: len(b) for t, b in stored.items()}
    amended = [orjson.loads(line) for line in _files(out)["Observation"].splitlines()]
    assert [o["id"] for o in amended][:3] == ["o0", "o1", "o2"] and amended[1]["status"] == "amended"
    assert "o5" not in {o["id"] for o in amended}
    assert amended[0]["code"]["text"] == "line one\nline two — 0"


def test_filters_and_levels_page_the_same_as_one_page(loaded: dict[str, str], tmp_path: Path) -> None:
    cases = [
        ("--type", "Observation", "--type-filter", "Observation?category=laboratory"),
        ("--patient-level",),
        ("--patient-level", "--type", "Observation,Patient"),
        ("--type", "Organization,Observation"),
    ]
    for n, args in enumerate(cases):
        one_page = _files(_export(tmp_path, loaded, f"one{n}", 1000, *args))
        assert one_page, args
        for size in (1, 2, 4):
            paged = _files(_export(tmp_path, loaded, f"paged{n}-{size}", size, *args))
            assert paged == one_page, (args, size)
    lab = _files(_export(tmp_path, loaded, "lab", 2, *cases[0]))
    ids = [orjson.loads(line)["id"] for line in lab["Observation"].splitlines()]
    assert ids == ["o0", "o3", "o6", "o9", "o12"]


def test_binary_rows_are_the_same_rows(loaded: dict[str, str], database_url: str) -> None:
    """``Session.all_binary`` (PostgreSQL: binary result format) gives the values ``all`` gives."""
    sql = (
        "SELECT r.rk, r.id, r.deleted, v.body FROM resource r JOIN resource_version v"
        " ON v.rk = r.rk AND v.vid = r.vid WHERE r.type = ? AND r.deleted = ? ORDER BY r.rk"
    )
    args = ("Observation", False)
    db = open_database(database_url)
    try:
        text, binary = db.run_sync(lambda s: (s.all(sql, args), s.all_binary(sql, args)), write=False)
    finally:
        db.close()
    assert len(binary) == 13
    assert [tuple(r) for r in binary] == [tuple(r) for r in text]
    assert all(isinstance(r[3], bytes) and unpack(r[3]).startswith(b"{") for r in binary)


def test_the_page_writer_appends_in_order_and_reports_its_errors(tmp_path: Path) -> None:
    from hygie.storage.codec import pack
    from hygie.transfer.bulk_files import PageWriter

    patients: set[str] = set()
    writer = PageWriter(patients)
    target = tmp_path / "Observation.ndjson"
    pages = [[b'{"id":"a","subject":{"reference":"Patient/p1"}}'], [b'{"id":"b"}', b'{"id":"c",\n"x":1}']]
    for page in pages:
        writer.add(target, [pack(body) for body in page], None)
    writer.add(tmp_path / "Patient.ndjson", [pack(b'{"id":"p9"}')], {"p9"})
    writer.close()
    assert (
        target.read_bytes()
        == b'{"id":"a","subject":{"reference":"Patient/p1"}}\n{"id":"b"}\n{"id":"c","x":1}\n'
    )
    assert patients == {"p1", "p9"}
    assert not [t for t in threading.enumerate() if t.name.startswith("hygie-bulk-files")]
    # a page that cannot be written: the error comes out of the next hand-over or of close
    failing = PageWriter(set())
    failing.add(tmp_path / "missing" / "Patient.ndjson", [pack(b'{"id":"p1"}')], {"p1"})
    with pytest.raises(FileNotFoundError):
        failing.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("hygie-bulk-files")]


def test_a_restricted_caller_gets_the_same_pages_at_any_size(database_url: str, tmp_path: Path) -> None:
    """``$export`` under a patient-launch token: small pages (the SQLite key walk) give exactly
    the launch patient's records, as one page does."""
    from tests.transfer.bulk_helpers import system_principal

    found = _keys_at_page_sizes(
        database_url, tmp_path, "Patient/$export", system_principal("app", "patient/*.rs", launch="p4")
    )
    expected = {"Patient/p4", *(f"Observation/o{i}" for i in range(4, 8))}
    assert found == [expected, expected]


def _keys_at_page_sizes(database_url: str, tmp_path: Path, path: str, principal: Any) -> list[set[str]]:
    """The keys ``principal`` gets from ``$export`` at ``path``, with pages of 1,000 then of 2
    (the world loaded once, before the first)."""
    from tests.transfer.bulk_helpers import bearer, export, keys

    found = []
    for size in (1000, 2):
        settings = bulk_settings(database_url, tmp_path, bulk_chunk_size=size)
        with open_client(settings) as client:
            if size == 1000:
                _load(client, _world())
            found.append(keys(export(client, path, bearer(settings, principal))))
    return found


def test_the_last_page_counts_in_the_audit(loaded: dict[str, str], database_url: str, tmp_path: Path) -> None:
    """The audit of ``hygie export bulk`` names the patients of every page, the last one included
    (written by the page writer's thread: the export waits for it)."""
    lab = ("--type", "Observation", "--type-filter", "Observation?category=laboratory")
    out = _export(tmp_path, loaded, "obs", 2, *lab)  # o0 o3 | o6 o9 | o12: the last page, p12's
    assert len(_files(out)["Observation"].splitlines()) == 5
    settings = bulk_settings(database_url, tmp_path)
    audited = set()
    with open_client(settings) as client:
        for patient in ("p0", "p4", "p8", "p12", "p13"):
            bundle = client.get(f"/fhir/AuditEvent?patient={patient}&_count=100").json()
            events = [e["resource"] for e in bundle.get("entry", [])]
            if any(e["type"].get("code") == "110106" for e in events):
                audited.add(patient)
    assert audited == {"p0", "p4", "p8", "p12"}


def test_rows_the_caller_may_search_but_not_read_do_not_end_a_type_early(
    database_url: str, tmp_path: Path
) -> None:
    """A client may search every Observation but read the laboratory ones only: a page of keys is
    made of readable rows, so a page short of them does not end the type (laboratory
    Observations after the first page were lost)."""
    from tests.transfer.bulk_helpers import system_principal

    labs = {f"Observation/o{i}" for i in range(14) if i % 3 == 0}
    scopes = "system/Observation.s system/Observation.r?category=laboratory"
    found = _keys_at_page_sizes(
        database_url, tmp_path, "$export?_type=Observation", system_principal("app", scopes)
    )
    assert found == [labs, labs]


def test_a_body_with_a_line_break_is_written_on_one_line_with_its_decimals(tmp_path: Path) -> None:
    from hygie.transfer.bulk_files import write_lines

    bodies = [b'{"resourceType":"Basic","id":"b1"}', b'{"resourceType":"Basic",\n"id":"b2","n":1.50}']
    with (tmp_path / "Basic.ndjson").open("wb") as fh:
        write_lines(fh, bodies, b"\n".join(bodies))
    lines = (tmp_path / "Basic.ndjson").read_bytes().splitlines()
    assert lines == [bodies[0], b'{"resourceType":"Basic","id":"b2","n":1.50}']

"""``hygie import``: Bundles, NDJSON (plain and gzip), folders; one transaction per file,
reported per file, resumable, audited (docs/import.md). Both databases, through the command
(typer.testing.CliRunner) and checked over the FHIR API.

Formats: https://hl7.org/fhir/R4/http.html#transaction (Bundles),
https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-output-file-format (NDJSON).
"""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result

from hygie.settings import Settings
from hygie.storage.database import open_database
from hygie.transfer.commands_import import import_cli
from tests.support import open_client

SYNTHEA = Path(__file__).resolve().parents[3] / "shared" / "data" / "synthea-r4"
STAMP = "2022-05-06T07:08:09.010Z"


def run(settings: Settings, *args: str) -> Result:
    env = {"HYGIE_DATABASE_URL": settings.database_url, "HYGIE_KEYS_DIR": str(settings.keys_dir)}
    return CliRunner().invoke(import_cli, list(args), env=env)


def count(client: Any, query: str) -> int:
    got = client.get(f"/fhir/{query}{'&' if '?' in query else '?'}_summary=count")
    assert got.status_code == 200, got.text
    return int(got.json()["total"])


def patient(rid: str, family: str = "Martin", vid: str = "2") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": rid,
        "meta": {"versionId": vid, "lastUpdated": STAMP},
        "name": [{"family": family}],
    }


def observation(rid: str | None, subject: str, status: str = "final") -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{subject}"},
        "valueQuantity": {"value": 72.50, "unit": "/min"},
    }
    if rid:
        body["id"] = rid
    return body


def ndjson(path: Path, resources: list[Any]) -> Path:
    data = b"".join(orjson.dumps(r) + b"\n" for r in resources)
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of the test's own (the PostgreSQL state file goes to ./var/)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_synthea_bundles_as_they_are(settings: Settings, here: Path) -> None:
    folder = here / "synthea"
    folder.mkdir()
    chosen = sorted(SYNTHEA.glob("*.json"))[:3]
    for path in chosen:
        shutil.copy(path, folder / path.name)
    expected: dict[str, int] = {}
    for path in chosen:
        for entry in orjson.loads(path.read_bytes())["entry"]:
            rtype = entry["resource"]["resourceType"]
            expected[rtype] = expected.get(rtype, 0) + 1
    result = run(settings, str(folder))
    assert result.exit_code == 0, result.output
    assert result.output.count("imported  ") == 3
    assert f"{sum(expected.values()):,} resources written" in result.output
    with open_client(settings) as client:
        for rtype, n in expected.items():
            assert count(client, rtype) == n, rtype
        # urn:uuid references were rewritten to the ids the server gave
        subject = client.get("/fhir/Observation?_count=1").json()["entry"][0]["resource"]["subject"]
        assert subject["reference"].startswith("Patient/")
        assert client.get(f"/fhir/{subject['reference']}").status_code == 200
        assert count(client, f"Observation?subject={subject['reference']}") > 0
    again = run(settings, str(folder))
    assert again.exit_code == 0, again.output
    assert again.output.count("already   ") == 3
    assert "0 file(s) imported, 3 already imported" in again.output
    with open_client(settings) as client:
        assert count(client, "Patient") == 3


def test_ndjson_keeps_ids_and_versions_and_is_idempotent(settings: Settings, here: Path) -> None:
    plain = ndjson(here / "Patient.ndjson", [patient("p1"), patient("p2", "Durand")])
    zipped = ndjson(here / "Observation.ndjson.gz", [observation("o1", "p1"), observation(None, "p2")])
    result = run(settings, str(plain), str(zipped))
    assert result.exit_code == 0, result.output
    assert "Patient 2" in result.output and "Observation 2" in result.output
    with open_client(settings) as client:
        got = client.get("/fhir/Patient/p1").json()
        assert got["meta"] == {"versionId": "2", "lastUpdated": STAMP}
        assert client.get("/fhir/Patient/p1/_history/2").status_code == 200
        assert client.get("/fhir/Observation/o1").json()["valueQuantity"]["value"] == 72.50
        assert count(client, "Observation?subject=Patient/p2") == 1  # created with a server id
        assert count(client, "Patient?name=durand") == 1
    # the same content under a new name: known to the database, skipped
    plain.rename(here / "Patient-again.ndjson")
    skipped = run(settings, str(here / "Patient-again.ndjson"))
    assert skipped.exit_code == 0 and "already" in skipped.output, skipped.output
    # read again on request: nothing is written again (restore is a no-op)
    again = run(settings, "--restart", str(here / "Patient-again.ndjson"))
    assert again.exit_code == 0, again.output
    assert "0 resources" in again.output and "2 unchanged" in again.output
    with open_client(settings) as client:
        assert len(client.get("/fhir/Patient/p1/_history").json()["entry"]) == 1


def test_a_bad_line_refuses_its_file_only(settings: Settings, here: Path) -> None:
    good = ndjson(here / "a-good.ndjson", [patient("p1")])
    bad = here / "b-bad.ndjson"
    bad.write_bytes(
        orjson.dumps(patient("p2"))
        + b"\n\n"
        + orjson.dumps(observation("o2", "p2", status="not-a-status"))
        + b"\n"
    )
    broken = here / "c-broken.ndjson"
    broken.write_bytes(orjson.dumps(patient("p3")) + b"\n{not json\n")
    last = ndjson(here / "d-last.ndjson", [patient("p4")])
    result = run(settings, str(good), str(bad), str(broken), str(last))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    failed = [line for line in lines if line.startswith("FAILED")]
    assert len(failed) == 2
    assert "b-bad.ndjson" in failed[0] and "line 3: 4" in failed[0] and "Observation.status" in failed[0]
    assert "c-broken.ndjson" in failed[1] and "line 2: 400" in failed[1] and "JSON" in failed[1]
    assert "2 file(s) imported, 0 already imported, 2 failed" in result.output
    with open_client(settings) as client:
        assert client.get("/fhir/Patient/p1").status_code == 200
        assert client.get("/fhir/Patient/p4").status_code == 200
        for rid in ("p2", "p3"):  # never half-written
            assert client.get(f"/fhir/Patient/{rid}").status_code == 404
    # fixed, the failed file is imported by the next run; the others are skipped
    bad.write_bytes(orjson.dumps(patient("p2")) + b"\n" + orjson.dumps(observation("o2", "p2")) + b"\n")
    result = run(settings, str(here))
    assert result.exit_code == 1, result.output  # c-broken.ndjson is still broken
    assert result.output.count("already   ") == 2
    with open_client(settings) as client:
        assert client.get("/fhir/Observation/o2").status_code == 200


def test_an_oversized_bundle_file_is_refused_before_it_is_read_whole(
    settings: Settings, here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hygie.transfer import readers

    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient("big1")}]}
    small = here / "a-small.json"
    small.write_bytes(orjson.dumps(bundle))
    monkeypatch.setattr(readers, "MAX_JSON_BYTES", len(small.read_bytes()))
    # 64 MiB of spaces compress to 64 KiB: read whole, they would take 64 MiB of memory
    bomb = here / "b-bomb.json.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as out:
        out.write(orjson.dumps(patient("big2"))[:-1])
        for _ in range(64):
            out.write(b" " * (1 << 20))
        out.write(b"}")
    result = run(settings, str(small), str(bomb))
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "b-bomb.json.gz" in failed[0] and "413" in failed[0], result.output
    assert f"larger than {len(small.read_bytes())} bytes" in failed[0]
    with open_client(settings) as client:
        assert client.get("/fhir/Patient/big1").status_code == 200  # exactly the limit: read
        assert client.get("/fhir/Patient/big2").status_code == 404


def test_state_file_restart_and_option(settings: Settings, here: Path) -> None:
    file = ndjson(here / "Observation.ndjson", [observation(None, "p1")])
    state = here / "my-state.json"
    assert run(settings, "--state", str(state), str(file)).exit_code == 0
    recorded = orjson.loads(state.read_bytes())["files"]
    assert list(recorded) == [str(file.resolve())]
    assert len(recorded[str(file.resolve())]["sha256"]) == 64
    assert "already" in run(settings, "--state", str(state), str(file)).output
    again = run(settings, "--state", str(state), "--restart", str(file))
    assert again.exit_code == 0 and "imported  " in again.output
    with open_client(settings) as client:
        assert count(client, "Observation") == 2  # no id: created twice
    # another state file (the default one) knows nothing, but the database does: not again
    assert "already" in run(settings, str(file)).output
    with open_client(settings) as client:
        assert count(client, "Observation") == 2
    garbage = here / "garbage.json"
    garbage.write_text("[1, 2")
    refused = run(settings, "--state", str(garbage), str(file))
    assert refused.exit_code == 2 and "--restart" in refused.output


def test_bundle_kinds(settings: Settings, here: Path) -> None:
    collection = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": patient("c1")}, {"resource": observation("c-o1", "c1")}],
    }
    batch_ok = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": observation(None, "c1"), "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    batch_bad = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient("b1"), "request": {"method": "PUT", "url": "Patient/b1"}},
            {
                "resource": {"resourceType": "Patient", "gender": "x"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    searchset = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    manifest = {"transactionTime": STAMP, "request": "x", "requiresAccessToken": True, "output": []}
    files = {}
    for name, data in [
        ("1-collection.json", collection),
        ("2-batch-ok.json", batch_ok),
        ("3-batch-bad.json", batch_bad),
        ("4-searchset.json", searchset),
        ("5-manifest.json", manifest),
        ("6-single.json.gz", patient("single")),
    ]:
        files[name] = here / "in" / name
        files[name].parent.mkdir(exist_ok=True)
        raw = orjson.dumps(data)
        files[name].write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    (here / "in" / "notes.txt").write_text("not imported")
    result = run(settings, str(here / "in"))
    assert result.exit_code == 1, result.output
    out = result.output.splitlines()
    assert out[0].startswith("imported  ") and "1-collection.json" in out[0]
    assert out[1].startswith("imported  ") and "2-batch-ok.json" in out[1]
    assert out[2].startswith("FAILED") and "3-batch-bad.json" in out[2] and "Bundle.entry[1]" in out[2]
    assert out[3].startswith("FAILED") and "searchset" in out[3]
    assert out[4].startswith("ignored") and "5-manifest.json" in out[4]
    assert out[5].startswith("imported  ") and "6-single.json.gz" in out[5]
    assert "notes.txt" not in result.output
    with open_client(settings) as client:
        assert client.get("/fhir/Observation/c-o1").json()["subject"]["reference"] == "Patient/c1"
        assert count(client, "Observation?subject=Patient/c1") == 2
        assert client.get("/fhir/Patient/b1").status_code == 404  # the failed batch wrote nothing
        assert client.get("/fhir/Patient/single").json()["meta"]["versionId"] == "2"


def test_each_file_is_audited(settings: Settings, here: Path) -> None:
    good = ndjson(here / "Patient.ndjson", [patient("aud-1"), patient("aud-2")])
    bad = ndjson(here / "Bad.ndjson", [{"resourceType": "Nope"}])
    assert run(settings, str(good), str(bad)).exit_code == 1
    db = open_database(settings.database_url)
    try:
        rows = db.run_sync(lambda s: s.all("SELECT patient, body FROM audit_log ORDER BY seq"), write=False)
    finally:
        db.close()
    events = [(p, orjson.loads(bytes(b) if not isinstance(b, str) else b)) for p, b in rows]
    imports = [(p, e) for p, e in events if "hygie import" in str(e.get("purposeOfEvent"))]
    assert sorted(p for p, e in imports if e["outcome"] == "0") == ["aud-1", "aud-2"]
    text = str(imports[0][1]["purposeOfEvent"])
    assert "Patient.ndjson" in text and "2 resources" in text and "sha256" in text
    failed = [e for p, e in imports if e["outcome"] != "0"]
    assert len(failed) == 1 and "Bad.ndjson" in str(failed[0]["purposeOfEvent"])
    assert any(a.get("altId", "").startswith("operator") for a in imports[0][1]["agent"])


class _Endless:
    """A binary stream of NDJSON lines that fails if read past ``limit`` lines."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.given = 0

    def __iter__(self) -> _Endless:
        return self

    def readline(self, size: int = -1) -> bytes:
        self.given += 1
        if self.given > self.limit:
            raise AssertionError("read too far: the reader must stream")
        return b"\r\n" if self.given == 2 else orjson.dumps(patient(f"s{self.given}")) + b"\n"


class _OneLongLine(io.RawIOBase):
    """``size`` bytes with no line end, made as they are read; counts what was read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = b"x" * n
        self.left -= n
        self.read_bytes += n
        return n


def test_a_line_too_long_is_refused_before_it_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from hygie.transfer import readers

    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1000)
    raw = _OneLongLine(32 * 1024 * 1024)
    with pytest.raises(readers.LineError) as caught:
        list(readers.read_ndjson(io.BufferedReader(raw)))
    assert caught.value.line == 1 and caught.value.error.status == 413
    assert raw.read_bytes < 1024 * 1024  # not the 32 MiB of the line: memory stays bounded
    # a line of exactly the limit (its line end included) is read
    line = orjson.dumps({"resourceType": "Basic", "id": "b" * 900})
    padded = line[:-1] + b" " * (1000 - len(line) - 1) + b"}\n"
    assert len(padded) == 1000
    assert [n for n, _ in readers.read_ndjson(io.BytesIO(padded + padded))] == [1, 2]


def test_read_ndjson_streams_line_by_line(here: Path) -> None:
    from hygie.transfer.readers import LineError, read_ndjson

    stream = _Endless(limit=3)
    lines = read_ndjson(stream)  # type: ignore[arg-type]
    assert next(lines)[0] == 1
    number, resource = next(lines)  # the blank line 2 is skipped
    assert number == 3 and resource["id"] == "s3"
    assert stream.given == 3
    path = ndjson(here / "x.ndjson.gz", [patient("g1"), patient("g2")])
    assert [(n, r["id"]) for n, r in read_ndjson(path)] == [(1, "g1"), (2, "g2")]
    (here / "bad.ndjson").write_bytes(b'{"a": 1}\n[1,\n')
    with pytest.raises(LineError) as caught:
        list(read_ndjson(here / "bad.ndjson"))
    assert caught.value.line == 2 and caught.value.error.status == 400


def test_the_same_id_twice_in_one_file(settings: Settings, here: Path) -> None:
    file = ndjson(here / "Patient.ndjson", [patient("t1", "Avant"), patient("t1", "Après")])
    result = run(settings, str(file))
    assert result.exit_code == 0, result.output
    with open_client(settings) as client:
        got = client.get("/fhir/Patient/t1").json()
        assert got["name"] == [{"family": "Après"}] and got["meta"]["versionId"] == "3"
        assert client.get("/fhir/Patient/t1/_history/2").json()["name"] == [{"family": "Avant"}]
        assert count(client, "Patient?name=avant") == 0 and count(client, "Patient?name=apres") == 1


def test_a_crash_before_the_state_file_is_written_imports_nothing_twice(
    settings: Settings, here: Path
) -> None:
    """The state file is written after the commit; the database records each file in the commit
    itself (migration 13), so a file committed just before a crash is not loaded again — a
    transaction Bundle of POST entries would otherwise create its resources twice."""
    bundle = here / "bundle.json"
    entries = [{"resource": observation(None, "p1"), "request": {"method": "POST", "url": "Observation"}}]
    bundle.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
    state = here / "state.json"
    assert run(settings, "--state", str(state), str(bundle)).exit_code == 0
    state.unlink()  # as if the process died between the commit and the state file
    again = run(settings, "--state", str(state), str(bundle))
    assert again.exit_code == 0 and "already" in again.output, again.output
    with open_client(settings) as client:
        assert count(client, "Observation") == 1
    assert "imported  " in run(settings, "--state", str(state), "--restart", str(bundle)).output
    with open_client(settings) as client:
        assert count(client, "Observation") == 2  # --restart: the operator asked for it again

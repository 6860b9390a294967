"""NDJSON imports write in batches (``Store.restore_many``): the same rows, versions, order and
errors as one resource at a time (docs/import.md). Both databases.

Spec of the restored shape: https://hl7.org/fhir/R4/resource.html#Meta,
https://hl7.org/fhir/R4/http.html#history; NDJSON:
https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-output-file-format
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from hygie.fhir.outcome import FhirError
from hygie.settings import Settings
from hygie.storage.store import Store, Version
from tests.support import open_client
from tests.transfer.test_import import count, ndjson, observation, patient, run


def _store_many(client: Any, items: list[dict[str, Any]], on_conflict: Any = "version") -> list[Any]:
    api = client.app.state.fhir_api

    def work(s: Any) -> list[Any]:
        store = Store(s, api.params)
        return list(store.restore_many([(r["resourceType"], r) for r in items], on_conflict=on_conflict))

    return api.db.run_sync(work)  # type: ignore[no-any-return]


def _shape(version: Version | None) -> Any:
    return None if version is None else (version.type, version.id, version.vid, version.method)


def test_restore_many_matches_one_at_a_time(client: Any) -> None:
    _store_many(client, [patient("old", "Ancien"), patient("same", "Pareil")])
    items = [
        patient("n1", "Un"),
        patient("old", "Nouveau"),  # exists with other content: a new version
        patient("n2", "Deux"),
        patient("same", "Pareil"),  # exists, identical: left alone
        patient("n1", "Encore"),  # the same id again in the batch: its second version
        patient("n3", "Trois", vid="7"),
    ]
    got = [_shape(v) for v in _store_many(client, items)]
    assert got == [
        ("Patient", "n1", 2, "PUT"),
        ("Patient", "old", 3, "PUT"),
        ("Patient", "n2", 2, "PUT"),
        None,
        ("Patient", "n1", 3, "PUT"),
        ("Patient", "n3", 7, "PUT"),
    ]
    page = client.get("/fhir/Patient?_count=20").json()
    assert [e["resource"]["id"] for e in page["entry"]] == ["old", "same", "n1", "n2", "n3"]  # key order
    assert client.get("/fhir/Patient/n1").json()["name"] == [{"family": "Encore"}]
    assert client.get("/fhir/Patient/n1/_history/2").json()["name"] == [{"family": "Un"}]
    history = client.get("/fhir/Patient/_history").json()["entry"]
    order = [(e["resource"]["id"], e["resource"]["meta"]["versionId"]) for e in reversed(history)]
    assert order[2:] == [("n1", "2"), ("old", "3"), ("n2", "2"), ("n1", "3"), ("n3", "7")]
    assert count(client, "Patient?name=un") == 0 and count(client, "Patient?name=encore") == 1
    assert count(client, "Patient?name=nouveau") == 1 and count(client, "Patient?name=ancien") == 0


def test_restore_many_stops_at_the_first_error_in_order(client: Any) -> None:
    _store_many(client, [patient("taken", "Avant")])
    items = [patient("a1"), patient("taken", "Autre"), {**patient("x"), "id": "bad id!"}, patient("a2")]
    api = client.app.state.fhir_api
    yielded: list[Any] = []

    def work(s: Any) -> None:
        pairs = [(r["resourceType"], r) for r in items]
        for version in Store(s, api.params).restore_many(pairs, on_conflict="error"):
            yielded.append(_shape(version))

    with pytest.raises(FhirError) as caught:
        api.db.run_sync(work)
    assert caught.value.status == 409 and yielded == [("Patient", "a1", 2, "PUT")]
    for rid in ("a1", "a2"):  # rolled back with the rest
        assert client.get(f"/fhir/Patient/{rid}").status_code == 404


def test_the_first_bad_line_is_reported_whatever_its_kind(settings: Settings, here: Path) -> None:
    assert run(settings, str(ndjson(here / "seed.ndjson", [patient("p1", "Avant")]))).exit_code == 0
    conflict_then_invalid = ndjson(
        here / "a.ndjson",
        [patient("p9"), patient("p1", "Autre"), observation("o1", "p1", status="not-a-status")],
    )
    conflict_then_broken = here / "b.ndjson"
    conflict_then_broken.write_bytes(
        orjson.dumps(patient("p8")) + b"\n" + orjson.dumps(patient("p1", "Autre")) + b"\n{not json\n"
    )
    invalid_then_conflict = ndjson(
        here / "c.ndjson",
        [patient("p7"), observation("o1", "p1", status="not-a-status"), patient("p1", "Autre")],
    )
    result = run(
        settings,
        "--on-conflict",
        "error",
        str(conflict_then_invalid),
        str(conflict_then_broken),
        str(invalid_then_conflict),
    )
    failed = [line for line in result.output.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 3, result.output
    assert "a.ndjson" in failed[0] and "line 2: 409" in failed[0]
    assert "b.ndjson" in failed[1] and "line 2: 409" in failed[1]
    assert "c.ndjson" in failed[2] and "line 2: 4" in failed[2] and "Observation.status" in failed[2]
    with open_client(settings) as client:
        for rid in ("p7", "p8", "p9"):  # never half-written
            assert client.get(f"/fhir/Patient/{rid}").status_code == 404


def test_large_file_keeps_line_order_across_batches(settings: Settings, here: Path) -> None:
    """More lines than a batch, ids and server ids interleaved: every resource stored, in line
    order (the default search order is the storage key's)."""
    lines: list[dict[str, Any]] = [patient("p0")]
    for i in range(1, 2600):
        lines.append(observation(f"o{i}" if i % 7 else None, "p0", status="final"))
    file = ndjson(here / "big.ndjson", lines)
    result = run(settings, str(file))
    assert result.exit_code == 0, result.output
    with open_client(settings) as client:
        assert count(client, "Observation?subject=Patient/p0") == 2599
        ids = []
        url: str | None = "/fhir/Observation?_count=1000&_elements=id"
        while url:
            page = client.get(url).json()
            ids.extend(e["resource"]["id"] for e in page.get("entry", []))
            url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        named = [rid for rid in ids if re.fullmatch(r"o\d+", rid)]
        assert named == [f"o{i}" for i in range(1, 2600) if i % 7]
        positions = {rid: n for n, rid in enumerate(ids)}
        servers = [rid for rid in ids if not re.fullmatch(r"o\d+", rid)]
        assert len(servers) == 2599 // 7
        # a server id sits between the named ids of the lines around it
        assert positions[servers[0]] == positions["o6"] + 1 and positions["o8"] == positions[servers[0]] + 1


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_batch_left_half_way_leaves_no_resource_without_a_version(client: Any) -> None:
    """``restore_many`` inserts the batch's new ``resource`` rows first: a caller that stops
    iterating, or catches an error and commits, must not keep rows that never got a version."""
    api = client.app.state.fhir_api
    items = [patient("h1", "Un"), patient("h2", "Deux"), patient("h3", "Trois")]

    def stop_early(s: Any) -> None:
        results = Store(s, api.params).restore_many(
            [(r["resourceType"], r) for r in items], on_conflict="error"
        )
        assert _shape(next(results)) == ("Patient", "h1", 2, "PUT")
        results.close()  # the caller stops here and commits

    api.db.run_sync(stop_early)

    def caught(s: Any) -> None:
        bad = {**patient("h5", "Cinq"), "id": "h5 not an id"}
        batch = [patient("h4", "Quatre"), bad, patient("h6", "Six")]
        with pytest.raises(FhirError):
            list(
                Store(s, api.params).restore_many(
                    [(r["resourceType"], r) for r in batch], on_conflict="error"
                )
            )
        # the caller carries on and commits what was stored before the error

    api.db.run_sync(caught)
    orphans = api.db.run_sync(
        lambda s: s.all(
            "SELECT r.id FROM resource r WHERE NOT EXISTS"
            " (SELECT 1 FROM resource_version v WHERE v.rk = r.rk) ORDER BY r.id"
        )
    )
    assert [str(row[0]) for row in orphans] == []
    assert (
        client.get("/fhir/Patient/h1").status_code == 200
        and client.get("/fhir/Patient/h4").status_code == 200
    )
    for absent in ("h2", "h3", "h6"):
        assert client.get(f"/fhir/Patient/{absent}").status_code == 404, absent

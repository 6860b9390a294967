"""The search benchmark: its 30 query shapes, the corpus duplication and the Search report table."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson

from bench import report, search
from bench.importer import BundleFile

PATIENT = "11111111-2222-4333-8444-555555555555"
ENCOUNTER = "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"


def _bundle() -> BundleFile:
    body = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": f"urn:uuid:{PATIENT}",
             "resource": {"resourceType": "Patient", "identifier": [{"value": PATIENT}],
                          "name": [{"family": "Dupré", "given": ["Léa"]}], "birthDate": "1956-08-03",
                          "address": [{"city": "Besançon"}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"fullUrl": f"urn:uuid:{ENCOUNTER}",
             "resource": {"resourceType": "Encounter", "subject": {"reference": f"urn:uuid:{PATIENT}"},
                          "period": {"start": "2018-06-07T12:00:00+00:00"}},
             "request": {"method": "POST", "url": "Encounter"}},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
             "resource": {"resourceType": "Observation", "subject": {"reference": f"urn:uuid:{PATIENT}"},
                          "encounter": {"reference": f"urn:uuid:{ENCOUNTER.lower()}"},
                          "effectiveDateTime": "2019-01-02T11:30:00Z",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}},
             "request": {"method": "POST", "url": "Observation"}},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002",
             "resource": {"resourceType": "Condition", "subject": {"reference": f"urn:uuid:{PATIENT}"},
                          "code": {"coding": [{"system": "http://snomed.info/sct", "code": "444814009"}]}},
             "request": {"method": "POST", "url": "Condition"}},
        ],
    }
    return BundleFile("tiny.json", orjson.dumps(body), 4)


def test_thirty_shapes_cover_the_public_benchmark_families() -> None:
    sample = search.sample_corpus([_bundle()])
    sample.patient_id = "p-1"
    paths = search.shapes(sample)

    assert len(paths) == 30
    assert all(p.startswith("/fhir/") for p in paths.values())
    queries = "\n".join(paths.values())
    for prefix in ("eq", "lt", "gt", "ge", "le", "sa", "eb"):
        assert f"birthdate={prefix}" in queries
    for needle in ("family:contains=", "address-city=Besan", "category=vital-signs", "subject:Patient.name=",
                   "_has:Observation:patient:code=", "_include=Encounter:patient",
                   "_revinclude=Encounter:patient", "_sort=-date", "_summary=count", "_total=none",
                   "patient=Patient/p-1", "Encounter?date=", "Observation?date="):
        assert needle in queries, needle
    assert "code=http%3A%2F%2Floinc.org%7C8302-2" in paths["Observation code"]
    assert paths["Observation date eq"] == "/fhir/Observation?date=eq2019-01-02"
    assert paths["Encounter date eq"] == "/fhir/Encounter?date=eq2018-06-07"
    assert search.PAGING_SHAPE in paths


def test_sample_takes_values_from_the_corpus() -> None:
    sample = search.sample_corpus([_bundle()])

    assert (sample.family, sample.city, sample.birthdate) == ("Dupré", "Besançon", "1956-08-03")
    assert (sample.loinc, sample.condition) == ("8302-2", "444814009")


def test_duplicated_bundle_gets_fresh_consistent_ids() -> None:
    original = _bundle()
    copies = search.scaled_bundles([original], 3)

    assert [c.name for c in copies] == ["tiny.json", "tiny.json#1", "tiny.json#2"]
    assert copies[0].body == original.body
    first, second = (orjson.loads(c.body) for c in copies[1:])
    new_patient = str(uuid.uuid5(search.copy_namespace(1), PATIENT))
    new_encounter = str(uuid.uuid5(search.copy_namespace(1), ENCOUNTER.lower()))
    assert first["entry"][0]["fullUrl"] == f"urn:uuid:{new_patient}"
    assert first["entry"][0]["resource"]["identifier"][0]["value"] == new_patient
    assert first["entry"][1]["resource"]["subject"]["reference"] == f"urn:uuid:{new_patient}"
    # upper- and lower-case spellings of one UUID map to the same new UUID
    assert first["entry"][1]["fullUrl"] == f"urn:uuid:{new_encounter}"
    assert first["entry"][2]["resource"]["encounter"]["reference"] == f"urn:uuid:{new_encounter}"
    urls = [e["fullUrl"] for doc in (orjson.loads(original.body), first, second) for e in doc["entry"]]
    assert len(set(urls)) == len(urls) == 12
    assert b"Dupr" in copies[2].body and PATIENT.encode() not in copies[2].body


def test_next_path_keeps_only_path_and_query() -> None:
    body = orjson.dumps({"resourceType": "Bundle", "link": [
        {"relation": "self", "url": "http://127.0.0.1:1/fhir/Observation?a=1"},
        {"relation": "next", "url": "http://127.0.0.1:1/fhir/Observation?_cursor=xyz&_count=50"}]})

    assert search.next_path(body) == "/fhir/Observation?_cursor=xyz&_count=50"
    assert search.next_path(b'{"resourceType": "Bundle"}') is None


def _search_result(scale: int, p50: float, ts: str) -> dict[str, object]:
    op = {"requests": 20, "ops_per_s": 1.0, "errors": 0, "statuses": {"200": 20}, "p50_ms": p50,
          "p95_ms": p50 * 2, "p99_ms": p50 * 3, "max_ms": p50 * 4, "mean_ms": p50, "matches": 7 * scale,
          "query": "/fhir/Patient?name=x"}
    summary = {**{k: v for k, v in op.items() if k not in ("matches", "query")}, "wall_s": 1.0,
               "connections": 1, "loadgen_cpu_fraction": 0.2, "per_op": {"Patient name": op}}
    return {"name": f"search-{scale}x", "db": "sqlite", "timestamp": ts, "commit": "abc123",
            "summary": summary, "server": {"cpu_fraction": 0.5}, "load": {"resources": 1000 * scale},
            "machine": {"cpu_model": "Test CPU", "cores": 2, "ram_gib": 1.0, "kernel": "6.0",
                        "python": "3.11"}}


def test_report_renders_search_table_with_growth_ratio(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "a.json").write_bytes(orjson.dumps(_search_result(1, 2.0, "2026-01-01T00:00:00+00:00")))
    (results / "b.json").write_bytes(orjson.dumps(_search_result(4, 3.0, "2026-01-01T00:01:00+00:00")))
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# T\n\n{report.START}\n{report.END}\n")

    text = report.update_doc(doc, results).read_text()

    assert "### Search (Synthea at 1× and 4×)" in text
    assert "| sqlite | 4× | 4,000 | 20 | **3.00** | 6.00 | **9.0** | 0 | 1.50 |" in text
    assert "| Patient name | 2.00 (7) | 3.00 (28) |" in text

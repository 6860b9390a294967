"""Date search parameters over HTTP — https://hl7.org/fhir/R4/search.html#date

A date value denotes a range set by its precision (``2024`` is [2024-01-01, 2025-01-01)); a Period
is the range from the start of ``start`` to the end of ``end``, unbounded on a missing side. For a
search range S and a resource range R, the prefixes of R4 search.html#prefix are:
eq "the range of the search value fully contains the range of the target value"; ne its negation;
gt "the range above the search value intersects the range of the target value"; lt "the range below
the search value intersects the range of the target value"; ge / le: gt / lt or eq; sa "does not
overlap, and the range above the search value contains the range of the target value"; eb likewise
below. Dates without a time zone are read in the server's zone — pinned to Europe/Paris by the
suite's conftest (UTC+1 until 2024-03-31, UTC+2 after). Stored ranges, in UTC:

    dat-Y  "2023"                          [2022-12-31T23:00Z, 2023-12-31T23:00Z)
    dat-M  "2024-02"                       [2024-01-31T23:00Z, 2024-02-29T23:00Z)
    dat-D  "2024-03-10"                    [2024-03-09T23:00Z, 2024-03-10T23:00Z)
    dat-S  "2024-03-10T09:00:30Z"          [09:00:30Z, 09:00:31Z) on 2024-03-10
    dat-L  "2024-03-10T23:30:00Z" instant  = 2024-03-11 00:30 in Paris
    dat-P  Period 2024-04-01 .. 2024-04-30 [2024-03-31T22:00Z, 2024-04-30T22:00Z)
    dat-O  Period start 2024-06-15, no end [2024-06-14T22:00Z, +inf)
    dat-B  Period end 2019-12-31, no start (-inf, 2019-12-31T23:00Z)
    dat-N  no effective[x]
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.support import Fhir, cases

CODE = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}


def observation(oid: str, **effective: object) -> dict[str, object]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "code": CODE, **effective}


RESOURCES: list[dict[str, Any]] = [
    observation("dat-Y", effectiveDateTime="2023"),
    observation("dat-M", effectiveDateTime="2024-02"),
    observation("dat-D", effectiveDateTime="2024-03-10"),
    observation("dat-S", effectiveDateTime="2024-03-10T09:00:30Z"),
    observation("dat-L", effectiveInstant="2024-03-10T23:30:00Z"),
    observation("dat-P", effectivePeriod={"start": "2024-04-01", "end": "2024-04-30"}),
    observation("dat-O", effectivePeriod={"start": "2024-06-15"}),
    observation("dat-B", effectivePeriod={"end": "2019-12-31"}),
    observation("dat-N"),
    {"resourceType": "Patient", "id": "dat-b1", "birthDate": "1980-05-10"},
    {"resourceType": "Patient", "id": "dat-b2", "birthDate": "1980"},
    {"resourceType": "Patient", "id": "dat-b3", "birthDate": "1980-05"},
    {"resourceType": "Patient", "id": "dat-b4"},
]

WITH_DATE = {"dat-Y", "dat-M", "dat-D", "dat-S", "dat-L", "dat-P", "dat-O", "dat-B"}

CASES: list[tuple[str, set[str]]] = [
    # Year precision, every prefix.
    ("Observation?date=2023", {"dat-Y"}),
    ("Observation?date=ne2023", {"dat-M", "dat-D", "dat-S", "dat-L", "dat-P", "dat-O", "dat-B"}),
    ("Observation?date=gt2023", {"dat-M", "dat-D", "dat-S", "dat-L", "dat-P", "dat-O"}),
    ("Observation?date=lt2023", {"dat-B"}),
    ("Observation?date=ge2023", {"dat-Y", "dat-M", "dat-D", "dat-S", "dat-L", "dat-P", "dat-O"}),
    ("Observation?date=le2023", {"dat-Y", "dat-B"}),
    ("Observation?date=sa2023", {"dat-M", "dat-D", "dat-S", "dat-L", "dat-P", "dat-O"}),
    ("Observation?date=eb2023", {"dat-B"}),
    ("Observation?date=2024", {"dat-M", "dat-D", "dat-S", "dat-L", "dat-P"}),
    ("Observation?date=ne2024", {"dat-Y", "dat-O", "dat-B"}),
    ("Observation?date=gt2024", {"dat-O"}),
    ("Observation?date=lt2024", {"dat-Y", "dat-B"}),
    ("Observation?date=ge2024", {"dat-M", "dat-D", "dat-S", "dat-L", "dat-P", "dat-O"}),
    ("Observation?date=le2024", {"dat-Y", "dat-M", "dat-D", "dat-S", "dat-L", "dat-P", "dat-B"}),
    ("Observation?date=sa2024", set()),
    ("Observation?date=eb2024", {"dat-Y", "dat-B"}),
    # Month precision; a Period is eq only when wholly inside the search range.
    ("Observation?date=2024-02", {"dat-M"}),
    ("Observation?date=2024-03", {"dat-D", "dat-S", "dat-L"}),
    ("Observation?date=ne2024-03", {"dat-Y", "dat-M", "dat-P", "dat-O", "dat-B"}),
    ("Observation?date=gt2024-03", {"dat-P", "dat-O"}),
    ("Observation?date=lt2024-03", {"dat-Y", "dat-M", "dat-B"}),
    ("Observation?date=ge2024-03", {"dat-D", "dat-S", "dat-L", "dat-P", "dat-O"}),
    ("Observation?date=le2024-03", {"dat-Y", "dat-M", "dat-D", "dat-S", "dat-L", "dat-B"}),
    ("Observation?date=sa2024-03", {"dat-P", "dat-O"}),
    ("Observation?date=eb2024-03", {"dat-Y", "dat-M", "dat-B"}),
    ("Observation?date=2024-04", {"dat-P"}),
    ("Observation?date=2024-04-15", set()),
    (
        "Observation?date=ne2024-04-15",
        {"dat-Y", "dat-M", "dat-D", "dat-S", "dat-L", "dat-P", "dat-O", "dat-B"},
    ),
    ("Observation?date=gt2024-04-15", {"dat-P", "dat-O"}),
    ("Observation?date=lt2024-04-15", {"dat-Y", "dat-M", "dat-D", "dat-S", "dat-L", "dat-P", "dat-B"}),
    # Day precision, in the server's zone: dat-L (23:30Z) is on the 11th in Paris.
    ("Observation?date=2024-03-10", {"dat-D", "dat-S"}),
    ("Observation?date=ne2024-03-10", {"dat-Y", "dat-M", "dat-L", "dat-P", "dat-O", "dat-B"}),
    ("Observation?date=gt2024-03-10", {"dat-L", "dat-P", "dat-O"}),
    ("Observation?date=lt2024-03-10", {"dat-Y", "dat-M", "dat-B"}),
    ("Observation?date=ge2024-03-10", {"dat-D", "dat-S", "dat-L", "dat-P", "dat-O"}),
    ("Observation?date=le2024-03-10", {"dat-Y", "dat-M", "dat-D", "dat-S", "dat-B"}),
    ("Observation?date=sa2024-03-10", {"dat-L", "dat-P", "dat-O"}),
    ("Observation?date=eb2024-03-10", {"dat-Y", "dat-M", "dat-B"}),
    ("Observation?date=2024-03-11", {"dat-L"}),
    # Minute precision, with and without a time zone.
    ("Observation?date=2024-03-10T10:00+01:00", {"dat-S"}),
    (
        "Observation?date=ne2024-03-10T10:00+01:00",
        {"dat-Y", "dat-M", "dat-D", "dat-L", "dat-P", "dat-O", "dat-B"},
    ),
    ("Observation?date=gt2024-03-10T10:00+01:00", {"dat-D", "dat-L", "dat-P", "dat-O"}),
    ("Observation?date=lt2024-03-10T10:00+01:00", {"dat-Y", "dat-M", "dat-D", "dat-B"}),
    ("Observation?date=ge2024-03-10T10:00+01:00", {"dat-D", "dat-S", "dat-L", "dat-P", "dat-O"}),
    ("Observation?date=le2024-03-10T10:00+01:00", {"dat-Y", "dat-M", "dat-D", "dat-S", "dat-B"}),
    ("Observation?date=sa2024-03-10T10:00+01:00", {"dat-L", "dat-P", "dat-O"}),
    ("Observation?date=eb2024-03-10T10:00+01:00", {"dat-Y", "dat-M", "dat-B"}),
    ("Observation?date=2024-03-10T10:00", {"dat-S"}),
    ("Observation?date=2024-03-10T09:00", set()),
    ("Observation?date=2024-03-10T09:00Z", {"dat-S"}),
    ("Observation?date=2024-03-11T00:30+01:00", {"dat-L"}),
    ("Observation?date=2024-03-11T00:30", {"dat-L"}),
    # Second precision: the edges of dat-S.
    ("Observation?date=2024-03-10T09:00:30Z", {"dat-S"}),
    ("Observation?date=2024-03-10T11:00:30+02:00", {"dat-S"}),
    ("Observation?date=2024-03-10T09:00:29Z", set()),
    ("Observation?date=2024-03-10T09:00:31Z", set()),
    (
        "Observation?date=ne2024-03-10T09:00:30Z",
        {"dat-Y", "dat-M", "dat-D", "dat-L", "dat-P", "dat-O", "dat-B"},
    ),
    ("Observation?date=gt2024-03-10T09:00:30Z", {"dat-D", "dat-L", "dat-P", "dat-O"}),
    ("Observation?date=ge2024-03-10T09:00:30Z", {"dat-D", "dat-S", "dat-L", "dat-P", "dat-O"}),
    ("Observation?date=lt2024-03-10T09:00:30Z", {"dat-Y", "dat-M", "dat-D", "dat-B"}),
    ("Observation?date=le2024-03-10T09:00:30Z", {"dat-Y", "dat-M", "dat-D", "dat-S", "dat-B"}),
    ("Observation?date=sa2024-03-10T09:00:30Z", {"dat-L", "dat-P", "dat-O"}),
    ("Observation?date=sa2024-03-10T09:00:29Z", {"dat-S", "dat-L", "dat-P", "dat-O"}),
    ("Observation?date=eb2024-03-10T09:00:31Z", {"dat-Y", "dat-M", "dat-S", "dat-B"}),
    ("Observation?date=eb2024-03-10T09:00:30Z", {"dat-Y", "dat-M", "dat-B"}),
    # Open Period ends reach +/- infinity.
    ("Observation?date=2030", set()),
    ("Observation?date=gt2030", {"dat-O"}),
    ("Observation?date=ge2030", {"dat-O"}),
    ("Observation?date=lt2030", {"dat-Y", "dat-M", "dat-D", "dat-S", "dat-L", "dat-P", "dat-O", "dat-B"}),
    ("Observation?date=lt2000", {"dat-B"}),
    ("Observation?date=le2000", {"dat-B"}),
    ("Observation?date=eb2020", {"dat-B"}),
    ("Observation?date=sa2019", {"dat-Y", "dat-M", "dat-D", "dat-S", "dat-L", "dat-P", "dat-O"}),
    ("Observation?date=2024-06-20", set()),
    ("Observation?date=gt2024-06-20", {"dat-O"}),
    ("Observation?date=ge2024-06-20", {"dat-O"}),
    # OR, AND, :missing
    ("Observation?date=2023,2024-02", {"dat-Y", "dat-M"}),
    ("Observation?date=2024-03-11,lt2000", {"dat-L", "dat-B"}),
    ("Observation?date=ge2024-01&date=lt2024-04", {"dat-M", "dat-D", "dat-S", "dat-L"}),
    ("Observation?date:missing=true", {"dat-N"}),
    ("Observation?date:missing=false", WITH_DATE),
    # A date element (Patient.birthDate) at three precisions.
    ("Patient?birthdate=1980-05-10", {"dat-b1"}),
    ("Patient?birthdate=1980-05", {"dat-b1", "dat-b3"}),
    ("Patient?birthdate=1980", {"dat-b1", "dat-b2", "dat-b3"}),
    ("Patient?birthdate=ne1980-05-10", {"dat-b2", "dat-b3"}),
    ("Patient?birthdate=gt1980-05-10", {"dat-b2", "dat-b3"}),
    ("Patient?birthdate=lt1980-05-10", {"dat-b2", "dat-b3"}),
    ("Patient?birthdate=ge1980-05-10", {"dat-b1", "dat-b2", "dat-b3"}),
    ("Patient?birthdate=sa1980-05-10", set()),
    ("Patient?birthdate=eb1980-05-10", set()),
    ("Patient?birthdate=sa1979", {"dat-b1", "dat-b2", "dat-b3"}),
    ("Patient?birthdate=eb1980-06", {"dat-b1", "dat-b3"}),
    ("Patient?birthdate=1980-05-10T12:00", set()),
    ("Patient?birthdate:missing=true", {"dat-b4"}),
]

# ap: "approximately the same" — the tolerance is the server's choice (10% of the gap to now is
# recommended), so only the certain members and non-members are checked.
APPROXIMATE = [
    ("Observation?date=ap2024-03-10", {"dat-D", "dat-S"}, {"dat-B", "dat-N"}),
    ("Observation?date=ap2023", {"dat-Y"}, {"dat-B", "dat-N"}),
    ("Patient?birthdate=ap1980-05-10", {"dat-b1"}, {"dat-b4"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_date_search(fhir: Fhir, query: str, expected: set[str]) -> None:
    assert fhir.ids(query) == expected


@pytest.mark.parametrize(("query", "included", "excluded"), APPROXIMATE, ids=[c[0] for c in APPROXIMATE])
def test_date_approximately(fhir: Fhir, query: str, included: set[str], excluded: set[str]) -> None:
    found = fhir.ids(query)
    assert included <= found
    assert not excluded & found

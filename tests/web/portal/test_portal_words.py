"""The portal's pure helpers: dates in words, summary lines, audit events in plain words, the
blocking Consent, measurements from Observations (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hygie.monitoring.ingest.catalogue import kind
from hygie.web.charts import Bucket, Point
from hygie.web.portal import access_words, consent, measures, summary
from hygie.web.portal.dates import fhir_date, when
from hygie.web.portal.people import concept_text, reference_of

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("value", "lang", "expected"),
    [
        ("2019", "fr", "2019"),
        ("2019-03", "fr", "mars 2019"),
        ("2019-03-05", "en", "5 March 2019"),
        ("2014-03-01", "fr", "1er mars 2014"),
        ("2014-03-01", "en", "1 March 2014"),
        ("2019-03-05", "ar", "5 مارس 2019"),
        ("2013-03-05T23:30:00+00:00", "fr", "6 mars 2013"),  # the local day, in Paris
        ("2019-02-30", "en", ""),
        ("yesterday", "en", ""),
        (None, "fr", ""),
    ],
)
def test_fhir_dates_in_words(value: Any, lang: str, expected: str) -> None:
    assert fhir_date(value, lang, PARIS) == expected


def test_times_in_words() -> None:
    at = datetime(2026, 11, 12, 13, 5, tzinfo=UTC)
    assert when(at, "fr", PARIS) == "12 novembre 2026 à 14:05"
    assert when(at, "en", PARIS) == "12 November 2026 at 14:05"
    assert when(at, "ar", PARIS) == "12 نوفمبر 2026 الساعة 14:05"


def test_words_of_concepts_and_references() -> None:
    assert concept_text({"text": " Asthme ", "coding": [{"display": "Asthma"}]}) == "Asthme"
    assert concept_text({"coding": [{"code": "x"}, {"display": "Asthma"}]}) == "Asthma"
    assert concept_text("Asthme") == ""
    assert (
        reference_of({"reference": "https://h.example/fhir/Practitioner/gp/_history/2"}) == "Practitioner/gp"
    )
    assert reference_of({"reference": "gp"}) is None
    assert reference_of({"display": "Dr X"}) is None


def test_one_treatment_line_per_medicine() -> None:
    requests = [
        {
            "medicationCodeableConcept": {"text": "METFORMINE 1000 mg"},
            "dosageInstruction": [{"text": "2/j"}],
            "requester": {"reference": "Practitioner/gp"},
            "authoredOn": "2026-10-01",
        },
    ]
    statements = [
        {"medicationCodeableConcept": {"text": "Metformine 1000 mg"}},
        {"medicationReference": {"reference": "Medication/m1"}, "dosage": [{"text": "1 le soir"}]},
    ]
    included = {"Medication/m1": {"code": {"text": "Atorvastatine 10 mg"}}}
    lines = summary.treatments(requests, statements, "en", PARIS, included)
    assert [(line.text, line.detail, line.by, line.since) for line in lines] == [
        ("Atorvastatine 10 mg", "1 le soir", None, ""),
        ("METFORMINE 1000 mg", "2/j", "Practitioner/gp", "1 October 2026"),
    ]


def test_allergies_and_vaccinations_in_words() -> None:
    allergies = summary.allergies(
        [
            {
                "code": {"text": "Pénicilline"},
                "criticality": "high",
                "reaction": [{"manifestation": [{"text": "Urticaire"}, {"text": "Œdème"}]}],
            },
            {"code": {"text": "Latex"}, "verificationStatus": {"coding": [{"code": "refuted"}]}},
            {"code": {"text": "Pollen"}, "verificationStatus": {"coding": [{"code": "unconfirmed"}]}},
        ],
        "fr",
        PARIS,
    )
    assert [(a.text, a.detail, a.tags) for a in allergies] == [
        ("Pollen", "", ("allergy_unconfirmed",)),
        ("Pénicilline", "Urticaire, Œdème", ("allergy_serious",)),
    ]
    vaccines = summary.vaccinations(
        [
            {"vaccineCode": {"text": "ROR"}, "occurrenceDateTime": "1991-04-18T09:30:00+00:00"},
            {"vaccineCode": {"text": "Grippe"}, "occurrenceDateTime": "2025-10-20T09:30:00+00:00"},
            {"vaccineCode": {"text": "Refusé"}, "status": "not-done"},
        ],
        "en",
        PARIS,
    )
    assert [(v.text, v.since) for v in vaccines] == [("Grippe", "20 October 2025"), ("ROR", "18 April 1991")]


def event(
    seq: int, minute: int, who: str | None, *, action: str = "R", client: str = "hygie-web", **extra: Any
) -> dict[str, Any]:
    """An AuditEvent shaped like hygie.auth.balp builds them."""
    agents: list[dict[str, Any]] = []
    if who:
        agents.append({"who": {"reference": who}, "altId": "login", "requestor": True})
    agents.append({"who": {"identifier": {"value": client}}, "requestor": who is None})
    agents.append({"who": {"identifier": {"value": "Hygie"}, "display": "Hygie"}, "requestor": False})
    at = (datetime(2026, 11, 12, 9, 0, tzinfo=UTC) - timedelta(minutes=minute)).isoformat()
    return {
        "resourceType": "AuditEvent",
        "id": str(seq),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": [{"code": "read"}],
        "action": action,
        "period": {"start": at},
        "recorded": at,
        "outcome": "0",
        "agent": agents,
        "entity": [{"what": {"reference": "Observation/o1"}, "role": {"code": "4"}}],
        **extra,
    }


def test_audit_events_become_grouped_plain_lines() -> None:
    events = [
        event(9, 0, "Practitioner/gp"),
        event(
            8,
            1,
            "Practitioner/gp",
            entity=[{"what": {"reference": "DocumentReference/d"}, "role": {"code": "4"}}],
        ),
        event(7, 2, "Practitioner/gp", action="U"),
        event(6, 3, "Practitioner/pb", purposeOfEvent=[{"coding": [{"code": "BTG"}], "text": "Inconscient"}]),
        event(5, 4, "Practitioner/pb", outcome="4"),
        event(4, 5, None, client="backend-1"),
        event(3, 6, "Patient/alice", client="app-42"),
        event(2, 7, "Patient/alice", type={"code": "110106"}),
        event(1, 8, "Patient/alice", type={"code": "110113"}, subtype=[{"code": "110135"}]),
    ]
    lines = access_words.grouped(events, PARIS)
    assert [(a.seq, a.actor, a.verb, a.count, a.via) for a in lines] == [
        (9, "Practitioner/gp", "view", 2, "web"),
        (7, "Practitioner/gp", "change", 1, "web"),
        (6, "Practitioner/pb", "view", 1, "web"),
        (5, "Practitioner/pb", "view", 1, "web"),
        (4, None, "view", 1, ""),
        (3, "Patient/alice", "view", 1, "app"),
        (2, "Patient/alice", "export", 1, "web"),
        (1, "Patient/alice", "privacy", 1, "web"),
    ]
    assert lines[0].what == ("documents", "results") and lines[0].first < lines[0].last
    assert lines[2].emergency and lines[2].reason == "Inconscient" and not lines[3].emergency
    assert lines[3].refused and lines[4].service == "backend-1" and lines[5].app == "app-42"
    assert access_words.span(lines[0], "en", PARIS) == ("12 November 2026 at 10:00", "09:59", "10:00")


def test_a_break_the_glass_event_is_an_emergency() -> None:
    opened = event(1, 0, "Practitioner/pb", type={"code": "110113"}, subtype=[{"code": "110127"}])
    line = access_words.access(opened)
    assert line is not None and line.verb == "emergency" and line.emergency
    assert access_words.access({**opened, "id": "x"}) is None


def test_the_block_consent_is_the_one_the_policy_reads() -> None:
    made = consent.block_consent(
        "alice", "Practitioner/gp", performer="Patient/alice", now="2026-11-12T09:00:00Z"
    )
    assert made["status"] == "active" and made["patient"] == {"reference": "Patient/alice"}
    assert made["provision"]["type"] == "deny"
    assert made["provision"]["actor"][0]["reference"] == {"reference": "Practitioner/gp"}
    assert "period" not in made["provision"] and made["performer"] == [{"reference": "Patient/alice"}]
    mine = {**made, "id": "c1"}
    nested = {
        **made,
        "id": "c2",
        "provision": {
            "type": "permit",
            "provision": [{"type": "deny", "actor": [{"reference": {"reference": "Organization/org9"}}]}],
        },
    }
    other = {**made, "id": "c3", "patient": {"reference": "Patient/bob"}}
    inactive = {**made, "id": "c4", "status": "inactive"}
    found = consent.blocks([mine, nested, other, inactive], "alice")
    assert [(b.consent, b.actors, b.ours) for b in found] == [
        ("c1", ("Practitioner/gp",), True),
        ("c2", ("Organization/org9",), False),
    ]
    assert consent.blocked(found) == {"Practitioner/gp", "Organization/org9"}


def obs(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "effectiveDateTime": "2026-11-12T08:00:00+01:00",
        **fields,
    }


def test_observations_become_readings_in_the_catalogue_unit() -> None:
    at = datetime(2026, 11, 12, 7, 0, tzinfo=UTC)
    pounds = obs(valueQuantity={"value": 160, "code": "[lb_av]"})
    assert measures.observation_point("body-weight", pounds) == Point(at, 72.57478)  # 160 lb in kg
    bp = obs(
        component=[
            {
                "code": {"coding": [{"system": measures.LOINC, "code": "8480-6"}]},
                "valueQuantity": {"value": 135, "code": "mm[Hg]"},
            },
            {
                "code": {"coding": [{"system": measures.LOINC, "code": "8462-4"}]},
                "valueQuantity": {"value": 88, "code": "mm[Hg]"},
            },
        ]
    )
    assert measures.observation_point("blood-pressure", bp) == Point(at, 135, 88)
    for skipped in (
        obs(valueSampledData={"data": "1 2"}),
        obs(valueQuantity={"value": 70, "code": "furlongs"}),
        obs(valueQuantity={"value": 70}, status="entered-in-error"),
        obs(valueQuantity={"value": 70}, effectiveDateTime="2026-11-12"),
    ):
        assert measures.observation_point("body-weight", skipped) is None
    assert all(kind(m) is not None for m in measures.MEASURES)


def test_readings_are_merged_without_counting_one_twice() -> None:
    at = datetime(2026, 11, 12, 7, 0, tzinfo=UTC)
    samples = [Point(at, 72.5), Point(at + timedelta(days=1), 72.0)]
    merged = measures.merge_points(samples, [Point(at, 72.5), Point(at + timedelta(hours=1), 73.0)])
    assert [p.value for p in merged] == [72.5, 73.0, 72.0]
    buckets = [Bucket(at, 2, 70.0, 60.0, 80.0)]
    more = measures.merge_buckets(
        buckets,
        [Point(at + timedelta(minutes=30), 100.0), Point(at + timedelta(hours=2), 50.0)],
        "hour",
        PARIS,
    )
    assert more == [Bucket(at, 3, 80.0, 60.0, 100.0), Bucket(at + timedelta(hours=2), 1, 50.0, 50.0, 50.0)]
    day = measures.bucket_start(datetime(2026, 11, 12, 23, 30, tzinfo=UTC), "day", PARIS)
    assert day == datetime(2026, 11, 12, 23, 0, tzinfo=UTC)  # midnight of the 13th in Paris


def test_a_goal_gives_the_target_range() -> None:
    goal = {
        "lifecycleStatus": "active",
        "target": [
            {
                "measure": {"coding": [{"system": measures.LOINC, "code": "59408-5"}]},
                "detailRange": {"low": {"value": 88, "code": "%"}, "high": {"value": 92, "code": "%"}},
            }
        ],
    }
    assert measures.target("spo2", [goal]) == (88, 92)
    assert measures.target("heart-rate", [goal]) is None
    assert measures.target("spo2", [{**goal, "lifecycleStatus": "completed"}]) is None

"""Pure parts of the workspace (no database): the banner's identity and INS status, the care
relationships behind the "emergency access" banner, readings of charted vital signs, search
terms, rule texts and value formats."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal
from hygie.monitoring.rules import default_rules
from hygie.web import i18n
from hygie.web.workspace.access import _grant_until, cares_directly, in_team
from hygie.web.workspace.alerts import rule_text
from hygie.web.workspace.identity import RELIABILITY, group_nir, identity
from hygie.web.workspace.readings import reading
from hygie.web.workspace.search import birth_date, criteria
from hygie.web.workspace.view import age, quantity, when

TODAY = date(2026, 11, 23)
PARIS = ZoneInfo("Europe/Paris")
GP = Principal(
    kind="professional",
    subject="acc",
    scopes=parse_scopes("user/*.cruds"),
    fhir_user="Practitioner/gp",
    organization="org1",
)


def patient(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "DUPONT", "given": ["Hélène"]}],
        **extra,
    }


def test_identity_reads_the_ins_slice_and_groups_the_nir() -> None:
    demo = identity(
        patient(
            identifier=[
                {"system": "https://hygie.dev/fhir/demo/ipp", "value": "IPP0000001"},
                {"system": "urn:oid:1.2.250.1.213.1.4.11", "value": "249063504700241"},
            ],
            gender="female",
            birthDate="1949-06-19",
        ),
        TODAY,
    )
    assert demo.ins == "2 49 06 35 047 002 41" and demo.ins_kind_key == "ws_ins_demo"
    assert demo.local_ids == ("IPP0000001",) and demo.name == "Hélène DUPONT"
    assert demo.gender_key == "ws_gender_female" and demo.age == 77
    nir = identity(patient(identifier=[{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "1"}]), TODAY)
    assert nir.ins == "1" and nir.ins_kind_key == "ws_ins_nir"  # not 15 characters: shown as given
    assert identity(patient(), TODAY).ins_kind_key == "ws_ins_none"
    assert identity(patient(gender="bogus"), TODAY).gender_key == "ws_gender_unknown"
    assert group_nir("1 49 06 35 047 002 41") == "1 49 06 35 047 002 41"


@pytest.mark.parametrize(
    ("part", "key"),
    [
        ({"url": "identityStatus", "valueCoding": {"code": "VALI"}}, "ws_idstatus_vali"),
        ({"url": "identityReliability", "valueCode": "QUAL"}, "ws_idstatus_qual"),
        ({"url": "status", "valueCodeableConcept": {"coding": [{"code": "PROV"}]}}, "ws_idstatus_prov"),
        ({"url": "validationMode", "valueCoding": {"code": "CN"}}, "ws_idstatus_unknown"),
    ],
)
def test_the_ins_status_comes_from_the_fr_core_reliability_extension(part: dict[str, Any], key: str) -> None:
    found = identity(patient(extension=[{"url": RELIABILITY, "extension": [part]}]), TODAY)
    assert found.status_key == key
    assert identity(patient(extension=[{"url": "other", "extension": [part]}]), TODAY).status_key == (
        "ws_idstatus_unknown"
    )


def test_care_relationships_behind_the_emergency_banner() -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert cares_directly(patient(generalPractitioner=[{"reference": "Practitioner/gp"}]), GP)
    assert cares_directly(patient(managingOrganization={"reference": "Organization/org1"}), GP)
    assert not cares_directly(patient(generalPractitioner=[{"reference": "Practitioner/other"}]), GP)

    def team(**extra: Any) -> dict[str, Any]:
        return {
            "resourceType": "CareTeam",
            "participant": [{"member": {"reference": "Organization/org1"}}],
            **extra,
        }

    assert in_team([team()], GP, now) and in_team([team(status="active")], GP, now)
    assert not in_team([team(status="inactive")], GP, now)
    assert not in_team([team(period={"end": "2026-11-01T00:00:00+00:00"})], GP, now)
    assert not in_team([team(period={"start": "2026-12-01T00:00:00+00:00"})], GP, now)
    assert not in_team([{"participant": [{"member": {"reference": "Practitioner/x"}}]}], GP, now)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (
            [
                {"name": "patient", "valueReference": {"reference": "Patient/p1"}},
                {"name": "until", "valueInstant": "2026-11-23T10:00:00Z"},
            ],
            ("p1", 1_795_428_000_000),
        ),
        ([{"name": "until", "valueInstant": "not a date"}], (None, None)),
        ([], (None, None)),
        (["junk", {"name": "patient"}], (None, None)),
    ],
)
def test_a_grant_read_from_the_api(parts: list[Any], expected: tuple[str | None, int | None]) -> None:
    assert _grant_until(parts) == expected


def obs(code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "effectiveDateTime": "2026-11-23T08:00:00+01:00",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        **extra,
    }


def test_charted_readings_are_converted_to_the_catalogue_unit() -> None:
    hr = reading(obs("8867-4", valueQuantity={"value": 72, "code": "/min"}))
    assert hr is not None and hr[0] == "heart-rate" and hr[1].value == 72.0
    fever = reading(obs("8310-5", valueQuantity={"value": 101.3, "code": "[degF]"}))
    assert fever is not None and round(fever[1].value, 1) == 38.5
    sugar = reading(obs("2339-0", valueQuantity={"value": 180, "code": "mg/dL"}))
    assert sugar is None  # 2339-0 is not a catalogue code: never guessed
    bp = reading(
        obs(
            "85354-9",
            component=[
                {"code": {"coding": [{"code": "8480-6"}]}, "valueQuantity": {"value": 128, "code": "mm[Hg]"}},
                {"code": {"coding": [{"code": "8462-4"}]}, "valueQuantity": {"value": 82, "code": "mm[Hg]"}},
            ],
        )
    )
    assert bp is not None and (bp[1].value, bp[1].value2) == (128.0, 82.0)
    assert reading(obs("8867-4", valueSampledData={"data": "72 73"})) is None
    assert reading(obs("8867-4", status="entered-in-error", valueQuantity={"value": 72})) is None
    assert reading(obs("8867-4", effectiveDateTime="2026-11-23", valueQuantity={"value": 72})) is None
    assert reading(obs("8867-4", valueQuantity={"value": 72, "code": "furlongs"})) is None


def test_search_terms_become_fhir_criteria() -> None:
    assert birth_date("19/06/1949") == "1949-06-19" and birth_date("1949-06-19") == "1949-06-19"
    assert birth_date("31/02/1950") is None and birth_date("1949") is None
    params, errors = criteria("Hélène  du", "1/2/2015", "2 49 06")
    assert errors == {} and params == [
        ("name", "Hélène"),
        ("name", "du"),
        ("birthdate", "2015-02-01"),
        ("identifier", "24906"),
    ]
    assert criteria("", "", "")[1] == {"name": "ws_search_empty"}
    assert criteria("", "", "a|b")[1] == {"identifier": "ws_search_identifier_error"}


def test_default_rules_read_in_every_language_and_match_the_rules_data() -> None:
    for rule in default_rules()["rules"]:
        assert rule_text(rule["id"], "fr", "") == (rule["text_fr"], "fr")
        assert rule_text(rule["id"], "en", "") == (rule["text_en"], "en")
        text, lang = rule_text(rule["id"], "ar", "")
        assert lang == "ar" and text != rule["text_en"]
    assert rule_text("goal-g1-0-low", "ar", "SpO2 sous l'objectif") == ("SpO2 sous l'objectif", "fr")
    assert i18n.has("ws_rule_news2-high")


def test_values_read_in_the_page_language() -> None:
    assert when("2026-11-23T08:05:00+00:00", "fr", PARIS) == "23 nov. 2026 09:05"
    assert when("2015-02-01", "en", PARIS) == "1 Feb 2015"
    assert when(None, "fr", PARIS) == ""
    assert quantity({"value": 1.92, "unit": "g/L"}, "fr") == "1,92 g/L"
    assert quantity({"value": 8, "unit": "%"}, "en") == "8 %"
    assert age("2008-11-24", TODAY) == 17 and age("2008-11-23", TODAY) == 18 and age("x", TODAY) is None

"""String search parameters over HTTP — https://hl7.org/fhir/R4/search.html#string

"By default, a field matches a string query if the value of the field equals or starts with the
supplied parameter value, after both have been normalized by case and accent. The :contains
modifier returns results that include the supplied parameter value anywhere within the field being
searched. The :exact modifier returns results that match the entire supplied parameter, including
casing and combining characters." HumanName and Address parameters search every part (family,
given, prefix, suffix, text; line, city, district, state, postalCode, country, text).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.support import Fhir, cases

RESOURCES: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": "str-ben1",
        "name": [{"use": "official", "family": "Dupont", "given": ["Bénédicte"], "prefix": ["Mme"]}],
        "address": [
            {
                "line": ["12 rue de la Paix"],
                "city": "Saint-Étienne",
                "postalCode": "42000",
                "country": "France",
            }
        ],
    },
    {
        "resourceType": "Patient",
        "id": "str-ben2",
        "name": [{"family": "Martin", "given": ["benedicte"]}],
        "address": [{"city": "Lyon", "postalCode": "69003"}],
    },
    {
        "resourceType": "Patient",
        "id": "str-ben3",
        "name": [{"family": "LEROY", "given": ["BENEDICTE", "Marie"]}],
    },
    {"resourceType": "Patient", "id": "str-benoit", "name": [{"family": "Bénard", "given": ["Benoît"]}]},
    {"resourceType": "Patient", "id": "str-fatima", "name": [{"family": "الفاسي", "given": ["فاطمة"]}]},
    {
        "resourceType": "Patient",
        "id": "str-multi",
        "name": [
            {"use": "official", "family": "Durand", "given": ["Jean"]},
            {"use": "maiden", "family": "Lefèvre"},
        ],
        "address": [{"city": "Paris"}, {"use": "old", "city": "Marseille"}],
    },
    {"resourceType": "Patient", "id": "str-text", "name": [{"text": "Zoé Quérel"}]},
    {
        "resourceType": "Patient",
        "id": "str-space",
        "name": [{"family": "Van der Berg", "given": ["Anne-Sophie"]}],
    },
    {"resourceType": "Patient", "id": "str-noname", "gender": "unknown"},
]

BENEDICTES = {"str-ben1", "str-ben2", "str-ben3"}
ALL = {r["id"] for r in RESOURCES}

CASES: list[tuple[str, set[str]]] = [
    # Default: starts-with, case- and accent-insensitive, on both sides.
    ("Patient?given=Bénédicte", BENEDICTES),
    ("Patient?given=benedicte", BENEDICTES),
    ("Patient?given=BENEDICTE", BENEDICTES),
    ("Patient?given=bénédicte", BENEDICTES),
    ("Patient?given=BÉNÉ", BENEDICTES),
    ("Patient?given=ben", {*BENEDICTES, "str-benoit"}),
    ("Patient?given=benoit", {"str-benoit"}),
    ("Patient?given=BENOÎT", {"str-benoit"}),
    ("Patient?given=dicte", set()),  # not at the start
    ("Patient?given=marie", {"str-ben3"}),  # second given name
    ("Patient?given=anne-s", {"str-space"}),
    ("Patient?family=dupont", {"str-ben1"}),
    ("Patient?family=Dup", {"str-ben1"}),
    ("Patient?family=leroy", {"str-ben3"}),
    ("Patient?family=benard", {"str-benoit"}),
    ("Patient?family=lefevre", {"str-multi"}),  # second HumanName of the array
    ("Patient?family=van der", {"str-space"}),
    ("Patient?family=der", set()),
    # name: every part of every HumanName.
    ("Patient?name=ben", {*BENEDICTES, "str-benoit"}),
    ("Patient?name=bena", {"str-benoit"}),  # family Bénard
    ("Patient?name=mme", {"str-ben1"}),  # prefix
    ("Patient?name=lefevre", {"str-multi"}),
    ("Patient?name=jean", {"str-multi"}),
    ("Patient?name=zoe", {"str-text"}),  # HumanName.text
    ("Patient?name=Zoé Qué", {"str-text"}),
    # Arabic: prefix search, and harakat (combining marks) are folded like accents.
    ("Patient?name=فاطمة", {"str-fatima"}),
    ("Patient?given=فاط", {"str-fatima"}),
    ("Patient?name=فَاطِمَة", {"str-fatima"}),
    ("Patient?family=الفاسي", {"str-fatima"}),
    # :exact — whole value, case- and accent-sensitive.
    ("Patient?given:exact=Bénédicte", {"str-ben1"}),
    ("Patient?given:exact=benedicte", {"str-ben2"}),
    ("Patient?given:exact=BENEDICTE", {"str-ben3"}),
    ("Patient?given:exact=bénédicte", set()),
    ("Patient?given:exact=Benedicte", set()),
    ("Patient?given:exact=Bénéd", set()),
    ("Patient?family:exact=Lefèvre", {"str-multi"}),
    ("Patient?family:exact=Lefevre", set()),
    ("Patient?name:exact=Zoé Quérel", {"str-text"}),
    ("Patient?given:exact=فاطمة", {"str-fatima"}),
    ("Patient?given:exact=فَاطِمَة", set()),
    # :contains — anywhere in the value, case- and accent-insensitive.
    ("Patient?given:contains=edic", BENEDICTES),
    ("Patient?given:contains=ÉDIC", BENEDICTES),
    ("Patient?family:contains=fèvr", {"str-multi"}),
    ("Patient?family:contains=der", {"str-space"}),
    ("Patient?name:contains=querel", {"str-text"}),
    ("Patient?name:contains=oit", {"str-benoit"}),
    ("Patient?address:contains=paix", {"str-ben1"}),
    # Address: every part of every Address.
    ("Patient?address=12 rue", {"str-ben1"}),
    ("Patient?address=paix", set()),
    ("Patient?address=saint-etienne", {"str-ben1"}),
    ("Patient?address=france", {"str-ben1"}),
    ("Patient?address=42000", {"str-ben1"}),
    ("Patient?address-city=SAINT-ÉTIENNE", {"str-ben1"}),
    ("Patient?address-city=saint", {"str-ben1"}),
    ("Patient?address-city=etienne", set()),
    ("Patient?address-city=marseille", {"str-multi"}),  # second Address of the array
    ("Patient?address-postalcode=69", {"str-ben2"}),
    ("Patient?address-country=fra", {"str-ben1"}),
    # :missing
    ("Patient?name:missing=true", {"str-noname"}),
    ("Patient?name:missing=false", ALL - {"str-noname"}),
    ("Patient?family:missing=true", {"str-text", "str-noname"}),
    ("Patient?address:missing=true", ALL - {"str-ben1", "str-ben2", "str-multi"}),
    # OR (comma) and AND (repetition; each repetition may match a different name or part).
    ("Patient?family=dupont,martin", {"str-ben1", "str-ben2"}),
    ("Patient?given=benedicte&given=marie", {"str-ben3"}),
    ("Patient?name=durand&name=lefevre", {"str-multi"}),
    ("Patient?given=benedicte&family=martin", {"str-ben2"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_string_search(fhir: Fhir, query: str, expected: set[str]) -> None:
    assert fhir.ids(query) == expected

"""Search error handling, ``_total``, ``_count=0`` and references to this server, on both backends.

Specs: https://hl7.org/fhir/R4/search.html#errors (``Prefer: handling``, the self link shows the
parameters actually applied, warnings as an entry with ``search.mode = outcome``),
https://hl7.org/fhir/R4/http.html (``Prefer``), https://hl7.org/fhir/R4/search.html#total,
https://hl7.org/fhir/R4/search.html#count (``_count=0`` is treated as ``_summary=count``),
https://hl7.org/fhir/R4/search.html#reference (absolute references to this server are local).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.testclient import TestClient

from tests.api.support import put_all

H = {"content-type": "application/fhir+json"}
LENIENT = {"prefer": "handling=lenient"}
FOREIGN = "http://elsewhere.org/fhir"


def bundle_of(client: TestClient, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = client.get(url, headers=headers)
    assert r.status_code == 200, f"{url}: {r.text}"
    body: dict[str, Any] = r.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    return body


def matches(bundle: dict[str, Any]) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"}


def outcomes(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]


def link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((lk["url"] for lk in bundle["link"] if lk["relation"] == relation), None)


def params(url: str | None) -> list[tuple[str, str]]:
    assert url is not None
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def patients(client: TestClient) -> None:
    put_all(
        client,
        [
            {"resourceType": "Patient", "id": "p1", "gender": "male", "name": [{"family": "Martin"}]},
            {"resourceType": "Patient", "id": "p2", "gender": "female", "name": [{"family": "Durand"}]},
            {"resourceType": "Patient", "id": "p3", "gender": "male", "name": [{"family": "Marchand"}]},
            {
                "resourceType": "Observation",
                "id": "o1",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"reference": "Patient/p1"},
            },
        ],
    )


ALL = {"p1", "p2", "p3"}

# (query, matches under lenient handling, ignored parameter names, self-link parameter names)
LENIENT_CASES: list[tuple[str, set[str], list[str], list[str]]] = [
    ("Patient?family=mar&foo=bar", {"p1", "p3"}, ["foo"], ["family"]),
    ("Patient?name:sounds=mar&gender=male", {"p1", "p3"}, ["name:sounds"], ["gender"]),
    ("Patient?birthdate=yesterday&family=dur", {"p2"}, ["birthdate"], ["family"]),
    ("Patient?gender:bogus=male", ALL, ["gender:bogus"], []),
    ("Patient?_bogus=1&unknown=2&gender=female", {"p2"}, ["_bogus", "unknown"], ["gender"]),
    ("Patient?family=martin,durand", {"p1", "p2"}, [], ["family"]),
    ("Patient?general-practitioner=Practitioner/a/b/c", ALL, ["general-practitioner"], []),
]


def test_lenient_ignores_what_it_cannot_apply(client: TestClient) -> None:
    patients(client)
    for query, expected, ignored, applied in LENIENT_CASES:
        bundle = bundle_of(client, f"/fhir/{query}", LENIENT)
        assert matches(bundle) == expected, query
        assert bundle["total"] == len(expected), query
        self_names = [k for k, _ in params(link(bundle, "self"))]
        assert self_names == applied, query
        found = outcomes(bundle)
        if not ignored:
            assert found == [], query
            continue
        assert len(found) == 1, query
        issues = found[0]["issue"]
        assert [i["severity"] for i in issues] == ["warning"] * len(ignored), query
        for issue, name in zip(issues, ignored, strict=True):
            assert name in issue["diagnostics"] and "handling=lenient" in issue["diagnostics"], query


def test_strict_is_the_default_and_names_the_parameter(client: TestClient) -> None:
    patients(client)
    for query, _, ignored, _ in LENIENT_CASES:
        if not ignored:
            continue
        for headers in ({}, {"prefer": "handling=strict"}, {"prefer": "handling=whatever"}):
            r = client.get(f"/fhir/{query}", headers=headers)
            assert r.status_code == 400, (query, headers, r.text)
            body = r.json()
            assert body["resourceType"] == "OperationOutcome"
            assert ignored[0] in body["issue"][0]["diagnostics"], (query, body)


def test_lenient_prefer_forms_post_paging_and_count(client: TestClient) -> None:
    patients(client)
    for prefer in ("handling=lenient", "return=minimal, handling=lenient", 'HANDLING="lenient"'):
        bundle = bundle_of(client, "/fhir/Patient?gender=male&zz=1", {"prefer": prefer})
        assert matches(bundle) == {"p1", "p3"}, prefer
    # POST [type]/_search (form-encoded) honours the header too.
    r = client.post(
        "/fhir/Patient/_search",
        content=urlencode([("family", "dur"), ("zz", "1")]),
        headers={"content-type": "application/x-www-form-urlencoded", **LENIENT},
    )
    assert r.status_code == 200, r.text
    assert matches(r.json()) == {"p2"}
    assert [k for k, _ in params(link(r.json(), "self"))] == ["family"]
    # Paging links carry only the applied parameters.
    bundle = bundle_of(client, "/fhir/Patient?zz=1&_count=1&_sort=family", LENIENT)
    assert matches(bundle) == {"p2"} and bundle["total"] == 3
    assert [k for k, _ in params(link(bundle, "next"))] == ["_count", "_sort", "_page"]
    # _summary=count and _count=0 with an ignored parameter: the total and the warning.
    for extra in ("_summary=count", "_count=0"):
        bundle = bundle_of(client, f"/fhir/Patient?gender=male&zz=1&{extra}", LENIENT)
        assert bundle["total"] == 2 and matches(bundle) == set(), extra
        assert len(outcomes(bundle)) == 1 and "zz" in outcomes(bundle)[0]["issue"][0]["diagnostics"]
        assert "zz" not in [k for k, _ in params(link(bundle, "self"))], extra
    # A compartment search goes through the same code.
    bundle = bundle_of(client, "/fhir/Patient/p1/Observation?zz=1&code=8867-4", LENIENT)
    assert matches(bundle) == {"o1"}
    assert [k for k, _ in params(link(bundle, "self"))] == ["code"]
    assert client.get("/fhir/Patient/p1/Observation?zz=1").status_code == 400


# (query suffix, total expected in the Bundle or None for no total)
TOTAL_CASES: list[tuple[str, int | None]] = [
    ("", 3),
    ("&_total=accurate", 3),
    ("&_total=estimate", 3),
    ("&_total=none", None),
    ("&_total=none&_summary=count", 3),
    ("&_total=accurate&gender=male", 2),
    ("&_total=none&gender=female", None),
]


def test_total_modes(client: TestClient) -> None:
    patients(client)
    for suffix, expected in TOTAL_CASES:
        bundle = bundle_of(client, f"/fhir/Patient?_count=1{suffix}")
        assert bundle.get("total") == expected, suffix
    for bad in ("exact", "", "NONE", "accurate,none"):
        r = client.get("/fhir/Patient", params={"_total": bad})
        assert r.status_code == 400, bad
        assert "_total" in r.json()["issue"][0]["diagnostics"], bad


def test_count_zero_is_a_count_only_answer(client: TestClient) -> None:
    patients(client)
    for query, total in (
        ("Patient?_count=0", 3),
        ("Patient?_count=0&gender=male", 2),
        ("Patient?_count=0&family=nobody", 0),
        ("Patient?_count=0&_offset=2&_sort=family", 3),
        ("Patient?_count=0&_total=none", 3),
        ("Patient?_count=0&_include=Patient:general-practitioner", 3),
    ):
        bundle = bundle_of(client, f"/fhir/{query}")
        assert bundle["total"] == total, query
        assert "entry" not in bundle, query
        assert [lk["relation"] for lk in bundle["link"]] == ["self"], query
        assert ("_count", "0") in params(link(bundle, "self")), query
    r = client.post(
        "/fhir/Patient/_search",
        content="_count=0&gender=female",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and r.json()["total"] == 1 and "entry" not in r.json()


def reference_data(client: TestClient, base: str) -> None:
    def obs(oid: str, ref: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": ref},
        }

    put_all(
        client,
        [
            {"resourceType": "Patient", "id": "p1"},
            {"resourceType": "Patient", "id": "p2"},
            obs("rel", "Patient/p1"),
            obs("rel-v", "Patient/p1/_history/1"),
            obs("abs", f"{base}/Patient/p1"),
            obs("abs-v", f"{base}/Patient/p1/_history/1"),
            obs("foreign", f"{FOREIGN}/Patient/p1"),
            obs("lookalike", f"{base}x/Patient/p1"),
            obs("other", "Patient/p2"),
        ],
    )


LOCAL_P1 = {"rel", "rel-v", "abs", "abs-v"}

# (search value of Observation.subject with {base} = this server, {foreign} = another one; matches)
REFERENCE_CASES: list[tuple[str, str, set[str]]] = [
    ("subject", "Patient/p1", LOCAL_P1),
    ("subject", "p1", LOCAL_P1),
    ("subject:Patient", "p1", LOCAL_P1),
    ("patient", "p1", LOCAL_P1),
    ("subject", "{base}/Patient/p1", LOCAL_P1),
    ("subject", "{base}/Patient/p1/_history/1", LOCAL_P1),
    ("subject", "Patient/p1/_history/1", LOCAL_P1),
    ("subject", "{base}/Patient/p1,Patient/p2", LOCAL_P1 | {"other"}),
    ("subject", "{base}/Patient/p2", {"other"}),
    ("subject", "{base}/Patient/p9", set()),
    ("subject", "{foreign}/Patient/p1", {"foreign"}),
    ("subject", "{foreign}/Patient/p2", set()),
    ("subject", "{base}x/Patient/p1", {"lookalike"}),
    ("subject:missing", "false", LOCAL_P1 | {"foreign", "lookalike", "other"}),
]


def test_references_to_this_server_are_local(client: TestClient) -> None:
    base = link(bundle_of(client, "/fhir/Patient"), "self")
    assert base is not None and base.endswith("/fhir/Patient")
    base = base.removesuffix("/Patient")
    reference_data(client, base)
    for name, value, expected in REFERENCE_CASES:
        text = value.replace("{base}", base).replace("{foreign}", FOREIGN)
        bundle = bundle_of(client, "/fhir/Observation?" + urlencode({name: text}))
        assert matches(bundle) == expected, (name, text)
    # Conditional create resolves its criteria the same way (search.html#reference).
    r = client.post(
        "/fhir/Observation",
        json={"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
        headers={**H, "if-none-exist": urlencode({"subject": f"{base}/Patient/p2"})},
    )
    assert r.status_code == 200, r.text

"""Full-text search ``_text`` and ``_content`` on both backends.

Spec: https://hl7.org/fhir/R4/search.html#text and https://hl7.org/fhir/R4/search.html#content

French stemming (Snowball French: in Python for SQLite FTS5, PostgreSQL's ``french`` configuration),
accent and case folding on both sides, narrative versus whole content, AND / OR / phrases,
updates and deletions, and hostile query strings that must never reach the engines as syntax.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from hygie.search import fulltext
from hygie.storage.database import open_database
from tests.api.support import put_all, search_ids

H = {"content-type": "application/fhir+json"}


def _narrative(xhtml: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{xhtml}</div>'}


def _condition(cid: str, xhtml: str | None, note: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
    }
    if xhtml is not None:
        res["text"] = _narrative(xhtml)
    if note is not None:
        res["note"] = [{"text": note}]
    return res


RESOURCES: list[dict[str, Any]] = [
    _condition("c1", "<p>Hypertension <b>artérielle</b> sévère</p>"),
    _condition("c2", "Patient diabétique, obèse &amp; sédentaire"),
    _condition("c3", "Fièvre", note="Insuffisance rénale chronique"),
    _condition("c4", "Allergie &agrave; la p&eacute;nicilline&#160;: urticaire"),
    {
        "resourceType": "Patient",
        "id": "p1",
        "text": _narrative("<p>Bénédicte <b>Lefèvre</b></p><!-- hypertension -->"),
        "name": [{"family": "Lefèvre", "given": ["Bénédicte"]}],
    },
    {
        "resourceType": "Patient",
        "id": "p2",
        "text": _narrative("مرض السكري"),
        "name": [{"family": "Haddad"}],
    },
    {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}], "text": "Douleur"},
        "subject": {"reference": "Patient/p1"},
        "valueString": "Douleurs thoraciques irradiant au bras gauche",
        "effectiveDateTime": "2024-03-05T10:00:00Z",
    },
]

# (query, expected ids): each line one case of the table.
CASES: list[tuple[str, set[str]]] = [
    # French stemming and accent folding, both ways
    ("Condition?_text=arterielles", {"c1"}),
    ("Condition?_text=ARTÉRIEL", {"c1"}),
    ("Condition?_text=hypertension", {"c1"}),
    ("Condition?_text=diabete", {"c2"}),
    ("Condition?_text=diabétiques", {"c2"}),
    ("Condition?_text=obese", {"c2"}),
    ("Condition?_text=sedentaires", {"c2"}),
    ("Condition?_text=fievres", {"c3"}),
    ("Condition?_text=pénicilline", {"c4"}),  # entities decoded in the narrative
    ("Condition?_text=penicilline urticaire", {"c4"}),
    ("Patient?_text=benedicte", {"p1"}),
    ("Patient?_text=BÉNÉDICTE", {"p1"}),
    ("Patient?_text=lefevre", {"p1"}),  # inline tags stripped
    ("Patient?_text=السُّكَّري", {"p2"}),  # Arabic marks folded
    # markup that is not text is not indexed
    ("Patient?_text=hypertension", set()),
    ("Patient?_text=xmlns", set()),
    # narrative versus whole content
    ("Condition?_text=renale", set()),
    ("Condition?_content=rénales", {"c3"}),
    ("Condition?_content=insuffisance renale", {"c3"}),
    ("Condition?_content=arterielle", {"c1"}),  # the narrative is part of the content
    ("Observation?_text=douleur", set()),
    ("Observation?_content=douleur thoracique", {"o1"}),
    ("Observation?_content=gauches", {"o1"}),
    ("Patient?_content=haddad", {"p2"}),
    # ids, URLs, systems and dates are not text
    ("Observation?_content=loinc", set()),
    ("Observation?_content=o1", set()),
    ("Observation?_content=2024", set()),
    ("Condition?_content=snomed", set()),
    # AND, OR, comma, parentheses, phrases
    ("Condition?_text=hypertension diabete", set()),
    ("Condition?_text=hypertension AND severe", {"c1"}),
    ("Condition?_text=hypertension OR diabete", {"c1", "c2"}),
    ("Condition?_text=hypertension,diabete", {"c1", "c2"}),
    ("Condition?_text=(fievre OR diabete) and obese", {"c2"}),
    ("Condition?_text=(fievre OR diabete) sedentaire OR urticaire", {"c2", "c4"}),
    ('Condition?_text="artérielle sévère"', {"c1"}),
    ('Condition?_text="sévère artérielle"', set()),
    ("Condition?_text=arterielle&_text=severe", {"c1"}),  # repeated parameter: AND
    ("Condition?_text=arterielle&_text=diabete", set()),
    ("Condition?_text=or", set()),  # lower-case "or" is a word, not an operator
    # full text in chains and combined with other parameters
    ("Observation?subject:Patient._text=benedicte", {"o1"}),
    ("Condition?_text=fievre&_id=c3", {"c3"}),
    ("Condition?_text=fievre&_id=c1", set()),
]


def test_fulltext_table(client: TestClient) -> None:
    put_all(client, RESOURCES)
    failures = [(q, want, got) for q, want in CASES if (got := search_ids(client, q)) != want]
    assert failures == []


def test_updates_replace_text_and_deletes_remove_it(client: TestClient) -> None:
    put_all(client, [_condition("u1", "Pneumonie", note="toux")])
    assert search_ids(client, "Condition?_text=pneumonie") == {"u1"}
    put_all(client, [_condition("u1", "Bronchite", note="dyspnée")])
    assert search_ids(client, "Condition?_text=pneumonie") == set()
    assert search_ids(client, "Condition?_content=toux") == set()
    assert search_ids(client, "Condition?_text=bronchite") == {"u1"}
    assert search_ids(client, "Condition?_content=dyspnee") == {"u1"}
    put_all(client, [_condition("u1", None, note="dyspnée")])  # narrative removed
    assert search_ids(client, "Condition?_text=bronchite") == set()
    assert search_ids(client, "Condition?_content=dyspnee") == {"u1"}
    assert client.delete("/fhir/Condition/u1").status_code in (200, 204)
    assert search_ids(client, "Condition?_content=dyspnee") == set()
    put_all(client, [_condition("u1", "Bronchite")])  # back to life after the deletion
    assert search_ids(client, "Condition?_text=bronchites") == {"u1"}


def test_transaction_writes_text_in_the_same_unit(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": _condition(f"t{i}", f"Asthme numéro{i}"),
                "request": {"method": "PUT", "url": f"Condition/t{i}"},
            }
            for i in range(120)  # enough rows for the bulk (COPY) path on PostgreSQL
        ],
    }
    resp = client.post("/fhir", json=bundle, headers=H)
    assert resp.status_code == 200, resp.text
    found = search_ids(client, "Condition?_text=asthmes&_count=200")
    assert isinstance(found, set) and len(found) == 120
    assert search_ids(client, "Condition?_text=numero7") == {"t7"}


HOSTILE = [
    '"',
    "*",
    "(",
    ")",
    ":",
    "&",
    "|",
    "!",
    "'",
    "-",
    "^",
    "\\",
    "{}",
    "AND",
    "OR",
    "NEAR",
    "NEAR(fievre hypertension, 5)",
    'fievre"',
    '"fievre',
    "fievre*",
    "narrative:fievre",
    "content : fievre",
    "fievre & !hypertension",
    "fievre | hypertension",
    "fievre' | 'x",
    "'); DROP TABLE resource; --",
    "((((((((((((fievre",
    "fievre)))))",
    "fievre:*",
    "fievre <-> x",
    "+fievre -hypertension",
    "la de le",  # French stop words only: dropped by PostgreSQL, searched by SQLite
]


@pytest.mark.parametrize("param", ["_text", "_content"])
def test_hostile_strings_never_fail(client: TestClient, param: str) -> None:
    put_all(client, [_condition("h1", "Fièvre")])
    statuses: dict[str, int] = {}
    for value in HOSTILE:
        resp = client.get("/fhir/Condition", params={param: value})
        statuses[value] = resp.status_code
        if resp.status_code == 400:
            assert resp.json()["resourceType"] == "OperationOutcome"
            assert param in resp.text
    assert all(code in (200, 400) for code in statuses.values()), statuses
    wordless = {v for v in HOSTILE if not fulltext.words(v) or v in ("AND", "OR")}
    too_deep = {"((((((((((((fievre"}  # more parentheses than MAX_DEPTH
    assert {v for v, code in statuses.items() if code == 400} == wordless | too_deep
    # words survive the punctuation around them: the fever is found
    assert search_ids(client, f"Condition?{param}=fievre%22") == {"h1"}
    assert search_ids(client, f"Condition?{param}=fievre%2A") == {"h1"}
    assert search_ids(client, f"Condition?{param}=%22fievre") == {"h1"}


def test_limits_and_modifiers_are_400(client: TestClient) -> None:
    too_many = " ".join(f"w{i}" for i in range(fulltext.MAX_PHRASES + 1))
    for query in (
        "Condition?_text:exact=fievre",
        "Condition?_content:missing=true",
        f"Condition?_text={too_many}",
        f"Condition?_content={'x' * (fulltext.MAX_VALUE + 1)}",
    ):
        resp = client.get(f"/fhir/{query}")
        assert resp.status_code == 400, query
        assert resp.json()["resourceType"] == "OperationOutcome"


def test_query_uses_the_fulltext_index(database_url: str) -> None:
    db = open_database(database_url)
    try:
        db.upgrade()
        query = fulltext.parse("content", ["fievre"])
        if db.dialect == "sqlite":
            sql = f"EXPLAIN QUERY PLAN SELECT r.rk FROM resource r WHERE r.rk IN ({fulltext.SQL})"
            plan = " ".join(str(row) for row in db.run_sync(lambda s: s.all(sql, [query.render("sqlite")])))
            assert "VIRTUAL TABLE INDEX" in plan, plan
        else:
            sql = f"EXPLAIN SELECT r.rk FROM resource r WHERE r.rk IN ({fulltext.SQL})"
            rows = db.run_sync(lambda s: s.all(sql, [query.render("postgresql")]))
            plan = " ".join(str(row[0]) for row in rows)
            assert "fulltext_doc_gin" in plan, plan  # the SQL function is inlined
    finally:
        db.close()


def test_documents_and_queries_unit() -> None:
    assert fulltext.words("Hyper-Tension ARTÉRIELLE, œdème") == ["hyper", "tension", "arterielle", "oedeme"]
    assert fulltext.stem("arterielles") == fulltext.stem("arterielle")
    assert fulltext.narrative_text("<div>a&lt;b <!-- c --> <i>d</i></div>").split() == ["a<b", "d"]
    cond = _condition("x", "Artérielles", note="Rénale")
    for dialect, expected in (("sqlite", ("arteriel", "renal")), ("postgresql", ("arterielles", "renale"))):
        row = fulltext.index_row(cond, dialect)
        assert row is not None and row[0] == expected[0]
        assert sorted(row[1].split()) == ["38341003", expected[1]]  # codes are text, the system is not
    assert fulltext.index_row({"resourceType": "Basic", "id": "x"}, "sqlite") is None
    big = {"resourceType": "Basic", "note": [{"text": "mot " * 10_000}]}
    content = fulltext.content_strings(big)
    assert sum(len(s) for s in content) <= fulltext.CONTENT_CAP
    q = fulltext.parse("text", ['"a b" OR c', "d"])
    assert q.render("sqlite") == 'narrative : ((("a b" OR "c") OR "d"))'
    assert q.render("postgresql") == "((('a':A <-> 'b':A) | ('c':A)) | ('d':A))"
    with pytest.raises(fulltext.QueryError):
        fulltext.parse("content", ["* ( ) !"])

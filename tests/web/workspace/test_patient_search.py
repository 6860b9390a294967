"""Patient search in the workspace (both databases): accent- and case-insensitive names, birth
date, identifier (INS written with spaces); terms are posted, never put in a URL; patients outside
the professional's care are never found."""

from __future__ import annotations

import re

from hygie.settings import Settings
from tests.security.smart_support import installation
from tests.web.support import form_fields, login, put_resources

INS = "urn:oid:1.2.250.1.213.1.4.11"


def _people() -> list[dict[str, object]]:
    gp = [{"reference": "Practitioner/gp"}]
    return [
        {
            "resourceType": "Patient",
            "id": "alice",
            "generalPractitioner": gp,
            "birthDate": "1949-06-19",
            "name": [{"family": "Dupont", "given": ["Hélène"]}],
            "identifier": [{"system": INS, "value": "249063504700241"}],
        },
        {
            "resourceType": "Patient",
            "id": "charlie",
            "generalPractitioner": gp,
            "birthDate": "2015-02-01",
            "name": [{"family": "Lefèvre", "given": ["Éloïse"]}],
        },
        {
            "resourceType": "Patient",
            "id": "bob",
            "birthDate": "1949-06-19",
            "name": [{"family": "Dupont", "given": ["Hélène"]}],
        },  # the same name, another GP
    ]


def _found(page: str) -> list[str]:
    if 'id="search-results"' not in page:
        return []
    table = page[
        page.index('id="search-results"') : page.index("</table>", page.index('id="search-results"'))
    ]
    return re.findall(r'<a href="/workspace/patient/([^"]+)">', table)


def test_names_are_found_without_accents_or_capitals(settings: Settings) -> None:
    with installation(settings) as inst:
        put_resources(inst, *_people())
        login(inst, "drmartin", lang="en")
        form = inst.http.get("/workspace/search")
        assert form.status_code == 200 and 'id="search-results"' not in form.text
        fields = form_fields(form.text, "/workspace/search")

        def search(**terms: str) -> list[str]:
            answer = inst.http.post("/workspace/search", data={**fields, **terms})
            assert answer.status_code == 200, answer.text[:300]
            assert str(answer.url).endswith("/workspace/search")  # no term in the URL
            return _found(answer.text)

        assert search(name="helene") == ["alice"]  # Hélène, not bob's (another GP)
        assert search(name="HELENE dup") == ["alice"]
        assert search(name="eloise LEFEVRE") == ["charlie"]
        assert search(name="lef") == ["charlie"]
        assert search(name="zoe") == []
        assert search(birthdate="19/06/1949") == ["alice"]
        assert search(birthdate="1949-06-19", name="hel") == ["alice"]
        assert search(identifier="2 49 06 35 047 002 41") == ["alice"]
        none = inst.http.post("/workspace/search", data={**fields, "name": "zoe"})
        assert 'id="no-results"' in none.text


def test_bad_or_empty_terms_are_explained(settings: Settings) -> None:
    with installation(settings) as inst:
        login(inst, "drmartin", lang="en")
        fields = form_fields(inst.http.get("/workspace/search").text, "/workspace/search")
        empty = inst.http.post("/workspace/search", data=fields)
        assert empty.status_code == 400 and "Enter a name, a date of birth or an identifier." in empty.text
        date = inst.http.post("/workspace/search", data={**fields, "birthdate": "31/02/1950"})
        assert date.status_code == 400 and 'aria-invalid="true"' in date.text
        assert 'value="31/02/1950"' in date.text  # kept in the form to be corrected
        long = inst.http.post("/workspace/search", data={**fields, "name": "a b c d e f"})
        assert long.status_code == 400
        forged = inst.http.post("/workspace/search", data={"name": "helene"})
        assert forged.status_code == 403  # no CSRF token


def test_a_record_number_opens_the_chart(settings: Settings) -> None:
    with installation(settings) as inst:
        login(inst, "drmartin", lang="en")
        fields = form_fields(inst.http.get("/workspace/search").text, "/workspace/open")
        opened = inst.http.post(
            "/workspace/open", data={**fields, "record": " alice "}, follow_redirects=False
        )
        assert opened.status_code == 303 and opened.headers["location"] == "/workspace/patient/alice"
        bad = inst.http.post("/workspace/open", data={**fields, "record": "../fhir/Patient"})
        assert bad.status_code == 400 and "Invalid record number" in bad.text

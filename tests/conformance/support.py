"""HTTP helpers of the search conformance suite — https://hl7.org/fhir/R4/search.html

A :class:`Fhir` talks to one live ``hygie serve`` over HTTP (httpx, nothing in-process). Every
module of the suite loads its own small dataset with :meth:`Fhir.load` (one transaction Bundle of
``PUT Type/id`` entries, https://hl7.org/fhir/R4/http.html#transaction) and every resource of it
carries the module's scope tag in ``meta.tag``. The modules share one server per backend (a server
start costs ~2 s), so :meth:`Fhir.search` ANDs ``_tag=<scope>`` to every query: a module only ever
sees its own resources, whatever the other modules loaded. Repeating a parameter is an AND
(https://hl7.org/fhir/R4/search.html#combining), so the scope never changes what a case means.

Queries are written as in the spec, ``"Patient?name=ben&gender=female"``: the text after ``?`` is
split on ``&`` and on the first ``=`` of each pair, and httpx percent-encodes the values (``+`` of
a time zone, ``|``, ``\\``, non-ASCII) the way any client would.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

SCOPE_SYSTEM = "urn:hygie:conformance"
FHIR_JSON = "application/fhir+json"


def split_query(query: str) -> tuple[str, list[tuple[str, str]]]:
    """``"Patient?a=1&b=2"`` → ``("Patient", [("a", "1"), ("b", "2")])``."""
    path, _, text = query.partition("?")
    pairs: list[tuple[str, str]] = []
    for item in text.split("&") if text else []:
        name, _, value = item.partition("=")
        pairs.append((name, value))
    return path, pairs


class Fhir:
    """The FHIR base of a live server, scoped to one module's dataset."""

    def __init__(self, base: str, scope: str) -> None:
        self.base = base
        self.scope = scope
        self.http = httpx.Client(timeout=30.0, headers={"Accept": FHIR_JSON})

    @property
    def scope_param(self) -> tuple[str, str]:
        return ("_tag", f"{SCOPE_SYSTEM}|{self.scope}")

    def close(self) -> None:
        self.http.close()

    def tagged(self, resource: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``resource`` with the scope tag added to its ``meta.tag``."""
        tagged = copy.deepcopy(resource)
        meta = tagged.setdefault("meta", {})
        meta["tag"] = [*meta.get("tag", []), {"system": SCOPE_SYSTEM, "code": self.scope}]
        return tagged

    def load(self, resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Store ``resources`` (each with an ``id``) in one transaction; returns them as stored."""
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": f"{self.base}/{r['resourceType']}/{r['id']}",
                    "resource": self.tagged(r),
                    "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
                }
                for r in resources
            ],
        }
        response = self.http.post(
            self.base,
            content=orjson.dumps(bundle),
            headers={"Content-Type": FHIR_JSON, "Prefer": "return=representation"},
        )
        assert response.status_code == 200, response.text
        stored: dict[str, dict[str, Any]] = {}
        for entry in response.json()["entry"]:
            assert entry["response"]["status"].startswith(("200", "201")), entry
            resource = entry.get("resource")
            if resource is not None:
                stored[f"{resource['resourceType']}/{resource['id']}"] = resource
        return stored

    def get(
        self, query: str, *, scoped: bool = True, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """``GET [base]/query`` (with the scope tag ANDed unless ``scoped`` is False)."""
        path, params = split_query(query.replace("{base}", self.base))
        if scoped:
            params.append(self.scope_param)
        return self.http.get(f"{self.base}/{path}", params=tuple(params), headers=headers)

    def post_search(self, query: str) -> httpx.Response:
        """``POST [base]/[type]/_search`` with the criteria form-encoded (scope tag ANDed)."""
        path, params = split_query(query)
        params.append(self.scope_param)
        return self.http.post(
            f"{self.base}/{path}/_search",
            content=urlencode(params),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def bundle(self, query: str) -> dict[str, Any]:
        """The searchset Bundle of a scoped search that must succeed."""
        response = self.get(query)
        assert response.status_code == 200, f"{query}: {response.status_code} {response.text[:500]}"
        bundle: dict[str, Any] = response.json()
        assert bundle["resourceType"] == "Bundle"
        assert bundle["type"] == "searchset"
        return bundle

    def ids(self, query: str) -> set[str]:
        """Logical ids of the matches of a scoped search (all on one page)."""
        bundle = self.bundle(query)
        relations = {link["relation"] for link in bundle.get("link", [])}
        assert "next" not in relations, f"{query}: the dataset must fit on one page"
        entries = bundle.get("entry", [])
        assert all(e["search"]["mode"] == "match" for e in entries), entries
        found = [e["resource"]["id"] for e in entries]
        assert len(found) == len(set(found)), f"{query}: duplicate entries {found}"
        return set(found)


def cases(table: list[tuple[str, set[str]]]) -> list[Any]:
    """``pytest.param`` list of a (query, expected ids) table, each id being its query."""
    queries = [query for query, _ in table]
    assert len(queries) == len(set(queries)), "a query is listed twice in the table"
    return [pytest.param(query, expected, id=query) for query, expected in table]

"""The leak suite's harness: load the world, mint a token per role, call the API, scan answers.

Tokens are minted with the server's own keys and issuer (:func:`hygie.auth.tokens.issue`), as
the authorization server will; break-the-glass grants are rows of ``btg_grant``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from hygie.app import create_app
from hygie.auth.keys import Keys, load_keys
from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal, issue
from hygie.settings import Settings
from hygie.storage.database import open_database
from tests.conftest import BACKEND_PARAMS, fresh_database_url
from tests.security.leak_roles import GRANTS, ROLES, Role
from tests.security.leak_world import Item, World
from tests.support import operator_header

JSON = "application/fhir+json"
FORM = "application/x-www-form-urlencoded"
ITERATE_LEVELS = 3  # hygie.search.include.ITERATE_LEVELS


@pytest.fixture(scope="module", name="database_url", params=BACKEND_PARAMS)
def leak_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend for the read-only tests of a module (loaded once), overriding
    tests/conftest.py's ``database_url`` in the modules that import it (same parameter ids)."""
    yield from fresh_database_url(request, request.param, tmp_path_factory.mktemp("leaks"))


@pytest.fixture(scope="module", name="probe")
def leak_probe(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    with open_world(database_url, tmp_path_factory.mktemp("keys")) as opened:
        yield opened


@pytest.fixture(name="fresh")
def fresh_world(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Probe]:
    """A new database of the same backend with the world loaded (for tests that write)."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    for url in fresh_database_url(request, backend, tmp_path):
        with open_world(url, tmp_path / "keys") as opened:
            yield opened


def check(problems: list[str], probe: Probe) -> None:
    problems.extend(probe.leaks)
    probe.leaks.clear()
    assert not problems, "\n".join(problems[:60])


def absent_like(
    probe: Probe, role: Role, method: str, url: str, absent_url: str, hidden_id: str
) -> str | None:
    """None when ``url`` (naming a hidden resource) answers exactly like ``absent_url``."""
    got = probe.call(role, method, url)
    status, ref_text = probe.reference(role, method, absent_url)
    text, ref_text = got.text.replace(hidden_id, "ID"), ref_text.replace("zz-absent", "ID")
    if got.status_code != status or text != ref_text:
        return f"{role.name} {method} {url}: {got.status_code} {got.text[:200]} vs absent {status}"
    if got.status_code not in (403, 404):
        return f"{role.name} {method} {url}: {got.status_code}"
    return None


def get_bundle(kind: str, urls: list[str]) -> dict[str, Any]:
    entries = [{"request": {"method": "GET", "url": url}} for url in urls]
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


ROLE_LIST = list(ROLES.values())


def allowed(role: Role, rtype: str) -> bool:
    """Whether the role's scopes grant ``rtype`` at all (else a 403 that reveals nothing)."""
    return role.types is None or rtype in role.types


def matches(bundle: dict[str, Any]) -> set[str]:
    return ids(bundle, "match")


def ordered(bundle: dict[str, Any]) -> list[str]:
    """``Type/id`` of the matches of a search Bundle, in order."""
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode") == "match"
    ]


def ids(bundle: dict[str, Any], mode: str) -> set[str]:
    """``Type/id`` of the entries of a search Bundle in ``mode`` (match, include)."""
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode") == mode
    }


def token(keys: Keys, role: Role) -> str:
    principal = Principal(
        kind=role.kind,  # type: ignore[arg-type]
        subject=role.subject,
        scopes=parse_scopes(role.scope),
        fhir_user=f"Practitioner/{role.practitioner}" if role.practitioner else None,
        organization=role.organization,
        patients=role.accounts_patients,
        launch_patient=role.launch,
    )
    return issue(keys, principal, audience=keys.instance, now=int(time.time()), ttl=3600)


def load(client: TestClient, settings: Settings, world: World) -> None:
    """Store every version of the world (first versions in one transaction), then the grants."""
    header = {**operator_header(settings), "content-type": JSON}
    first = [
        {"resource": i.versions[0].body, "request": {"method": "PUT", "url": i.key}}
        for i in world.items.values()
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": first}
    r = client.post("/fhir", content=orjson.dumps(bundle), headers=header)
    assert r.status_code == 200, r.text[:500]
    for item in world.items.values():
        for version in item.versions[1:]:
            if version.body is None:
                r = client.delete(f"/fhir/{item.key}", headers=header)
            else:
                r = client.put(f"/fhir/{item.key}", content=orjson.dumps(version.body), headers=header)
            assert r.status_code in (200, 201, 204), r.text[:500]
    db = open_database(settings.database_url)
    now = int(time.time() * 1000)

    def rows(session: Any) -> None:
        for role in ROLES.values():
            session.execute(
                "INSERT INTO account (id, username, kind, display, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (role.subject, role.name, role.kind, role.name, now, now),
            )
        for gid, name, patient, active in GRANTS:
            until = now + 3_600_000 if active else now - 60_000
            session.execute(
                "INSERT INTO btg_grant (id, account, patient, reason, since, until)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (gid, ROLES[name].subject, patient, "emergency", now - 3_600_000, until),
            )

    try:
        db.run_sync(rows)
    finally:
        db.close()


@contextmanager
def open_world(database_url: str, keys_dir: Path) -> Iterator[Probe]:
    settings = Settings(database_url=database_url, keys_dir=keys_dir, rate_limit_per_second=0)
    world = World()
    with TestClient(create_app(settings)) as client:
        load(client, settings, world)
        yield Probe(client, world, load_keys(keys_dir), settings)


class Probe:
    """Calls the API as a role and records every forbidden marker found in an answer."""

    def __init__(self, client: TestClient, world: World, keys: Keys, settings: Settings) -> None:
        self.client = client
        self.world = world
        self.settings = settings
        self.tokens = {name: token(keys, role) for name, role in ROLES.items()}
        self.forbidden = {name: world.forbidden(role) for name, role in ROLES.items()}
        self.leaks: list[str] = []
        self.calls = 0
        self._references: dict[tuple[str, str, str, str], tuple[int, str]] = {}

    def call(
        self,
        role: Role,
        method: str,
        url: str,
        *,
        json: Any = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        content_type: str = JSON,
    ) -> httpx.Response:
        sent = {"Authorization": f"Bearer {self.tokens[role.name]}", **(headers or {})}
        content: bytes | None = None
        if json is not None:
            sent["content-type"] = content_type
            content = orjson.dumps(json)
        elif form is not None:
            sent["content-type"] = FORM
            content = urlencode(form).encode()
        path = f"/fhir/{url}" if url else "/fhir"
        answer = self.client.request(method, path, content=content, headers=sent)
        self.calls += 1
        text = answer.text
        leaked = [m for m in self.forbidden[role.name] if m in text]
        if leaked:
            self.leaks.append(f"LEAK {role.name} {method} {url}: {leaked}")
        return answer

    def reference(self, role: Role, method: str, url: str, json: Any = None) -> tuple[int, str]:
        """Status and body of a read-only request, asked once per role (answers about absent ids)."""
        key = (role.name, method, url, orjson.dumps(json).decode())
        if key not in self._references:
            answer = self.call(role, method, url, json=json)
            self._references[key] = (answer.status_code, answer.text)
        return self._references[key]

    def search(self, role: Role, url: str, *, form: dict[str, str] | None = None, total: bool = False) -> Any:
        """Matches (``Type/id``) of a search, its ``total`` (``total=True``), or the error text."""
        if form is not None:
            answer = self.call(role, "POST", url, form=form)
        else:
            if "_count=" not in url and "_summary=count" not in url:
                url += ("&" if "?" in url else "?") + "_count=500"
            answer = self.call(role, "GET", url)
        if answer.status_code != 200:
            return f"{answer.status_code}: {answer.text[:200]}"
        bundle = answer.json()
        return bundle.get("total") if total else matches(bundle)

    def pages(self, role: Role, url: str) -> list[dict[str, Any]]:
        """Every page of a search or history, following ``next`` links."""
        out: list[dict[str, Any]] = []
        while url and len(out) < 200:
            answer = self.call(role, "GET", url)
            if answer.status_code != 200:
                self.leaks.append(f"{role.name} GET {url}: {answer.status_code} {answer.text[:200]}")
                break
            page = answer.json()
            out.append(page)
            nxt = next((lk["url"] for lk in page.get("link", []) if lk["relation"] == "next"), "")
            url = nxt.split("/fhir/", 1)[1] if nxt else ""
        return out

    @staticmethod
    def versions(bundle: dict[str, Any]) -> set[str]:
        """``Type/id/vid`` of the entries of a history Bundle."""
        out = set()
        for entry in bundle.get("entry", []):
            key = "/".join(entry["fullUrl"].split("/")[-2:])
            vid = entry["response"]["etag"].removeprefix('W/"').rstrip('"')
            out.add(f"{key}/{vid}")
        return out

    # -- the model of _include / _revinclude (https://hl7.org/fhir/R4/search.html#include) -----------
    def expected_includes(self, role: Role, found: list[Item], query: str) -> set[str]:
        specs = [_spec(name, value, query.split("?", 1)[0]) for name, value in _pairs(query)]
        specs = [s for s in specs if s is not None]
        world = self.world
        live = [i for i in world.items.values() if not i.deleted and world.sees(role, i)]
        live_keys = {i.key for i in live}
        seen = {i.key for i in found}
        result: set[str] = set()
        frontier, active = found, specs
        for _ in range(ITERATE_LEVELS + 1):
            added: list[Item] = []
            for node in frontier:
                for reverse, _iterate, source, code, target in active:
                    if not reverse and source in (None, node.type):
                        keys = [t for c, t in node.refs if code in (None, c)]
                        keys = [t for t in keys if target is None or t.startswith(f"{target}/")]
                        candidates = [world.items[t] for t in keys if t in live_keys]
                    elif reverse and target in (None, node.type):
                        candidates = [
                            o
                            for o in live
                            if source in (None, o.type)
                            and any(t == node.key and code in (None, c) for c, t in o.refs)
                        ]
                    else:
                        continue
                    for item in candidates:
                        if item.key not in seen:
                            seen.add(item.key)
                            added.append(item)
            result.update(i.key for i in added)
            active = [s for s in active if s[1]]
            frontier = added
            if not frontier or not active:
                break
        return result


Spec = tuple[bool, bool, str | None, str | None, str | None]  # reverse, iterate, source, code, target


def _pairs(query: str) -> list[tuple[str, str]]:
    return [(p.split("=", 1)[0], p.split("=", 1)[1]) for p in query.split("?", 1)[1].split("&")]


def _spec(name: str, value: str, rtype: str) -> Spec | None:
    base, _, modifier = name.partition(":")
    if base not in ("_include", "_revinclude"):
        return None
    reverse, iterate = base == "_revinclude", modifier != ""
    if value == "*":
        return (reverse, iterate, None if reverse or iterate else rtype, None, None)
    parts = value.split(":")
    code = None if parts[1] == "*" else parts[1]
    return (reverse, iterate, parts[0], code, parts[2] if len(parts) == 3 else None)

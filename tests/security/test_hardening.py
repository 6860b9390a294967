"""HTTP hardening: security headers everywhere, CORS closed by default, rate and URL limits."""

from __future__ import annotations

from starlette.testclient import TestClient

from hygie.app import create_app
from hygie.settings import Settings
from tests.support import operator_header

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def test_security_headers_on_every_kind_of_answer(client: TestClient) -> None:
    answers = [
        client.get("/fhir/metadata"),
        client.get("/fhir/Patient"),
        client.get("/fhir/Patient/nope"),  # 404
        client.get("/nowhere"),  # unrouted
        client.get("/healthz"),
        client.post("/fhir/Patient", content=b"{", headers={"content-type": "application/fhir+json"}),
    ]
    for r in answers:
        for name, value in SECURITY_HEADERS.items():
            assert r.headers.get(name) == value, (r.request.url, name)
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert "strict-transport-security" not in r.headers  # plain HTTP: no HSTS
        assert "access-control-allow-origin" not in r.headers


def test_hsts_over_https(settings: Settings) -> None:
    with TestClient(create_app(settings), base_url="https://testserver") as c:
        assert c.get("/healthz").headers["strict-transport-security"].startswith("max-age=")


def test_cors_closed_by_default_and_opened_by_setting(settings: Settings) -> None:
    preflight = {
        "Origin": "https://app.example.org",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    with TestClient(create_app(settings), headers=operator_header(settings)) as closed:
        r = closed.options("/fhir/Patient", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
        r = closed.get("/fhir/Patient", headers={"Origin": "https://app.example.org"})
        assert "access-control-allow-origin" not in r.headers
    opened = settings.model_copy(update={"cors_origins": "https://app.example.org"})
    with TestClient(create_app(opened), headers=operator_header(settings)) as c:
        r = c.options("/fhir/Patient", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://app.example.org"
        r = c.options("/fhir/Patient", headers={**preflight, "Origin": "https://evil.example"})
        assert r.headers.get("access-control-allow-origin") != "https://evil.example"


def test_rate_limit_answers_429_with_retry_after(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_per_second": 1.0})
    with TestClient(create_app(limited)) as c:
        statuses = [c.get("/healthz").status_code for _ in range(6)]
        assert statuses[:2] == [200, 200]  # a burst of twice the rate
        assert 429 in statuses
        r = c.get("/healthz")
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["resourceType"] == "OperationOutcome"


def test_long_url_414(client: TestClient) -> None:
    r = client.get("/fhir/Patient?name=" + "a" * 20_000)
    assert r.status_code == 414
    assert r.json()["issue"][0]["code"] == "too-costly"
    assert client.get("/fhir/Patient?name=" + "a" * 1000).status_code == 200

"""The page frame of the web UI (both databases): who is signed in, session end and its
warning, switching profile (proxy access), CSRF on every form, kinds of accounts, recovery codes,
headers and page weight, and data read as the signed-in person through the audited FHIR path."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from starlette.testclient import TestClient

from hygie.app import create_app
from hygie.settings import Settings
from hygie.web.pages import shown_status
from tests.security.smart_support import PASSWORD, installation, submit, text_of, totp_now
from tests.web.support import audit_events, form_fields, login, post_form, text_by_id

MAX_PAGE_BYTES = 100 * 1024


def test_session_end_is_shown_and_warned_in_the_last_quarter_hour(settings: Settings) -> None:
    with installation(settings.model_copy(update={"strong_session_hours": 1.0})) as inst:
        login(inst, "alice", lang="en")
        page = inst.http.get("/portal")
        assert text_by_id(page.text, "session-end").startswith("Signed in until ")
        assert 'id="session-warning"' not in page.text
        inst.clock.advance(50 * 60)  # 10 minutes left
        page = inst.http.get("/portal")
        warning = text_by_id(page.text, "session-warning")
        assert warning.startswith("Your session ends in 10 min") and 'role="alert"' in page.text
        inst.clock.advance(10 * 60 + 1)  # over: signed out
        assert inst.http.get("/portal", follow_redirects=False).headers["location"].startswith("/login")


def test_proxy_switches_profile_and_the_choice_is_checked(settings: Settings) -> None:
    with installation(settings) as inst:
        login(inst, "alice", lang="en")
        portal = inst.http.get("/portal")
        assert text_by_id(portal.text, "profile").startswith("Record shown: ")
        choose = inst.http.get("/account/profile")
        options = re.findall(r'name="patient" value="([^"]+)"( checked)?', choose.text)
        assert options == [("alice", " checked"), ("charlie", "")]
        # Not somebody the account acts for: refused, nothing changes.
        refused = post_form(inst, choose.text, "/account/profile", patient="bob")
        assert refused.status_code == 400
        switched = post_form(inst, choose.text, "/account/profile", patient="charlie")
        assert switched.status_code == 303
        again = inst.http.get("/account/profile")
        assert re.findall(r'value="([^"]+)" checked', again.text) == ["charlie"]
        # The record shown is kept with the session (a second session starts on its own record).
        portal = inst.http.get("/portal")
        assert "charlie" in text_by_id(portal.text, "profile")
        # …in the database: another server process serving the same browser knows it too
        with TestClient(create_app(inst.settings, clock=inst.clock), cookies=inst.http.cookies) as other:
            assert "charlie" in text_by_id(other.get("/portal").text, "profile")


def test_single_record_accounts_have_no_profile_switch(settings: Settings) -> None:
    with installation(settings) as inst:
        login(inst, "bob", lang="en")
        portal = inst.http.get("/portal")
        assert 'id="profile"' not in portal.text
        assert "You do not act for anybody else." in inst.http.get("/account/profile").text


def test_every_form_needs_the_session_csrf_token(settings: Settings) -> None:
    with installation(settings) as inst:
        login(inst, "alice")
        page = inst.http.get("/account/profile")
        fields = form_fields(page.text, "/account/profile")
        assert fields["csrf"]
        for bad in ({}, {"csrf": ""}, {"csrf": "x" * 43}, {"csrf": inst.http.cookies["hygie_csrf"]}):
            data = {**{k: v for k, v in fields.items() if k != "csrf"}, **bad, "patient": "charlie"}
            answer = inst.http.post("/account/profile", data=data, follow_redirects=False)
            assert answer.status_code == 403 and "CSRF" in answer.text
        assert re.findall(r'value="([^"]+)" checked', inst.http.get("/account/profile").text) == ["alice"]
        # Every POST form of the pages carries it.
        for path in ("/portal", "/account/security", "/account/profile"):
            text = inst.http.get(path).text
            for form in re.findall(r'<form method="post".*?</form>', text, re.S):
                assert 'name="csrf" value="' + fields["csrf"] + '"' in form, (path, form[:80])


def test_pages_match_the_kind_of_account(settings: Settings) -> None:
    with installation(settings) as inst:
        login(inst, "alice")
        assert inst.http.get("/workspace").status_code == 403
        assert inst.http.get("/portal").status_code == 200
        post_form(inst, inst.http.get("/portal").text, "/logout")
        login(inst, "drmartin")
        assert inst.http.get("/").url.path == "/workspace"
        assert inst.http.get("/portal").status_code == 403
        assert 'id="profile"' not in inst.http.get("/workspace").text


def test_recovery_codes_are_replaced_after_a_current_code(settings: Settings) -> None:
    with installation(settings) as inst:
        page = inst.http.get("/login")
        enrol = submit(inst.http, page.text, username="drmartin", password=PASSWORD)
        secret = text_of(enrol.text, "secret")
        first = re.findall(
            r"<li><code>([^<]+)</code></li>",
            submit(inst.http, enrol.text, code=totp_now(secret, inst.clock)).text,
        )
        security = inst.http.get("/account/security?lang=en")
        assert text_by_id(security.text, "recovery-left") == "Recovery codes you can still use: 10."
        wrong = post_form(inst, security.text, "/account/security/recovery-codes", code="999999")
        assert wrong.status_code == 400 and "Wrong or already used verification code." in wrong.text
        inst.clock.advance(30)
        fresh = post_form(
            inst,
            security.text,
            "/account/security/recovery-codes",
            code=pyotp.TOTP(secret).at(inst.clock.now),
        )
        second = re.findall(r"<li><code>([^<]+)</code></li>", fresh.text)
        assert len(second) == 10 and not set(first) & set(second)
        # The old codes no longer sign in; a new one does.
        post_form(inst, fresh.text, "/logout")
        challenge = submit(inst.http, inst.http.get("/login").text, username="drmartin", password=PASSWORD)
        assert submit(inst.http, challenge.text, code=first[0]).status_code == 400
        assert submit(inst.http, challenge.text, code=second[0]).status_code == 303


def test_page_headers_weight_and_static_files(settings: Settings) -> None:
    with installation(settings) as inst:
        login(inst, "alice", lang="ar")
        page = inst.http.get("/portal")
        assert '<html lang="ar" dir="rtl">' in page.text and "صحتي" in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "<script" not in page.text and " style=" not in page.text and "<style" not in page.text
        assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
        assert len(assets) == 2
        total = len(page.content)
        for url in assets:
            asset = inst.http.get(url)
            assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
            assert inst.http.get(url, headers={"If-None-Match": asset.headers["etag"]}).status_code == 304
            total += len(asset.content)
        assert total < MAX_PAGE_BYTES
        assert inst.http.get("/static/../app.py").status_code == 404
        assert inst.http.get("/static/nothing.css").status_code == 404


def test_pages_read_as_the_signed_in_person_and_are_audited(settings: Settings) -> None:
    with installation(settings) as inst:
        login(inst, "alice")
        inst.http.get("/account/profile")  # reads the names of alice's and charlie's records
    events = [e for e in audit_events(settings) if "search" in orjson_text(e)]
    web = [e for e in events if "hygie-web" in orjson_text(e)]
    assert web, "the web UI's read is in the audit trail"
    text = orjson_text(web[-1])
    assert "Patient/alice" in text and "Patient/charlie" in text and "Patient/bob" not in text


def orjson_text(event: object) -> str:
    import orjson

    return orjson.dumps(event).decode()


def test_web_routes_are_told_apart_from_api_endpoints(tmp_path: Path) -> None:
    from hygie.app import create_app
    from hygie.web.routes import is_web_route

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/h.db", keys_dir=tmp_path / "keys"))
    web = {getattr(r, "path", "") for r in app.routes if is_web_route(r)}
    assert {"/", "/portal", "/workspace", "/account/security", "/static/{name:path}"} <= web
    assert not web & {"/login", "/logout", "/fhir", "/fhir/{path:path}", "/oauth/authorize", "/healthz"}


def test_the_language_switch_keeps_the_view(settings: Settings) -> None:
    """Switching language shows the same view: the page's query (period, measure…) is kept."""
    with installation(settings) as inst:
        login(inst, "alice", lang="en")
        page = inst.http.get("/portal/measurements?measure=heart-rate&period=week&lang=en")
        assert page.status_code == 200
        links = re.findall(r'href="(/portal/measurements\?[^"]*lang=ar[^"]*)"', page.text)
        assert links, page.text[:2000]
        assert "measure=heart-rate" in links[0] and "period=week" in links[0]
        assert links[0].count("lang=") == 1


@pytest.mark.parametrize(
    ("api_status", "shown"),
    [
        (400, 400),
        (403, 403),
        (404, 404),
        (409, 409),
        (410, 404),  # gone: not found for the reader
        (412, 400),  # refusals the pages have no words for stay the reader's failed request
        (413, 400),
        (422, 400),
        (429, 400),
        (499, 400),
        (500, 503),  # the API's own failures only are a 5xx
        (502, 503),
        (503, 503),
    ],
)
def test_an_api_refusal_is_shown_with_a_page_status(api_status: int, shown: int) -> None:
    assert shown_status(api_status) == shown

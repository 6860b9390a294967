"""Signing in to the web UI (both databases): password + TOTP, enrolment, recovery codes, the
design-system pages in three languages, sign-out, security headers, CSRF."""

from __future__ import annotations

import re

import pyotp
from starlette.testclient import TestClient

from hygie.app import create_app
from hygie.settings import Settings
from tests.security.smart_support import PASSWORD, installation, submit, text_of, totp_now
from tests.web.support import form_fields, login, post_form, text_by_id


def test_signed_out_visitors_are_sent_to_the_sign_in_page(settings: Settings) -> None:
    with installation(settings) as inst:
        for path in ("/", "/portal", "/workspace", "/account/security", "/account/profile"):
            answer = inst.http.get(path, follow_redirects=False)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login"), path
        page = inst.http.get("/")
        assert page.url.path == "/login" and 'name="password"' in page.text


def test_patient_signs_in_and_lands_on_the_portal(settings: Settings) -> None:
    with installation(settings) as inst:
        answer = login(inst, "alice")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/")
        home = inst.http.get(answer.headers["location"])
        assert home.url.path == "/portal"
        assert text_by_id(home.text, "who") == "Connecté·e : Alice Patient·e"
        assert 'action="/logout"' in home.text


def test_professional_enrols_totp_then_signs_in_with_a_code(settings: Settings) -> None:
    with installation(settings) as inst:
        page = inst.http.get("/login?lang=en")
        enrol = submit(inst.http, page.text, username="drmartin", password=PASSWORD)
        assert 'name="step" value="enroll"' in enrol.text and '<html lang="en" dir="ltr">' in enrol.text
        secret = text_of(enrol.text, "secret")
        codes_page = submit(inst.http, enrol.text, code=totp_now(secret, inst.clock))
        codes = re.findall(r"<li><code>([^<]+)</code></li>", codes_page.text)
        assert len(codes) == 10 and 'id="recovery-codes"' in codes_page.text
        home = inst.http.get(re.search(r'<a href="([^"]+)">', codes_page.text).group(1))  # type: ignore[union-attr]
        assert home.url.path == "/workspace" and "Health professional" in home.text
        # Sign out, then in again with a recovery code instead of the app's code.
        out = post_form(inst, home.text, "/logout")
        assert out.status_code == 200 and "You are signed out." in out.text
        assert inst.http.get("/workspace", follow_redirects=False).status_code == 303
        page = inst.http.get("/login")
        challenge = submit(inst.http, page.text, username="drmartin", password=PASSWORD)
        assert 'name="step" value="totp"' in challenge.text
        wrong = submit(inst.http, challenge.text, code="000000")
        assert wrong.status_code == 400 and "Wrong or already used verification code." in wrong.text
        ok = submit(inst.http, challenge.text, code=codes[0])
        assert ok.status_code == 303
        assert inst.http.get("/").url.path == "/workspace"


def test_sign_in_pages_in_arabic_are_right_to_left(settings: Settings) -> None:
    with installation(settings) as inst:
        page = inst.http.get("/login?lang=ar")
        assert '<html lang="ar" dir="rtl">' in page.text and "كلمة المرور" in page.text
        assert inst.http.cookies["hygie_lang"] == "ar"
        refused = submit(inst.http, page.text, username="alice", password="not the password at all")
        assert refused.status_code == 400 and "اسم المستخدم أو كلمة المرور غير صحيحة." in refused.text
        assert 'role="alert"' in refused.text
        # The choice is remembered: the next page without ?lang= is still in Arabic.
        assert '<html lang="ar" dir="rtl">' in inst.http.get("/login").text
        assert '<html lang="fr" dir="ltr">' in inst.http.get("/login?lang=fr").text


def test_accept_language_picks_the_language_when_nothing_was_chosen(settings: Settings) -> None:
    with installation(settings) as inst:
        assert (
            '<html lang="ar"' in inst.http.get("/login", headers={"Accept-Language": "ar-MA,ar;q=0.9"}).text
        )
        assert '<html lang="en"' in inst.http.get("/login", headers={"Accept-Language": "de,en;q=0.5"}).text
        assert '<html lang="fr"' in inst.http.get("/login", headers={"Accept-Language": "de"}).text


def test_sign_in_page_security_headers_and_no_inline_code(settings: Settings) -> None:
    with installation(settings) as inst:
        page = inst.http.get("/login")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert "<script" not in page.text and "<style" not in page.text and " style=" not in page.text


def test_patient_turns_on_totp_then_it_is_asked_at_sign_in(settings: Settings) -> None:
    with installation(settings) as inst:
        assert login(inst, "alice").status_code == 303
        security = inst.http.get("/account/security")
        assert text_by_id(security.text, "totp-status") == "Désactivée"
        start = post_form(inst, security.text, "/account/security/totp")
        secret = text_of(start.text, "secret")
        bad = post_form(inst, start.text, "/account/security/totp", code="123456")
        assert bad.status_code == 400 and text_of(bad.text, "secret") == secret
        done = post_form(inst, bad.text, "/account/security/totp", code=pyotp.TOTP(secret).at(inst.clock.now))
        assert done.status_code == 200 and len(re.findall(r"<li><code>", done.text)) == 10
        assert post_form(inst, done.text, "/logout").status_code == 200
        inst.clock.advance(31)  # the next TOTP step (a code is accepted once)
        page = inst.http.get("/login")
        challenge = submit(inst.http, page.text, username="alice", password=PASSWORD)
        assert 'name="step" value="totp"' in challenge.text
        assert (
            submit(inst.http, challenge.text, code=pyotp.TOTP(secret).at(inst.clock.now)).status_code == 303
        )


def test_totp_enrolment_confirmed_by_another_server_process(settings: Settings) -> None:
    """The secret being enrolled travels with the form (signed by the server, bound to the account
    and short-lived), not in one process's memory: a second server process behind the same load
    balancer confirms it; a token for another account or a tampered one restarts the enrolment."""
    with installation(settings) as inst:
        assert login(inst, "alice").status_code == 303
        security = inst.http.get("/account/security")
        start = post_form(inst, security.text, "/account/security/totp")
        secret = text_of(start.text, "secret")
        fields = form_fields(start.text, "/account/security/totp")
        tampered = {**fields, "enrolment": fields["enrolment"][:-4] + "AAAA"}
        with TestClient(create_app(settings, clock=inst.clock), cookies=dict(inst.http.cookies)) as other:
            again = other.post("/account/security/totp", data={**tampered, "code": "000000"})
            assert again.status_code == 200 and text_of(again.text, "secret") != secret  # a new one
            code = pyotp.TOTP(secret).at(inst.clock.now)
            done = other.post("/account/security/totp", data={**fields, "code": code})
            assert done.status_code == 200, done.text[:400]
            assert len(re.findall(r"<li><code>", done.text)) == 10
        assert text_by_id(inst.http.get("/account/security").text, "totp-status") == "Activée"

"""Every form and page of the web UI and of the sign-in flow under malformed and hostile requests:
bad input never breaks us (docs/web.md "Security", docs/security.md, docs/smart.md).

Probed, signed out and signed in as a patient (alice, who acts for charlie; bob, another patient)
and as a professional (drmartin, GP of alice and charlie — tests/security/smart_support.py, with
the portal record of tests/web/portal/support.py):

- **every POST form** (sign-in, SMART authorize, sign-out, switch profile, TOTP enrolment,
  recovery codes, portal messages, privacy find/block/unblock, record download, workspace alert
  actions, patient search, open a record, break-the-glass, prescribing) with unreadable bodies
  (JSON, multipart, no or another Content-Type, invalid UTF-8, NUL bytes, 100 KB and 10 MB values)
  and missing, empty, forged, repeated or another user's CSRF tokens;
- **their fields**: missing, empty, repeated, too long, NUL, unknown enum values, ids of
  resources the user may not see (bob's), ids with ``../``, ``%2e%2e``, NUL, very long ids;
- **every GET page** with hostile query parameters (page numbers negative, huge, non-numeric or in
  other scripts' digits, unknown periods, measures, cursors, ``lang=``, ``done=``, repeated
  parameters, ``next=`` pointing off-site), hostile ``Accept-Language``, ``Host`` and cookies
  (malformed, oversized session cookies), unknown paths and methods;
- **answers**: a clear 4xx (or the documented 303), never a 5xx, never a traceback, never a
  redirect off-site; every HTML answer (error pages included) keeps the Content-Security-Policy,
  ``Cache-Control: no-store`` and ``X-Frame-Options`` of the normal pages and holds no
  ``<script`` nor an injected ``<img`` (reflected values are escaped: ``<script>`` and
  ``"><img src=x onerror=1>`` are sent in every field that may be echoed back);
- **nothing changed** by a refused request: a fingerprint of the stored data (counts and versions
  read by an operator through the FHIR API) is the same before and after, and the sessions live.

One installation per backend for the module (signing in costs a TOTP enrolment), SQLite and
PostgreSQL both (about 25 s each): each probe swaps the client's cookie jar to the user it plays.
Probes that are refused must not write (the fingerprint is compared with the one the previous
probe left); the few that legitimately write (a message, an alert moved along to check its
redirect, a sign-in) use data of their own and take a new fingerprint. A failing probe documents
a bug to fix in the product, not in the probe.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx2
import orjson
import pyotp
import pytest

from hygie.settings import Settings
from hygie.web.portal.consent import block_consent
from tests.conftest import BACKEND_PARAMS, fresh_database_url
from tests.security.smart_support import (
    APP_URI,
    AUTHORIZE,
    FHIR,
    PASSWORD,
    Installation,
    hidden_fields,
    installation,
)
from tests.support import operator_header
from tests.web.portal.support import alert, seed
from tests.web.support import form_fields, login, put_resources

FORM = "application/x-www-form-urlencoded"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=1>'
PAYLOADS = (SCRIPT, IMG)
GLUCOPHAGE = "67547090"  # GLUCOPHAGE 850 mg (tests/web/workspace/test_prescription.py)
KB100 = "a" * 100_000
MB10 = "a" * 10_000_000
UNICODE_DIGIT = "²"  # str.isdigit() is True, int() refuses it
ARABIC_DIGITS = "١٢"  # Arabic-Indic digits: int() reads them
OFF_SITE = (
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "https:evil.example",
)
BTG_REASON = "Unconscious patient brought to the emergency room"


# --------------------------------------------------------------------------- the installation


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend for the module (named like the shared fixture, so that
    ``HYGIE_TEST_BACKENDS`` selects its cases the same way)."""
    yield from fresh_database_url(request, request.param, tmp_path_factory.mktemp("forms-hostile"))


@dataclass
class World:
    """The running installation, the cookie jar and CSRF token of each user it plays."""

    inst: Installation
    jars: dict[str, dict[str, str]] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)
    authorize: dict[str, str] = field(default_factory=dict)  # a valid SMART authorization request
    baseline: list[Any] = field(default_factory=list)  # the stored data as the last probe left it

    def use(self, who: str) -> None:
        self.inst.http.cookies.clear()
        self.inst.http.cookies.update(self.jars[who])

    def send(
        self,
        who: str,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
    ) -> httpx2.Response:
        """One request as ``who`` (its cookies, or ``cookies`` instead), checked by :func:`sound`."""
        self.inst.http.cookies.clear()
        self.inst.http.cookies.update(self.jars[who] if cookies is None else cookies)
        answer = self.inst.http.request(
            method, path, content=content, headers=headers or {}, follow_redirects=False
        )
        sound(answer)
        return answer

    def post(
        self, who: str, path: str, pairs: list[tuple[str, str]], *, csrf: bool = True
    ) -> httpx2.Response:
        """A well-formed form post (with ``who``'s CSRF token first unless ``csrf`` is False)."""
        if csrf and not any(k == "csrf" for k, _ in pairs):
            pairs = [("csrf", self.csrf[who]), *pairs]
        return self.send(who, "POST", path, content=urlencode(pairs).encode(), headers={"Content-Type": FORM})

    def get(self, who: str, path: str, **headers: str) -> httpx2.Response:
        return self.send(who, "GET", path, headers=headers)

    def unchanged(self) -> None:
        """The stored data is as before the probe (else: the baseline moves on, so that one bad
        probe does not fail the following ones, and this one fails)."""
        now = self.fingerprint()
        before, self.baseline = self.baseline, now
        assert now == before, f"the refused request changed the data: {before} → {now}"

    def rebase(self) -> None:
        """After a probe that legitimately wrote."""
        self.baseline = self.fingerprint()

    def fingerprint(self) -> list[Any]:
        """What a refused request must not change: counts and versions read as an operator."""
        reads = [
            "Communication?_summary=count",
            "Consent?_summary=count",
            "MedicationRequest?_summary=count",
            "DetectedIssue?_summary=count",
            "Task?_summary=count",
            "Task/al-1",
            "Task/al-bob",
            "Consent/consent-bob",
            "Patient/alice",
            "Patient/bob",
        ]
        batch = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": url}} for url in reads],
        }
        headers = {**operator_header(self.inst.settings), "Content-Type": "application/fhir+json"}
        self.inst.http.cookies.clear()
        answer = self.inst.http.post("/fhir", json=batch, headers=headers)
        assert answer.status_code == 200, answer.text[:300]
        out: list[Any] = []
        for url, entry in zip(reads, answer.json()["entry"], strict=True):
            body = entry.get("resource") or {}
            status = entry.get("response", {}).get("status")
            meta = body.get("meta") or {}
            out.append((url, status, body.get("total"), meta.get("versionId"), body.get("status")))
        return out


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(
        database_url=database_url,
        keys_dir=tmp_path_factory.mktemp("forms-hostile-keys") / "keys",
        # the probes sign in a few times: the sign-in throttle is tested elsewhere
        login_attempts_per_minute=100_000,
        login_burst=100_000,
    )
    with installation(settings) as inst:
        seed(inst)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        bob_block = block_consent("bob", "Practitioner/nurse", performer="Patient/bob", now=now)
        put_resources(
            inst,
            {**bob_block, "id": "consent-bob"},
            *alert("al-r1", "alice", "heart-rate-high"),
            *alert("al-r2", "alice", "temperature-fever"),
            *alert("al-r3", "alice", "heart-rate-low"),
            *alert("al-r4", "alice", "glucose-level2-hypo"),
            *alert("al-r5", "alice", "glucose-level2-hyper"),
            *alert("al-r6", "alice", "news2-high"),
        )
        w = World(inst)
        # bob2: a second session of bob's, for the sign-out probes (a bug there ends it alone)
        for who, username in (("alice", "alice"), ("bob", "bob"), ("bob2", "bob"), ("doc", "drmartin")):
            inst.http.cookies.clear()
            assert login(inst, username, lang="en").status_code == 303
            w.jars[who] = dict(inst.http.cookies)
            page = inst.http.get("/account/security")
            w.csrf[who] = form_fields(page.text, "/logout")["csrf"]
        inst.http.cookies.clear()
        page = inst.http.get("/login?lang=en")
        w.jars["anon"] = dict(inst.http.cookies)
        w.csrf["anon"] = hidden_fields(page.text)["csrf"]
        url, _ = inst.oauth().create_authorization_url(AUTHORIZE, code_verifier="v" * 64, aud=FHIR)
        w.authorize = dict(parse_qsl(urlsplit(url).query))
        w.rebase()
        yield w


# --------------------------------------------------------------------------- what every answer keeps

TRACEBACK = re.compile(r'Traceback \(most recent call last\)|File "[^"]+\.py", line \d+')


def sound(answer: httpx2.Response) -> None:
    """Never a 5xx, a traceback, an off-site redirect, an injected tag; HTML keeps its headers."""
    request = answer.request
    where = f"{request.method} {str(request.url)[:160]}"
    text = answer.content[:2_000_000].decode("utf-8", "replace")
    assert answer.status_code < 500, f"{where}: {answer.status_code} {text[:300]}"
    assert not TRACEBACK.search(text), f"{where}: a traceback in the body"
    location = answer.headers.get("location")
    if location is not None:
        assert local(location) or location.startswith(APP_URI + "?"), f"{where}: off-site {location!r}"
    assert answer.headers.get("cache-control") == "no-store", (
        f"{where}: {answer.headers.get('cache-control')}"
    )
    csp = answer.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, f"{where}: CSP {csp!r}"
    assert answer.headers.get("x-frame-options") == "DENY", where
    assert answer.headers.get("x-content-type-options") == "nosniff", where
    if answer.headers.get("content-type", "").startswith("text/html"):
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, f"{where}: CSP {csp!r}"
        lowered = text.lower()
        assert "<script" not in lowered and "<img src=x" not in lowered, f"{where}: markup injected"


def local(location: str) -> bool:
    """A redirect that stays on this site: an absolute path, not ``//host`` nor ``/\\host``."""
    parts = urlsplit(location)
    return (
        not parts.scheme
        and not parts.netloc
        and location.startswith("/")
        and not location.startswith(("//", "/\\"))
        and "\\" not in location.split("?", maxsplit=1)[0]
    )


def status_in(answer: httpx2.Response, expected: tuple[int, ...]) -> None:
    text = answer.text[:300] if answer.headers.get("content-type", "").startswith("text") else ""
    assert answer.status_code in expected, (
        f"{answer.request.method} {str(answer.request.url)[:160]}: {answer.status_code} "
        f"(expected {expected}) {answer.headers.get('location', '')} {text}"
    )


def no_echo(answer: httpx2.Response) -> None:
    """The hostile payloads are not in the page as markup (escaped text is fine)."""
    for payload in PAYLOADS:
        assert payload not in answer.text, f"{answer.request.url}: {payload!r} reflected unescaped"


def alive(w: World, who: str) -> None:
    """``who`` is still signed in."""
    home = "/workspace" if who == "doc" else "/portal"
    assert w.get(who, home).status_code == 200, f"{who} was signed out"


# --------------------------------------------------------------------------- unreadable bodies and CSRF

# Every POST form: who posts it and fields that would otherwise make sense.
POST_FORMS: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "login": ("anon", "/login?lang=en", [("step", "password"), ("username", "mallory"), ("password", "x")]),
    "logout": ("bob2", "/logout", []),
    "profile": ("alice", "/account/profile", [("patient", "charlie")]),
    "totp": ("alice", "/account/security/totp", [("step", "start")]),
    "recovery-codes": ("doc", "/account/security/recovery-codes", [("code", "000000")]),
    "messages": ("alice", "/portal/messages", [("message", "Hello doctor")]),
    "privacy-find": ("alice", "/portal/privacy/find", [("name", "Martin")]),
    "privacy-block": ("alice", "/portal/privacy/block", [("practitioner", "nurse")]),
    "privacy-unblock": ("alice", "/portal/privacy/unblock", [("consent", "consent-bob")]),
    "record-download": ("alice", "/portal/record/download", [("summary", "en")]),
    "alert": ("doc", "/workspace/alerts/al-1", [("action", "acknowledge"), ("back", "/workspace")]),
    "search": ("doc", "/workspace/search", [("name", "alice")]),
    "open": ("doc", "/workspace/open", [("record", "alice")]),
    "break-glass": ("doc", "/workspace/patient/bob/break-glass", [("reason", BTG_REASON), ("minutes", "60")]),
    "prescription": (
        "doc",
        "/workspace/patient/alice/prescription",
        [("action", "add"), ("cis", GLUCOPHAGE), ("amount", "500")],
    ),
}
OTHER = {"alice": "bob", "bob": "alice", "bob2": "alice", "doc": "alice", "anon": "doc"}


def _multipart(pairs: list[tuple[str, str]]) -> tuple[bytes, str]:
    boundary = "hygie-hostile-boundary"
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in pairs
    )
    return f"{parts}--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def hostile_body(
    w: World, who: str, variant: str, fields: list[tuple[str, str]]
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one variant (see BODY_VARIANTS)."""
    token = w.csrf[who]
    good = [("csrf", token), *fields]
    form = {"Content-Type": FORM}
    if variant == "json":
        return orjson.dumps(dict(good)), {"Content-Type": "application/json"}
    if variant == "multipart":
        body, ctype = _multipart(good)
        return body, {"Content-Type": ctype}
    if variant == "no-content-type":
        return urlencode(good).encode(), {}
    if variant == "text-plain":
        return urlencode(good).encode(), {"Content-Type": "text/plain"}
    if variant == "invalid-utf8":
        return urlencode(good).encode() + b"&note=\xff\xfe\xc3\x28", form
    if variant == "nul-raw":
        return urlencode(good).encode() + b"&note=a\x00b", form
    if variant == "nul-encoded":
        return urlencode([*good, ("note", "a\x00b")]).encode(), form
    if variant == "nul-in-name":
        return urlencode([*good, ("no\x00te", "a")]).encode(), form
    if variant == "value-100kb":
        return urlencode([*good, ("note", KB100)]).encode(), form
    if variant == "value-10mb":
        return urlencode([*good, ("note", MB10)]).encode(), form
    if variant == "no-csrf":
        return urlencode(fields).encode(), form
    if variant == "empty-csrf":
        return urlencode([("csrf", ""), *fields]).encode(), form
    if variant == "forged-csrf":
        return urlencode([("csrf", "x" * 43), *fields]).encode(), form
    if variant == "non-ascii-csrf":
        return urlencode([("csrf", "é" * 43), *fields]).encode(), form
    if variant == "other-users-csrf":
        return urlencode([("csrf", w.csrf[OTHER[who]]), *fields]).encode(), form
    if variant == "csrf-repeated-wrong-first":
        return urlencode([("csrf", "x" * 43), ("csrf", token), *fields]).encode(), form
    if variant == "empty-body":
        return b"", form
    raise AssertionError(variant)


BODY_VARIANTS: dict[str, int] = {  # variant → the status it must get
    "json": 400,
    "multipart": 400,
    "no-content-type": 400,
    "text-plain": 400,
    "invalid-utf8": 400,
    "nul-raw": 400,
    "nul-encoded": 400,
    "nul-in-name": 400,
    "value-100kb": 400,
    "value-10mb": 400,
    "no-csrf": 403,
    "empty-csrf": 403,
    "forged-csrf": 403,
    "non-ascii-csrf": 403,
    "other-users-csrf": 403,
    "csrf-repeated-wrong-first": 403,
    "empty-body": 403,
}


@pytest.mark.parametrize("variant", list(BODY_VARIANTS))
@pytest.mark.parametrize("form", list(POST_FORMS))
def test_unreadable_bodies_and_bad_csrf_are_refused_and_change_nothing(
    world: World, form: str, variant: str
) -> None:
    who, path, fields = POST_FORMS[form]
    body, headers = hostile_body(world, who, variant, fields)
    answer = world.send(who, "POST", path, content=body, headers=headers)
    status_in(answer, (BODY_VARIANTS[variant],))
    world.unchanged()
    if form == "logout":
        alive(world, who)


# --------------------------------------------------------------------------- signed out, wrong account


PROTECTED_GETS = [
    "/portal",
    "/portal/measurements",
    "/portal/documents",
    "/portal/documents/doc-alice/0",
    "/portal/messages",
    "/portal/access",
    "/portal/privacy",
    "/portal/record",
    "/account/security",
    "/account/profile",
    "/workspace",
    "/workspace/search",
    "/workspace/patient/alice",
    "/workspace/patient/alice/vitals",
    "/workspace/patient/alice/glucose",
    "/workspace/patient/alice/results",
    "/workspace/patient/alice/timeline",
    "/workspace/patient/alice/prescription",
    "/workspace/patient/alice/prescription/0123456789abcdef",
    "/workspace/patient/alice/document/doc-alice",
]


@pytest.mark.parametrize("path", PROTECTED_GETS)
def test_signed_out_visitors_go_to_the_sign_in_page(world: World, path: str) -> None:
    answer = world.get("anon", path)
    status_in(answer, (303,))
    assert answer.headers["location"].startswith("/login")


@pytest.mark.parametrize(
    "form", [f for f, (who, _, _) in POST_FORMS.items() if who != "anon" and f != "logout"]
)
def test_signed_out_posts_go_to_the_sign_in_page_and_change_nothing(world: World, form: str) -> None:
    _, path, fields = POST_FORMS[form]
    answer = world.post("anon", path, [("csrf", world.csrf["anon"]), *fields])
    status_in(answer, (303,))
    assert answer.headers["location"].startswith("/login")
    world.unchanged()


@pytest.mark.parametrize(
    ("who", "path"),
    [("alice", p) for p in PROTECTED_GETS if p.startswith("/workspace")]
    + [("doc", p) for p in PROTECTED_GETS if p.startswith("/portal")],
)
def test_the_wrong_kind_of_account_gets_403(world: World, who: str, path: str) -> None:
    status_in(world.get(who, path), (403,))


@pytest.mark.parametrize(
    "form", [f for f, (who, path, _) in POST_FORMS.items() if path.startswith(("/portal", "/workspace"))]
)
def test_the_wrong_kind_of_account_cannot_post(world: World, form: str) -> None:
    owner, path, fields = POST_FORMS[form]
    who = "alice" if owner == "doc" else "doc"
    status_in(world.post(who, path, fields), (403,))
    world.unchanged()


# --------------------------------------------------------------------------- the fields of each form


@dataclass(frozen=True)
class Probe:
    """One request with a valid CSRF token: its user, path, fields and the statuses it may get."""

    id: str
    who: str
    path: str
    fields: tuple[tuple[str, str], ...] = ()
    expect: tuple[int, ...] = (400,)
    method: str = "POST"


def p(id: str, who: str, path: str, *fields: tuple[str, str], expect: tuple[int, ...] = (400,)) -> Probe:
    return Probe(id, who, path, tuple(fields), expect)


def g(id: str, who: str, path: str, expect: tuple[int, ...] = (200,)) -> Probe:
    return Probe(id, who, path, (), expect, method="GET")


RX = "/workspace/patient/alice/prescription"
LONG_ID = "a" * 65
HUGE_ID = "a" * 5000

FIELD_PROBES = [
    # switch profile: only the records the account acts for
    p("profile-missing", "alice", "/account/profile"),
    p("profile-empty", "alice", "/account/profile", ("patient", "")),
    p("profile-other-patient", "alice", "/account/profile", ("patient", "bob")),
    p("profile-dotdot", "alice", "/account/profile", ("patient", "../charlie")),
    p("profile-encoded-dotdot", "alice", "/account/profile", ("patient", "%2e%2e/bob")),
    p("profile-long", "alice", "/account/profile", ("patient", HUGE_ID)),
    p("profile-repeated", "alice", "/account/profile", ("patient", "bob"), ("patient", "charlie")),
    p("profile-payload", "alice", "/account/profile", ("patient", SCRIPT)),
    p("profile-single-record", "bob", "/account/profile", ("patient", "alice")),
    # TOTP enrolment: a bad enrolment value starts again (documented), a wrong code is a 400
    p("totp-unknown-step", "alice", "/account/security/totp", ("step", SCRIPT), expect=(200,)),
    p(
        "totp-forged-enrolment",
        "alice",
        "/account/security/totp",
        ("step", "confirm"),
        ("enrolment", IMG),
        ("code", "123456"),
        expect=(200,),
    ),
    p(
        "totp-long-enrolment",
        "alice",
        "/account/security/totp",
        ("step", "confirm"),
        ("enrolment", "e" * 60_000),
        ("code", SCRIPT),
        expect=(200,),
    ),
    # new recovery codes: a current code first
    p("recovery-missing-code", "doc", "/account/security/recovery-codes"),
    p("recovery-payload-code", "doc", "/account/security/recovery-codes", ("code", SCRIPT)),
    p("recovery-long-code", "doc", "/account/security/recovery-codes", ("code", "1" * 60_000)),
    p("recovery-without-totp", "alice", "/account/security/recovery-codes", ("code", "1"), expect=(303,)),
    # portal: messages
    p("message-missing", "alice", "/portal/messages"),
    p("message-blank", "alice", "/portal/messages", ("message", " \r\n\t ")),
    p("message-too-long", "alice", "/portal/messages", ("message", (SCRIPT + IMG) * 100)),
    p("message-repeated-empty-first", "alice", "/portal/messages", ("message", ""), ("message", "hi")),
    p("message-60kb", "alice", "/portal/messages", ("message", "m" * 60_000)),
    # portal: privacy
    p("find-missing", "alice", "/portal/privacy/find"),
    p("find-one-letter", "alice", "/portal/privacy/find", ("name", "a")),
    p("find-payload", "alice", "/portal/privacy/find", ("name", SCRIPT + IMG), expect=(200,)),
    p("find-60kb", "alice", "/portal/privacy/find", ("name", "n" * 60_000), expect=(200,)),
    p("find-search-syntax", "alice", "/portal/privacy/find", ("name", "a,b|c\\$*:exact"), expect=(200,)),
    p("block-missing", "alice", "/portal/privacy/block"),
    p("block-dotdot", "alice", "/portal/privacy/block", ("practitioner", "../gp")),
    p("block-dots-only", "alice", "/portal/privacy/block", ("practitioner", "..")),
    p("block-dot", "alice", "/portal/privacy/block", ("practitioner", ".")),
    p("block-encoded-dotdot", "alice", "/portal/privacy/block", ("practitioner", "%2e%2e")),
    p("block-path", "alice", "/portal/privacy/block", ("practitioner", "gp/_history/1")),
    p("block-long", "alice", "/portal/privacy/block", ("practitioner", LONG_ID)),
    p("block-unknown", "alice", "/portal/privacy/block", ("practitioner", "nobody")),
    p("block-a-patient", "alice", "/portal/privacy/block", ("practitioner", "bob")),
    p("block-payload", "alice", "/portal/privacy/block", ("practitioner", IMG)),
    p("unblock-missing", "alice", "/portal/privacy/unblock", expect=(404,)),
    p(
        "unblock-other-patients",
        "alice",
        "/portal/privacy/unblock",
        ("consent", "consent-bob"),
        expect=(404,),
    ),
    p("unblock-dotdot", "alice", "/portal/privacy/unblock", ("consent", ".."), expect=(404,)),
    p(
        "unblock-path",
        "alice",
        "/portal/privacy/unblock",
        ("consent", "../Consent/consent-bob"),
        expect=(404,),
    ),
    p("unblock-long", "alice", "/portal/privacy/unblock", ("consent", HUGE_ID), expect=(404,)),
    p("unblock-not-a-consent", "alice", "/portal/privacy/unblock", ("consent", "c-alice"), expect=(404,)),
    p("unblock-payload", "alice", "/portal/privacy/unblock", ("consent", SCRIPT), expect=(404,)),
    # portal: record download
    p("download-unknown-language", "alice", "/portal/record/download", ("summary", "de")),
    p("download-arabic-summary", "alice", "/portal/record/download", ("summary", "ar")),
    p("download-payload", "alice", "/portal/record/download", ("summary", SCRIPT)),
    p("download-repeated", "alice", "/portal/record/download", ("summary", "xx"), ("summary", "fr")),
    # workspace: alert actions
    p("alert-no-action", "doc", "/workspace/alerts/al-1"),
    p("alert-unknown-action", "doc", "/workspace/alerts/al-1", ("action", "delete")),
    p("alert-payload-action", "doc", "/workspace/alerts/al-1", ("action", SCRIPT)),
    p(
        "alert-note-too-long",
        "doc",
        "/workspace/alerts/al-1",
        ("action", "acknowledge"),
        ("note", "n" * 2001),
    ),
    p("alert-other-patients", "doc", "/workspace/alerts/al-bob", ("action", "acknowledge"), expect=(404,)),
    p("alert-other-escalate", "doc", "/workspace/alerts/al-bob", ("action", "escalate"), expect=(404,)),
    p("alert-unknown-task", "doc", "/workspace/alerts/nothing", ("action", "resolve"), expect=(404,)),
    p("alert-encoded-dotdot", "doc", "/workspace/alerts/%2e%2e", ("action", "resolve"), expect=(400, 404)),
    p("alert-long-task", "doc", f"/workspace/alerts/{LONG_ID}", ("action", "resolve"), expect=(400, 404)),
    p("alert-huge-task", "doc", f"/workspace/alerts/{HUGE_ID}", ("action", "resolve"), expect=(400, 404)),
    p("alert-nul-task", "doc", "/workspace/alerts/al-1%00", ("action", "resolve"), expect=(400, 404)),
    p("alert-newline-task", "doc", "/workspace/alerts/al-1%0A", ("action", "resolve"), expect=(400, 404)),
    p("alert-version-letters", "doc", "/workspace/alerts/al-1", ("action", "escalate"), ("version", "abc")),
    p(
        "alert-version-unicode-digit",
        "doc",
        "/workspace/alerts/al-1",
        ("action", "escalate"),
        ("version", UNICODE_DIGIT),
        expect=(400, 409),
    ),
    p(
        "alert-version-stale",
        "doc",
        "/workspace/alerts/al-1",
        ("action", "escalate"),
        ("version", "999"),
        expect=(409,),
    ),
    p("alert-repeated-action", "doc", "/workspace/alerts/al-1", ("action", "delete"), ("action", "resolve")),
    # workspace: search and open
    p("search-nothing", "doc", "/workspace/search"),
    p("search-name-too-long", "doc", "/workspace/search", ("name", "a" * 101)),
    p("search-six-words", "doc", "/workspace/search", ("name", "a b c d e f")),
    p("search-bad-date", "doc", "/workspace/search", ("birthdate", "31/02/2020")),
    p("search-zero-date", "doc", "/workspace/search", ("birthdate", "0000-00-00")),
    p("search-arabic-date", "doc", "/workspace/search", ("birthdate", "٠١/٠١/٢٠٠٠"), expect=(200, 400)),
    p("search-date-payload", "doc", "/workspace/search", ("birthdate", IMG)),
    p("search-identifier-pipe", "doc", "/workspace/search", ("identifier", "urn:x|123")),
    p(
        "search-identifier-payload",
        "doc",
        "/workspace/search",
        ("identifier", SCRIPT + IMG),
        expect=(200, 400),
    ),
    p("search-name-payload", "doc", "/workspace/search", ("name", SCRIPT), expect=(200,)),
    p("search-name-syntax", "doc", "/workspace/search", ("name", "\\ $ * :exact"), expect=(200, 400)),
    p("search-60kb", "doc", "/workspace/search", ("name", "n" * 60_000)),
    p("open-payload", "doc", "/workspace/open", ("record", IMG)),
    p("open-dotdot", "doc", "/workspace/open", ("record", "../bob")),
    p("open-empty", "doc", "/workspace/open", ("record", "")),
    p("open-long", "doc", "/workspace/open", ("record", LONG_ID)),
    *[p(f"open-off-site-{i}", "doc", "/workspace/open", ("record", url)) for i, url in enumerate(OFF_SITE)],
    # workspace: break-the-glass (nothing granted)
    p(
        "btg-unknown-minutes",
        "doc",
        "/workspace/patient/bob/break-glass",
        ("reason", BTG_REASON),
        ("minutes", "99"),
    ),
    p(
        "btg-huge-minutes",
        "doc",
        "/workspace/patient/bob/break-glass",
        ("reason", BTG_REASON),
        ("minutes", "9" * 400),
    ),
    p("btg-no-reason", "doc", "/workspace/patient/bob/break-glass", ("minutes", "60")),
    p(
        "btg-short-reason",
        "doc",
        "/workspace/patient/bob/break-glass",
        ("reason", "because"),
        ("minutes", "60"),
    ),
    p(
        "btg-long-reason",
        "doc",
        "/workspace/patient/bob/break-glass",
        ("reason", "r" * 1001),
        ("minutes", "60"),
    ),
    p(
        "btg-payload-reason",
        "doc",
        "/workspace/patient/bob/break-glass",
        ("reason", SCRIPT + IMG),
        ("minutes", SCRIPT),
    ),
    p(
        "btg-unknown-patient",
        "doc",
        "/workspace/patient/nobody/break-glass",
        ("reason", BTG_REASON),
        expect=(404,),
    ),
    p(
        "btg-dotdot",
        "doc",
        "/workspace/patient/%2e%2e/break-glass",
        ("reason", BTG_REASON),
        expect=(400, 404),
    ),
    p(
        "btg-long-id",
        "doc",
        f"/workspace/patient/{LONG_ID}/break-glass",
        ("reason", BTG_REASON),
        expect=(404,),
    ),
    p(
        "btg-nul-id",
        "doc",
        "/workspace/patient/bob%00/break-glass",
        ("reason", BTG_REASON),
        expect=(400, 404),
    ),
    # workspace: prescribing (nothing written)
    p("rx-no-action", "doc", RX),
    p("rx-unknown-action", "doc", RX, ("action", SCRIPT)),
    p("rx-unknown-product", "doc", RX, ("action", "add"), ("cis", "00000000"), ("amount", "5")),
    p("rx-product-payload", "doc", RX, ("action", "add"), ("cis", IMG), ("amount", "5")),
    p("rx-product-unicode-digits", "doc", RX, ("action", "add"), ("cis", UNICODE_DIGIT * 8), ("amount", "5")),
    p("rx-amount-letters", "doc", RX, ("action", "add"), ("cis", GLUCOPHAGE), ("amount", "abc")),
    p("rx-amount-huge", "doc", RX, ("action", "add"), ("cis", GLUCOPHAGE), ("amount", "1e9")),
    p("rx-amount-negative", "doc", RX, ("action", "add"), ("cis", GLUCOPHAGE), ("amount", "-5")),
    p("rx-amount-nan", "doc", RX, ("action", "add"), ("cis", GLUCOPHAGE), ("amount", "nan")),
    p("rx-amount-payload", "doc", RX, ("action", "add"), ("cis", GLUCOPHAGE), ("amount", IMG)),
    p(
        "rx-unknown-unit",
        "doc",
        RX,
        ("action", "add"),
        ("cis", GLUCOPHAGE),
        ("amount", "5"),
        ("unit", SCRIPT),
    ),
    p("rx-per-day-7", "doc", RX, ("action", "add"), ("cis", GLUCOPHAGE), ("amount", "5"), ("per_day", "7")),
    p("rx-days-zero", "doc", RX, ("action", "add"), ("cis", GLUCOPHAGE), ("amount", "5"), ("days", "0")),
    p(
        "rx-days-too-many",
        "doc",
        RX,
        ("action", "add"),
        ("cis", GLUCOPHAGE),
        ("amount", "5"),
        ("days", "366"),
    ),
    p(
        "rx-days-unicode-digit",
        "doc",
        RX,
        ("action", "add"),
        ("cis", GLUCOPHAGE),
        ("amount", "5"),
        ("days", UNICODE_DIGIT),
    ),
    p("rx-days-negative", "doc", RX, ("action", "add"), ("cis", GLUCOPHAGE), ("amount", "5"), ("days", "-3")),
    p("rx-text-too-long", "doc", RX, ("action", "add"), ("cis", GLUCOPHAGE), ("text", "t" * 501)),
    p("rx-no-dose", "doc", RX, ("action", "add"), ("cis", GLUCOPHAGE)),
    p(
        "rx-dose-unknown-draft",
        "doc",
        RX,
        ("action", "dose"),
        ("draft", "nothing"),
        ("amount", "5"),
        expect=(409,),
    ),
    p(
        "rx-dose-other-order",
        "doc",
        RX,
        ("action", "dose"),
        ("draft", "mr-alice"),
        ("amount", "5"),
        expect=(409,),
    ),
    p("rx-remove-dotdot", "doc", RX, ("action", "remove"), ("draft", "../mr-alice"), expect=(409,)),
    p("rx-remove-payload", "doc", RX, ("action", "remove"), ("draft", SCRIPT), expect=(409,)),
    p("rx-sign-nothing", "doc", RX, ("action", "sign"), ("version", "x@1"), ("reason-" + "0" * 16, SCRIPT)),
    p("rx-renew-unknown", "doc", RX, ("action", "renew"), ("number", IMG), expect=(409,)),
    p("rx-other-patient", "doc", "/workspace/patient/bob/prescription", ("action", "sign"), expect=(404,)),
]


@pytest.mark.parametrize("probe", FIELD_PROBES, ids=[x.id for x in FIELD_PROBES])
def test_hostile_fields_get_a_clear_answer_and_change_nothing(world: World, probe: Probe) -> None:
    answer = world.post(probe.who, probe.path, list(probe.fields))
    status_in(answer, probe.expect)
    no_echo(answer)
    world.unchanged()


def test_the_refused_posts_left_the_accounts_and_grants_as_they_were(world: World) -> None:
    assert world.get("doc", "/workspace/patient/bob").status_code == 404  # no emergency access granted
    profile = world.get("alice", "/account/profile")
    assert re.findall(r'value="([^"]+)" checked', profile.text) == ["alice"]
    security = world.get("alice", "/account/security")
    assert 'action="/account/security/totp"' in security.text  # TOTP still off: the form is offered


def test_another_accounts_enrolment_does_not_turn_on_totp(world: World) -> None:
    """bob's signed enrolment value (and a code of his secret) posted by alice starts a new
    enrolment for alice; neither account gets TOTP."""
    start = world.post("bob", "/account/security/totp", [("step", "start")])
    status_in(start, (200,))
    fields = form_fields(start.text, "/account/security/totp")
    secret = re.search(r'id="secret">([^<]+)<', start.text)
    assert secret is not None
    code = pyotp.TOTP(secret.group(1)).at(world.inst.clock.now)
    posted = [(k, v) for k, v in fields.items() if k != "csrf"]
    answer = world.post("alice", "/account/security/totp", [*posted, ("code", code)])
    status_in(answer, (200,))  # a new enrolment for alice: another secret, no recovery codes
    assert 'id="secret"' in answer.text and secret.group(1) not in answer.text
    assert "<li><code>" not in answer.text
    for who in ("alice", "bob"):
        assert 'action="/account/security/totp"' in world.get(who, "/account/security").text


# --------------------------------------------------------------------------- reflected values are escaped


def test_reflected_values_are_escaped(world: World) -> None:
    """Each form that shows what was typed shows it as text."""
    echoes = [
        world.post("doc", "/workspace/search", [("name", SCRIPT), ("identifier", IMG)]),
        world.post("doc", "/workspace/open", [("record", SCRIPT + IMG)]),
        world.post("alice", "/portal/privacy/find", [("name", SCRIPT + IMG)]),
        world.post("alice", "/portal/messages", [("message", (SCRIPT + IMG) * 120)]),
        world.post("doc", "/workspace/patient/bob/break-glass", [("reason", IMG + SCRIPT), ("minutes", "1")]),
        world.get("doc", f"{RX}?q={SCRIPT}"),
        world.get("doc", f"{RX}?q=metf&cis={IMG}&done={SCRIPT}&group={IMG}"),
    ]
    for answer in echoes:
        no_echo(answer)
    world.unchanged()


def test_a_sent_message_with_markup_is_shown_as_text(world: World) -> None:
    answer = world.post("alice", "/portal/messages", [("message", f"Bonjour {SCRIPT} {IMG}")])
    status_in(answer, (303,))
    before = world.baseline
    world.rebase()
    assert world.baseline != before  # written: one Communication more
    page = world.get("alice", "/portal/messages")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    no_echo(page)
    for who in ("doc",):
        no_echo(world.get(who, "/workspace/patient/alice/timeline"))


def test_a_refused_sign_in_echoes_the_username_as_text(world: World) -> None:
    answer = world.post(
        "anon", "/login?lang=en", [("step", "password"), ("username", SCRIPT + IMG), ("password", "wrong")]
    )
    status_in(answer, (400,))
    no_echo(answer)


# --------------------------------------------------------------------------- hostile query strings

GET_PROBES = [
    # the worklist's page numbers
    *[
        g(f"worklist-{name}-{label}", "doc", f"/workspace?{name}={value}")
        for name in ("page", "apage")
        for label, value in (
            ("negative", "-1"),
            ("zero", "0"),
            ("letters", "abc"),
            ("float", "1.5"),
            ("exponent", "1e9"),
            ("huge", "9" * 400),
            ("empty", ""),
            ("unicode-digit", UNICODE_DIGIT),
            ("arabic-digits", ARABIC_DIGITS),
            ("fullwidth-digit", "１"),
            ("payload", SCRIPT),
        )
    ],
    g("worklist-repeated-page", "doc", "/workspace?page=1&page=2&page=-1"),
    g("worklist-done-payload", "doc", f"/workspace?done={IMG}"),
    g("chart-done-payload", "doc", f"/workspace/patient/alice?done={SCRIPT}"),
    # the portal's queries
    g("measurements-unknown-period", "alice", "/portal/measurements?period=decade", expect=(400, 404)),
    g("measurements-payload-period", "alice", f"/portal/measurements?period={SCRIPT}", expect=(400, 404)),
    g("measurements-unknown-measure", "alice", "/portal/measurements?measure=__class__", expect=(400, 404)),
    g("measurements-payload-measure", "alice", f"/portal/measurements?measure={IMG}", expect=(400, 404)),
    g(
        "measurements-repeated",
        "alice",
        "/portal/measurements?period=week&period=decade&measure=heart-rate",
        expect=(200, 400, 404),
    ),
    g("measurements-empty", "alice", "/portal/measurements?period=&measure=", expect=(200, 400, 404)),
    g("access-negative", "alice", "/portal/access?before=-1", expect=(400, 404)),
    g("access-letters", "alice", "/portal/access?before=abc", expect=(400, 404)),
    g("access-huge", "alice", "/portal/access?before=" + "9" * 400, expect=(400, 404)),
    g("access-18-nines", "alice", "/portal/access?before=" + "9" * 18, expect=(200, 400, 404)),
    g("access-unicode-digit", "alice", f"/portal/access?before={UNICODE_DIGIT}", expect=(400, 404)),
    g("access-arabic-digits", "alice", f"/portal/access?before={ARABIC_DIGITS}", expect=(200, 400, 404)),
    g("access-others-payload", "alice", f"/portal/access?others={SCRIPT}"),
    g("messages-sent-payload", "alice", f"/portal/messages?sent={IMG}"),
    g("privacy-done-payload", "alice", f"/portal/privacy?done={SCRIPT}"),
    # documents: other records, traversal, long and odd ids
    g("document-other-patient", "alice", "/portal/documents/doc-bob/0", expect=(404,)),
    g("document-proxy-not-shown", "alice", "/portal/documents/doc-charlie/0", expect=(404,)),
    g("document-index-out", "alice", "/portal/documents/doc-alice/99", expect=(404,)),
    g("document-index-huge", "alice", "/portal/documents/doc-alice/" + "9" * 400, expect=(404,)),
    g("document-index-negative", "alice", "/portal/documents/doc-alice/-1", expect=(404,)),
    g("document-dotdot", "alice", "/portal/documents/../documents/doc-bob/0", expect=(404,)),
    g("document-encoded-slash", "alice", "/portal/documents/..%2Fdoc-bob/0", expect=(404,)),
    g("document-encoded-dotdot", "alice", "/portal/documents/%2e%2e/0", expect=(404,)),
    g("document-nul", "alice", "/portal/documents/doc-alice%00/0", expect=(400, 404)),
    g("document-long-id", "alice", f"/portal/documents/{HUGE_ID}/0", expect=(404,)),
    g("document-binary-of-nobody", "alice", "/portal/documents/doc-alice/2", expect=(404,)),
    # the chart of patients outside one's care, traversal, long and odd ids
    *[
        g(f"chart-{label}-{tab or 'summary'}", "doc", f"/workspace/patient/{pid}{tab}", expect=(404,))
        for label, pid in (
            ("other", "bob"),
            ("unknown", "nobody"),
            ("long", LONG_ID),
            ("encoded-dotdot", "%2e%2e"),
        )
        for tab in ("", "/vitals", "/glucose", "/results", "/timeline", "/prescription")
    ],
    g("chart-nul", "doc", "/workspace/patient/alice%00", expect=(400, 404)),
    g("chart-newline", "doc", "/workspace/patient/alice%0A", expect=(400, 404)),
    g("chart-huge-id", "doc", f"/workspace/patient/{HUGE_ID}", expect=(404,)),
    g("chart-document-other", "doc", "/workspace/patient/alice/document/doc-bob", expect=(404,)),
    g("chart-document-of-other", "doc", "/workspace/patient/bob/document/doc-bob", expect=(404,)),
    g("chart-document-dotdot", "doc", "/workspace/patient/alice/document/%2e%2e", expect=(400, 404)),
    g("chart-document-long", "doc", f"/workspace/patient/alice/document/{HUGE_ID}", expect=(404,)),
    g("print-unknown", "doc", "/workspace/patient/alice/prescription/0000000000000000", expect=(404,)),
    g("print-payload", "doc", "/workspace/patient/alice/prescription/%3Cscript%3E", expect=(404,)),
    g("print-other", "doc", "/workspace/patient/bob/prescription/0123456789abcdef", expect=(404,)),
    g("print-long", "doc", f"/workspace/patient/alice/prescription/{'0' * 5000}", expect=(404,)),
    g("btg-get", "doc", "/workspace/patient/bob/break-glass", expect=(303,)),
    # prescribing queries
    g("rx-query-payload", "doc", f"{RX}?q={SCRIPT}"),
    g("rx-query-long", "doc", f"{RX}?q={'metformine ' * 1000}"),
    g("rx-cis-unicode-digits", "doc", f"{RX}?cis={UNICODE_DIGIT * 8}"),
    g("rx-cis-payload", "doc", f"{RX}?cis={IMG}"),
    g("rx-done-payload", "doc", f"{RX}?done=signed&group={SCRIPT}"),
    # language and anything else echoed into the language links
    *[
        g(f"lang-{label}-{who}", who, f"{path}?lang={value}")
        for who, path in (("anon", "/login"), ("alice", "/portal"), ("doc", "/workspace"))
        for label, value in (
            ("unknown", "de"),
            ("payload", SCRIPT),
            ("long", "x" * 10_000),
            ("repeated", "ar&lang=xx&lang=en"),
            ("empty", ""),
        )
    ],
    g("links-payload-parameter", "alice", f"/portal?x={IMG}&{SCRIPT}=1"),
    g("url-too-long", "alice", "/portal?x=" + "a" * 20_000, expect=(414,)),
    # next= and other redirect parameters pointing off-site are ignored
    *[
        g(f"login-next-{i}", "anon", f"/login?next={url}&redirect={url}&return_to={url}")
        for i, url in enumerate(OFF_SITE)
    ],
    *[g(f"root-next-{i}", "alice", f"/?next={url}", expect=(303,)) for i, url in enumerate(OFF_SITE)],
    g("logout-get-anon", "anon", "/logout"),
    g(
        "external-unconfigured",
        "anon",
        "/login/external?client_id=x&redirect_uri=https://evil.example",
        expect=(404,),
    ),
    g(
        "external-callback-forged",
        "anon",
        f"/login/external/callback?code=x&state={SCRIPT}",
        expect=(400, 404),
    ),
]


@pytest.mark.parametrize("probe", GET_PROBES, ids=[x.id for x in GET_PROBES])
def test_hostile_queries_get_a_clear_answer(world: World, probe: Probe) -> None:
    answer = world.get(probe.who, probe.path)
    status_in(answer, probe.expect)
    no_echo(answer)
    if answer.status_code == 303:
        assert local(answer.headers["location"])


# --------------------------------------------------------------------------- open redirects


@pytest.mark.parametrize("target", OFF_SITE)
def test_an_alert_action_never_redirects_off_site(world: World, target: str) -> None:
    """A successful action goes back to the page of the form, whatever ``back`` says."""
    task = f"al-r{OFF_SITE.index(target) + 1}"
    answer = world.post("doc", f"/workspace/alerts/{task}", [("action", "acknowledge"), ("back", target)])
    status_in(answer, (303,))
    assert answer.headers["location"].startswith("/workspace?done=acknowledge")
    world.rebase()


def test_signing_in_never_redirects_off_site(world: World) -> None:
    """``next=``-like parameters in the page URL and in the form are ignored: home is ``/``."""
    jar: dict[str, str] = {}
    evil = "https://evil.example/steal"
    page = world.send("anon", "GET", f"/login?lang=en&next={evil}", cookies=jar)
    jar = dict(world.inst.http.cookies)
    fields = [*hidden_fields(page.text).items(), ("username", "bob"), ("password", PASSWORD)]
    fields += [("next", evil), ("redirect_uri", evil), ("return_to", "//evil.example")]
    answer = world.send(
        "anon",
        "POST",
        f"/login?next={evil}",
        content=urlencode(fields).encode(),
        headers={"Content-Type": FORM},
        cookies=jar,
    )
    status_in(answer, (303,))
    assert answer.headers["location"].startswith("/?lang=")


@pytest.mark.parametrize(
    ("label", "change", "expect"),
    [
        ("unregistered-redirect", {"redirect_uri": "https://evil.example/cb"}, (400,)),
        ("scheme-relative-redirect", {"redirect_uri": "//evil.example/cb"}, (400,)),
        ("javascript-redirect", {"redirect_uri": "javascript:alert(1)"}, (400,)),
        ("registered-prefix", {"redirect_uri": APP_URI + ".evil.example"}, (400,)),
        ("unknown-client", {"client_id": "nobody"}, (400,)),
        ("payload-client", {"client_id": SCRIPT}, (400,)),
        ("unknown-response-type", {"response_type": "token"}, (303, 400)),
        ("payload-state", {"state": IMG}, (200, 303, 400)),
        ("payload-scope", {"scope": SCRIPT}, (200, 303, 400)),
        ("nul-state", {"state": "a\x00b"}, (400,)),
        ("long-state", {"state": "s" * 10_000}, (200, 303, 400)),
        ("payload-aud", {"aud": IMG}, (303, 400)),
    ],
)
def test_the_authorize_endpoint_refuses_hostile_requests(
    world: World, label: str, change: dict[str, str], expect: tuple[int, ...]
) -> None:
    query = urlencode({**world.authorize, **change})
    answer = world.get("anon", f"/oauth/authorize?{query}")
    status_in(answer, expect)
    no_echo(answer)
    location = answer.headers.get("location")
    if location is not None:
        assert location.startswith(APP_URI + "?") or local(location)


def test_the_authorize_endpoint_refuses_repeated_parameters(world: World) -> None:
    query = urlencode(world.authorize) + "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"
    answer = world.get("anon", f"/oauth/authorize?{query}")
    status_in(answer, (400,))


# --------------------------------------------------------------------------- the sign-in steps


SIGNIN_PROBES = [
    ("no-step", [("username", "mallory"), ("password", "x")], (400,)),
    ("unknown-step", [("step", SCRIPT)], (400,)),
    ("totp-without-password", [("step", "totp"), ("code", "123456")], (400,)),
    ("enroll-without-password", [("step", "enroll"), ("code", "123456")], (400,)),
    ("repeated-step", [("step", "totp"), ("step", "password"), ("code", "1")], (400,)),
    ("username-60kb", [("step", "password"), ("username", "u" * 60_000), ("password", "x")], (400,)),
    ("password-60kb", [("step", "password"), ("username", "mallory"), ("password", "p" * 60_000)], (400,)),
    ("empty-credentials", [("step", "password"), ("username", ""), ("password", "")], (400,)),
    (
        "payload-lang",
        [("step", "password"), ("username", "mallory"), ("password", "x"), ("lang", IMG)],
        (400,),
    ),
]


@pytest.mark.parametrize(("label", "fields", "expect"), SIGNIN_PROBES, ids=[x[0] for x in SIGNIN_PROBES])
def test_the_sign_in_steps_refuse_hostile_fields(
    world: World, label: str, fields: list[tuple[str, str]], expect: tuple[int, ...]
) -> None:
    answer = world.post("anon", "/login?lang=en", fields)
    status_in(answer, expect)
    no_echo(answer)
    assert "hygie_session" not in answer.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "pending", ["garbage", "a.b.c", "e" * 5000, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."]
)
def test_a_forged_pending_sign_in_cookie_is_refused(world: World, pending: str) -> None:
    jar = {**world.jars["anon"], "hygie_pending": pending}
    body = urlencode([("csrf", world.csrf["anon"]), ("step", "totp"), ("code", "123456")]).encode()
    answer = world.send("anon", "POST", "/login", content=body, headers={"Content-Type": FORM}, cookies=jar)
    status_in(answer, (400,))
    assert "hygie_session=" not in answer.headers.get("set-cookie", "").replace('hygie_session=""', "")


# --------------------------------------------------------------------------- hostile headers and cookies

COOKIES = {
    "garbage-session": {"hygie_session": "garbage"},
    "empty-session": {"hygie_session": ""},
    "long-session": {"hygie_session": "s" * 4000},
    "payload-session": {"hygie_session": "%3Cscript%3E"},
    "payload-lang": {"hygie_lang": "%22%3E%3Cimg"},
    "long-csrf-cookie": {"hygie_csrf": "c" * 5000},
}


@pytest.mark.parametrize("name", list(COOKIES))
@pytest.mark.parametrize("path", ["/", "/login", "/portal", "/workspace", "/account/security", "/logout"])
def test_hostile_cookies_are_ignored(world: World, path: str, name: str) -> None:
    answer = world.send("anon", "GET", path, cookies=COOKIES[name])
    status_in(answer, (200, 303))
    if answer.status_code == 303:
        assert answer.headers["location"].startswith("/login")


def test_a_hostile_session_cookie_beside_a_good_one_signs_nobody_else_in(world: World) -> None:
    header = f"hygie_session=garbage; hygie_session={world.jars['alice']['hygie_session']}"
    answer = world.send("anon", "GET", "/portal", headers={"Cookie": header}, cookies={})
    status_in(answer, (200, 303))


@pytest.mark.parametrize("path", ["/", "/login", "/portal", "/logout"])
def test_non_ascii_cookie_and_language_headers_are_answered(world: World, path: str) -> None:
    """Header bytes outside ASCII (Latin-1 on the wire, or UTF-8 read as Latin-1)."""
    world.inst.http.cookies.clear()
    for header, value in (
        ("Cookie", "hygie_session=\u00e9\u00e8; hygie_lang=\u00e9".encode("latin-1")),
        ("Cookie", "hygie_session=\u00e9t\u00e9".encode()),
        ("Accept-Language", "ar-\u00e9, en;q=0.5".encode("latin-1")),
    ):
        raw = {header.encode(): value}
        answer = world.inst.http.request("GET", path, headers=raw, follow_redirects=False)
        sound(answer)
        status_in(answer, (200, 303, 400))


def test_an_oversized_cookie_header_is_answered(world: World) -> None:
    cookies = {**world.jars["alice"], **{f"junk{i}": "j" * 4000 for i in range(25)}}
    status_in(world.send("alice", "GET", "/portal", cookies=cookies), (200, 400, 431))


ACCEPT_LANGUAGES = [
    "ar;q=abc",
    "en;q=1e999",
    "en;q=nan",
    "en;q=inf, ar;q=-inf",
    "*",
    ",,,;;;,",
    ";q=1",
    "x" * 8000,
    ",".join(["de"] * 5000),
    f"{SCRIPT}",
]


@pytest.mark.parametrize("value", ACCEPT_LANGUAGES, ids=[f"al{i}" for i in range(len(ACCEPT_LANGUAGES))])
@pytest.mark.parametrize("path", ["/login", "/logout", "/oauth/authorize", "/portal"])
def test_hostile_accept_language_is_ignored(world: World, path: str, value: str) -> None:
    who = "alice" if path == "/portal" else "anon"
    jar = {k: v for k, v in world.jars[who].items() if k != "hygie_lang"}
    answer = world.send(who, "GET", path, headers={"Accept-Language": value}, cookies=jar)
    status_in(answer, (200, 400))
    assert re.search(r'<html lang="(fr|en|ar)" dir="(ltr|rtl)">', answer.text)


@pytest.mark.parametrize("host", ["evil.example", "a" * 300, "[::1", "host:99999", "exa mple"])
def test_a_hostile_host_header_is_answered(world: World, host: str) -> None:
    for who, path in (("alice", "/portal/documents"), ("doc", "/workspace/patient/alice/timeline")):
        answer = world.send(who, "GET", path, headers={"Host": host})
        status_in(answer, (200, 400))


# --------------------------------------------------------------------------- unknown paths and methods

UNKNOWN = [
    "/portal/nothing",
    "/portal/documents/doc-alice",
    "/portal/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/portal/..%2F..%2Fworkspace",
    "/portal/%2e%2e/%2e%2e/etc/passwd",
    "/workspace/nothing",
    "/workspace/patient",
    "/workspace/patient/alice/nothing",
    "/workspace/patient/alice/vitals/extra",
    "/account/nothing",
    "/portal/" + "x" * 5000,
    "/workspace/alerts",
]


@pytest.mark.parametrize("who", ["anon", "alice", "doc"])
@pytest.mark.parametrize("path", UNKNOWN)
def test_unknown_paths_are_404(world: World, who: str, path: str) -> None:
    answer = world.get(who, path)
    status_in(answer, (404,))
    assert "<script>" not in answer.text
    # the web's own error page (the layout, in the reader's language), not a FHIR OperationOutcome
    assert answer.headers["content-type"].startswith("text/html")
    assert re.search(r'<html[^>]* lang="(fr|en|ar)"', answer.text)


@pytest.mark.parametrize("path", ["/portal/nothing", "/workspace/patient/alice/nothing", "/account/nothing"])
def test_posts_to_unknown_paths_are_404(world: World, path: str) -> None:
    answer = world.post("alice", path, [("x", SCRIPT)])
    status_in(answer, (404,))
    assert answer.headers["content-type"].startswith("text/html")
    world.unchanged()


@pytest.mark.parametrize(
    ("who", "method", "path"),
    [
        ("alice", "PUT", "/portal"),
        ("alice", "DELETE", "/portal/messages"),
        ("alice", "GET", "/portal/record/download"),
        ("alice", "GET", "/portal/privacy/block"),
        ("alice", "PATCH", "/account/profile"),
        ("doc", "GET", "/workspace/alerts/al-1"),
        ("doc", "GET", "/workspace/open"),
        ("doc", "DELETE", "/workspace/patient/alice/prescription"),
        ("anon", "DELETE", "/login"),
        ("anon", "PUT", "/logout"),
    ],
)
def test_unexpected_methods_are_405(world: World, who: str, method: str, path: str) -> None:
    status_in(world.send(who, method, path), (405,))
    world.unchanged()


# --------------------------------------------------------------------------- at the end


def test_the_sessions_survived_every_probe(world: World) -> None:
    for who in ("alice", "bob", "bob2", "doc"):
        alive(world, who)
    assert world.get("doc", "/workspace/patient/bob").status_code == 404

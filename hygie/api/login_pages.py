"""The server-rendered sign-in and consent pages (no JavaScript), in French or English.

:class:`LoginPages` is what the sign-in flow (:mod:`hygie.api.signin`) needs from its pages; the
composition root plugs in the web UI's design-system pages (``hygie.web.signin_pages``: French,
English, Arabic). The plain pages of this module (:data:`PLAIN`) serve when no web UI is mounted.

Every value is HTML-escaped; every form carries a CSRF token; pages are sent with
``Cache-Control: no-store`` and a Content-Security-Policy that allows nothing but their own
inline style (by hash) and posting forms to this server (plus, on the consent page, the app's
redirect origin, which the browser follows after approval). Texts are registered with
:func:`hygie.fhir.messages.register` so both languages stay complete.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from html import escape
from typing import Protocol

from starlette.responses import HTMLResponse, Response

from hygie.api.http import language
from hygie.fhir.messages import register, render

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}"
    "label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.4rem}"
    "button{margin-top:1rem;padding:.5rem 1rem}.error{color:#a00000;font-weight:bold}"
    "code{word-break:break-all}"
)
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()

register(
    {
        "page_signin_title": {"fr": "Connexion à Hygie", "en": "Sign in to Hygie"},
        "page_username": {"fr": "Identifiant", "en": "Username"},
        "page_password": {"fr": "Mot de passe", "en": "Password"},
        "page_signin": {"fr": "Se connecter", "en": "Sign in"},
        "page_external": {
            "fr": "Professionnel : se connecter avec {name}",
            "en": "Professional: sign in with {name}",
        },
        "page_app_asks": {
            "fr": "L'application « {app} » demande l'accès à votre dossier.",
            "en": "The app “{app}” asks to access your record.",
        },
        "page_totp_title": {"fr": "Double authentification", "en": "Two-factor authentication"},
        "page_totp_code": {
            "fr": "Code à 6 chiffres de votre application (ou un code de secours)",
            "en": "6-digit code from your app (or a recovery code)",
        },
        "page_verify": {"fr": "Vérifier", "en": "Verify"},
        "page_enroll_title": {
            "fr": "Configurer la double authentification",
            "en": "Set up two-factor authentication",
        },
        "page_enroll_help": {
            "fr": "Ajoutez ce compte à votre application d'authentification (adresse otpauth ou clé "
            "ci-dessous), puis saisissez le code qu'elle affiche.",
            "en": "Add this account to your authenticator app (otpauth address or key below), "
            "then type the code it shows.",
        },
        "page_enroll_key": {"fr": "Clé :", "en": "Key:"},
        "page_recovery_title": {"fr": "Codes de secours", "en": "Recovery codes"},
        "page_recovery_help": {
            "fr": "Conservez ces codes en lieu sûr : chacun remplace une fois le code de votre "
            "application. Ils ne seront plus affichés.",
            "en": "Keep these codes somewhere safe: each one replaces your app's code once. They "
            "will not be shown again.",
        },
        "page_continue": {"fr": "Continuer", "en": "Continue"},
        "page_consent_title": {"fr": "Autoriser l'application", "en": "Authorise the app"},
        "page_consent_who": {"fr": "Connecté en tant que {name}.", "en": "Signed in as {name}."},
        "page_consent_scopes": {"fr": "Accès demandés :", "en": "Requested access:"},
        "page_patient": {"fr": "Patient", "en": "Patient"},
        "page_patient_id": {
            "fr": "Identifiant du patient (parmi ceux que vous suivez)",
            "en": "Patient id (among the patients you care for)",
        },
        "page_approve": {"fr": "Autoriser", "en": "Allow"},
        "page_deny": {"fr": "Refuser", "en": "Deny"},
        "page_signed_in": {"fr": "Vous êtes connecté·e : {name}.", "en": "You are signed in: {name}."},
        "page_signout": {"fr": "Se déconnecter", "en": "Sign out"},
        "page_signed_out": {"fr": "Vous êtes déconnecté·e.", "en": "You are signed out."},
        "page_error_title": {"fr": "Erreur", "en": "Error"},
        "oauth_unknown_client": {
            "fr": "Application inconnue ou désactivée.",
            "en": "Unknown or disabled application.",
        },
        "oauth_bad_redirect_uri": {
            "fr": "Adresse de retour (redirect_uri) absente ou non enregistrée pour cette application.",
            "en": "Return address (redirect_uri) missing or not registered for this application.",
        },
        "csrf_failed": {
            "fr": "Formulaire expiré ou invalide (protection CSRF) : rechargez la page.",
            "en": "Expired or invalid form (CSRF protection): reload the page.",
        },
        "bad_form": {"fr": "Formulaire invalide.", "en": "Invalid form."},
        "signin_expired": {
            "fr": "Connexion expirée : recommencez.",
            "en": "Sign-in expired: start again.",
        },
        "patient_required": {
            "fr": "Choisissez un patient que vous pouvez consulter.",
            "en": "Choose a patient you may see.",
        },
    }
)


def t(key: str, lang: str, **params: str) -> str:
    """A registered text, HTML-escaped."""
    return escape(render(key, lang, params))


def _hidden(fields: Mapping[str, str]) -> str:
    return "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items())


def _error(error: str | None, lang: str) -> str:
    return f'<p class="error" role="alert">{t(error, lang)}</p>' if error else ""


def page(
    title: str, body: str, lang: str, *, status: int = 200, form_targets: Iterable[str] = ()
) -> HTMLResponse:
    """A complete page with its security headers."""
    html = (
        f'<!DOCTYPE html><html lang="{escape(lang)}" dir="ltr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{STYLE}</style></head><body><main><h1>{title}</h1>{body}"
        "</main></body></html>"
    )
    targets = " ".join(["'self'", *form_targets])
    csp = (
        f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; form-action {targets}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": csp, "X-Frame-Options": "DENY"}
    return HTMLResponse(html, status_code=status, headers=headers)


def signin_form(
    action: str,
    hidden: Mapping[str, str],
    lang: str,
    *,
    app: str | None = None,
    error: str | None = None,
    username: str = "",
    status: int = 200,
    external: tuple[str, str] | None = None,  # (provider name, URL)
) -> HTMLResponse:
    intro = f"<p>{t('page_app_asks', lang, app=app)}</p>" if app else ""
    if external is not None:
        name, href = external
        intro += f'<p><a id="external" href="{escape(href)}">{t("page_external", lang, name=name)}</a></p>'
    body = (
        f'{intro}{_error(error, lang)}<form method="post" action="{escape(action)}">{_hidden(hidden)}'
        '<input type="hidden" name="step" value="password">'
        f'<label for="username">{t("page_username", lang)}</label>'
        f'<input type="text" id="username" name="username" value="{escape(username)}" '
        'autocomplete="username" required>'
        f'<label for="password">{t("page_password", lang)}</label>'
        '<input type="password" id="password" name="password" autocomplete="current-password" required>'
        f'<button type="submit">{t("page_signin", lang)}</button></form>'
    )
    return page(t("page_signin_title", lang), body, lang, status=status)


def totp_form(
    action: str, hidden: Mapping[str, str], lang: str, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    body = (
        f'{_error(error, lang)}<form method="post" action="{escape(action)}">{_hidden(hidden)}'
        '<input type="hidden" name="step" value="totp">'
        f'<label for="code">{t("page_totp_code", lang)}</label>'
        '<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>'
        f'<button type="submit">{t("page_verify", lang)}</button></form>'
    )
    return page(t("page_totp_title", lang), body, lang, status=status)


def enroll_form(
    action: str,
    hidden: Mapping[str, str],
    lang: str,
    *,
    uri: str,
    secret: str,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    body = (
        f"{_error(error, lang)}<p>{t('page_enroll_help', lang)}</p>"
        f'<p><code id="otpauth">{escape(uri)}</code></p>'
        f'<p>{t("page_enroll_key", lang)} <code id="secret">{escape(secret)}</code></p>'
        f'<form method="post" action="{escape(action)}">{_hidden(hidden)}'
        '<input type="hidden" name="step" value="enroll">'
        f'<label for="code">{t("page_totp_code", lang)}</label>'
        '<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>'
        f'<button type="submit">{t("page_verify", lang)}</button></form>'
    )
    return page(t("page_enroll_title", lang), body, lang, status=status)


def recovery_page(codes: list[str], next_url: str, lang: str) -> HTMLResponse:
    items = "".join(f"<li><code>{escape(c)}</code></li>" for c in codes)
    body = (
        f'<p>{t("page_recovery_help", lang)}</p><ul id="recovery-codes">{items}</ul>'
        f'<p><a href="{escape(next_url)}">{t("page_continue", lang)}</a></p>'
    )
    return page(t("page_recovery_title", lang), body, lang)


def consent_page(
    action: str,
    hidden: Mapping[str, str],
    lang: str,
    *,
    app: str,
    who: str,
    scopes: list[str],
    patient_field: str | None,  # "choice", "text" or None
    choices: tuple[str, ...] = (),
    redirect_origin: str,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    items = "".join(f"<li><code>{escape(s)}</code></li>" for s in scopes)
    field = ""
    if patient_field == "choice":
        options = "".join(f'<option value="{escape(p)}">Patient/{escape(p)}</option>' for p in choices)
        field = (
            f'<label for="patient">{t("page_patient", lang)}</label>'
            f'<select id="patient" name="patient">{options}</select>'
        )
    elif patient_field == "text":
        field = (
            f'<label for="patient">{t("page_patient_id", lang)}</label>'
            '<input type="text" id="patient" name="patient" required>'
        )
    body = (
        f"{_error(error, lang)}<p>{t('page_app_asks', lang, app=app)}</p>"
        f"<p>{t('page_consent_who', lang, name=who)}</p>"
        f"<p>{t('page_consent_scopes', lang)}</p><ul>{items}</ul>"
        f'<form method="post" action="{escape(action)}">{_hidden(hidden)}'
        f'<input type="hidden" name="step" value="consent">{field}'
        f'<button type="submit" name="decision" value="approve">{t("page_approve", lang)}</button> '
        f'<button type="submit" name="decision" value="deny">{t("page_deny", lang)}</button></form>'
    )
    return page(t("page_consent_title", lang), body, lang, status=status, form_targets=[redirect_origin])


def signed_in_page(who: str, csrf: str, lang: str) -> HTMLResponse:
    body = (
        f"<p>{t('page_signed_in', lang, name=who)}</p>"
        f'<form method="post" action="/logout">{_hidden({"csrf": csrf, "lang": lang})}'
        f'<button type="submit">{t("page_signout", lang)}</button></form>'
    )
    return page(t("page_signin_title", lang), body, lang)


def signed_out_page(lang: str) -> HTMLResponse:
    body = (
        f'<p>{t("page_signed_out", lang)}</p><p><a href="/login?lang={lang}">{t("page_signin", lang)}</a></p>'
    )
    return page(t("page_signin_title", lang), body, lang)


def error_page(key: str, lang: str, status: int = 400) -> HTMLResponse:
    return page(t("page_error_title", lang), _error(key, lang), lang, status=status)


class LoginPages(Protocol):
    """The pages of the sign-in flow. ``home``: where a signed-in person goes after signing in
    (``/login`` itself when there is no web UI); ``languages``: the page languages, the first
    the default."""

    home: str
    languages: tuple[str, ...]

    def choose_language(
        self, chosen: str | None, remembered: str | None, accept: str | None, default: str
    ) -> str: ...

    def signin_form(
        self,
        action: str,
        hidden: Mapping[str, str],
        lang: str,
        *,
        app: str | None = None,
        error: str | None = None,
        username: str = "",
        status: int = 200,
        external: tuple[str, str] | None = None,
    ) -> Response: ...

    def totp_form(
        self,
        action: str,
        hidden: Mapping[str, str],
        lang: str,
        *,
        error: str | None = None,
        status: int = 200,
    ) -> Response: ...

    def enroll_form(
        self,
        action: str,
        hidden: Mapping[str, str],
        lang: str,
        *,
        uri: str,
        secret: str,
        error: str | None = None,
        status: int = 200,
    ) -> Response: ...

    def recovery_page(self, codes: list[str], next_url: str, lang: str) -> Response: ...

    def consent_page(
        self,
        action: str,
        hidden: Mapping[str, str],
        lang: str,
        *,
        app: str,
        who: str,
        scopes: list[str],
        patient_field: str | None,
        choices: tuple[str, ...] = (),
        redirect_origin: str,
        error: str | None = None,
        status: int = 200,
    ) -> Response: ...

    def signed_in_page(self, who: str, csrf: str, lang: str) -> Response: ...

    def signed_out_page(self, lang: str) -> Response: ...

    def error_page(self, key: str, lang: str, status: int = 400) -> Response: ...


class _Plain:
    """The plain pages of this module as a :class:`LoginPages`."""

    home: str = "/login"
    languages: tuple[str, ...] = ("fr", "en")

    def choose_language(
        self, chosen: str | None, remembered: str | None, accept: str | None, default: str
    ) -> str:
        for lang in (chosen, remembered):
            if lang in self.languages:
                return lang
        return language(accept, default)

    signin_form = staticmethod(signin_form)
    totp_form = staticmethod(totp_form)
    enroll_form = staticmethod(enroll_form)
    recovery_page = staticmethod(recovery_page)
    consent_page = staticmethod(consent_page)
    signed_in_page = staticmethod(signed_in_page)
    signed_out_page = staticmethod(signed_out_page)
    error_page = staticmethod(error_page)


PLAIN: LoginPages = _Plain()

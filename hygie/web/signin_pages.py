"""The sign-in, two-factor, consent and sign-out pages in the design system, in French, English
and Arabic: the :class:`~hygie.api.login_pages.LoginPages` the composition root gives the sign-in
flow (:mod:`hygie.api.signin`, which keeps every rule: throttling, CSRF, sessions, audit).

Forms and links keep the exact shapes the flow's tests and clients read: hidden fields as
``<input type="hidden" name=… value=…>``, forms as ``<form method="post" action=…>``, the TOTP
key in ``id="secret"``, the recovery codes in ``id="recovery-codes"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from hygie.web import i18n
from hygie.web.render import language_links, layout_values, render_page

# Every message key the sign-in flow may show (hygie.api.signin, hygie.auth.accounts,
# hygie.auth.oauth.authorization, hygie.api.external_login): the catalogue test checks each one
# exists in the three languages.
SIGNIN_MESSAGES = (
    "oauth_unknown_client",
    "oauth_bad_redirect_uri",
    "csrf_failed",
    "bad_form",
    "signin_expired",
    "patient_required",
    "invalid_credentials",
    "invalid_second_factor",
    "second_factor_required",
    "totp_enrollment_required",
    "account_locked",
    "rate_limited",
    "account_disabled",
    "external_unavailable",
    "external_failed",
    "external_no_account",
)
_NOT_IN_LINKS = frozenset({"csrf", "lang", "step"})


def _links(action: str, hidden: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """Language links that keep the pending SMART authorization request, if any."""
    params = {k: v for k, v in (hidden or {}).items() if k not in _NOT_IN_LINKS}
    return language_links(action if action.startswith("/") else "/login", params)


class WebLoginPages:
    home = "/"
    languages: tuple[str, ...] = i18n.LANGUAGES

    def choose_language(
        self, chosen: str | None, remembered: str | None, accept: str | None, default: str
    ) -> str:
        return i18n.choose(chosen, remembered, accept, default)

    def _page(
        self,
        template: str,
        lang: str,
        title: str,
        *,
        links: list[dict[str, str]] | None = None,
        status: int = 200,
        form_targets: tuple[str, ...] = (),
        **values: Any,
    ) -> Response:
        layout = layout_values(lang, title=title, links=links or _links("/login"))
        return render_page(template, {**layout, **values}, status=status, form_targets=form_targets)

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
    ) -> Response:
        return self._page(
            "signin/password.html",
            lang,
            "page_signin_title",
            links=_links(action, hidden),
            status=status,
            action=action,
            hidden=hidden,
            app=app,
            error=error,
            username=username,
            external=external,
        )

    def totp_form(
        self,
        action: str,
        hidden: Mapping[str, str],
        lang: str,
        *,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        return self._page(
            "signin/totp.html",
            lang,
            "page_totp_title",
            links=_links(action, hidden),
            status=status,
            action=action,
            hidden=hidden,
            error=error,
        )

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
    ) -> Response:
        return self._page(
            "signin/enroll.html",
            lang,
            "page_enroll_title",
            links=_links(action, hidden),
            status=status,
            action=action,
            hidden=hidden,
            uri=uri,
            secret=secret,
            error=error,
        )

    def recovery_page(self, codes: list[str], next_url: str, lang: str) -> Response:
        return self._page("signin/recovery.html", lang, "page_recovery_title", codes=codes, next_url=next_url)

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
    ) -> Response:
        return self._page(
            "signin/consent.html",
            lang,
            "page_consent_title",
            links=_links(action, hidden),
            status=status,
            form_targets=(redirect_origin,),
            action=action,
            hidden=hidden,
            app=app,
            who=who,
            scopes=scopes,
            patient_field=patient_field,
            choices=choices,
            error=error,
        )

    def signed_in_page(self, who: str, csrf: str, lang: str) -> Response:
        return self._page("signin/signed_in.html", lang, "page_signin_title", who=who, csrf=csrf)

    def signed_out_page(self, lang: str) -> Response:
        return self._page("signin/signed_out.html", lang, "page_signed_out")

    def error_page(self, key: str, lang: str, status: int = 400) -> Response:
        return self._page("error.html", lang, "page_error_title", status=status, message=key)

"""Screenshots of the foundation's pages (sign-in, homes, account): see tests/e2e/screenshots.py."""

from __future__ import annotations

from tests.e2e.screenshots import Shot

SHOTS = [
    Shot("signin-fr", "/login", who=None, lang="fr"),
    Shot("signin-ar", "/login", who=None, lang="ar"),
    Shot("portal-home-fr", "/portal", who="patient", lang="fr"),
    Shot("account-security-en", "/account/security", who="patient", lang="en"),
    Shot("account-profile-fr", "/account/profile", who="patient", lang="fr"),
    Shot("workspace-home-fr", "/workspace", who="professional", lang="fr"),
    Shot("workspace-home-ar", "/workspace", who="professional", lang="ar"),
]

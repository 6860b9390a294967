"""``/portal``: my health summary (both databases) — plain words, dates in the person's language,
nothing of another patient, the record of the child after "switch profile"."""

from __future__ import annotations

from hygie.settings import Settings
from tests.security.smart_support import installation
from tests.web.portal.support import seed, words
from tests.web.support import login, post_form


def test_the_summary_tells_the_record_in_plain_words(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        login(inst, "alice", lang="en")
        page = inst.http.get("/portal")
        assert page.status_code == 200
        problems = words(page.text, "problems")
        assert "Diabète de type 2 Since March 2019" in problems
        treatments = words(page.text, "treatments")
        assert treatments.count("METFORMINE 1000 mg") == 1 and "Metformine" not in treatments  # one line
        assert "1 comprimé matin et soir" in treatments
        assert "Prescribed by Claire Martin Since 1 October 2026" in treatments
        allergies = words(page.text, "allergies")
        assert "Pénicilline Serious" in allergies and "Reaction: Urticaire" in allergies
        assert "Tétanos (rappel) Date: 5 March 2013" in words(page.text, "vaccinations")
        assert words(page.text, "doctor").startswith("Your family doctor: Claire Martin, doctor")
        # Nothing of bob, nothing of charlie (the record shown is alice's own)
        assert "Secret de Bob" not in page.text and "Asthme de Charlie" not in page.text
        # The section menu marks the page
        assert '<a href="/portal" aria-current="page">My summary</a>' in page.text


def test_dates_and_words_follow_the_language(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        login(inst, "alice", lang="fr")
        french = inst.http.get("/portal")
        assert "Depuis : mars 2019" in words(french.text, "problems")
        assert "Date : 5 mars 2013" in words(french.text, "vaccinations")
        arabic = inst.http.get("/portal?lang=ar")
        assert '<html lang="ar" dir="rtl">' in arabic.text
        assert "التاريخ: 5 مارس 2013" in words(arabic.text, "vaccinations")
        assert "خطيرة" in words(arabic.text, "allergies")


def test_switching_profile_shows_the_childs_record(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        login(inst, "alice", lang="en")
        profile = inst.http.get("/account/profile")
        assert post_form(inst, profile.text, "/account/profile", patient="charlie").status_code == 303
        page = inst.http.get("/portal")
        problems = words(page.text, "problems")
        assert "Asthme de Charlie Since 2 May 2024" in problems and "Diabète" not in problems
        assert "No current treatment is written in your record." in words(page.text, "treatments")


def test_the_portal_is_for_patients(settings: Settings) -> None:
    with installation(settings) as inst:
        assert (
            inst.http.get("/portal/measurements", follow_redirects=False)
            .headers["location"]
            .startswith("/login")
        )
        login(inst, "drmartin")
        for path in ("/portal", "/portal/documents", "/portal/access", "/portal/privacy", "/portal/record"):
            assert inst.http.get(path).status_code == 403, path

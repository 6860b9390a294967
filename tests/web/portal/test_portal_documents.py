"""``/portal/documents`` (both databases): the list, each attachment downloaded exactly as stored,
and nothing of a record that is not the one shown."""

from __future__ import annotations

from hygie.settings import Settings
from tests.security.smart_support import installation
from tests.web.portal.support import PDF, seed, words
from tests.web.support import login, post_form


def test_documents_are_listed_and_downloaded_as_stored(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        login(inst, "alice", lang="en")
        page = inst.http.get("/portal/documents")
        listed = words(page.text, "documents")
        assert (
            "22 November 2026 Courrier du Dr Martin Courrier de consultation Claire Martin, doctor" in listed
        )
        assert "Download Courrier (text, 1 KB)" in listed and "Download Courrier PDF (PDF, 1 KB)" in listed
        assert "Lettre de Bob" not in page.text and "Carnet de Charlie" not in page.text
        text = inst.http.get("/portal/documents/doc-alice/0")
        assert text.status_code == 200 and text.content == "Rennes, le 22/11/2026\nCher confrère,\n".encode()
        assert text.headers["content-type"].startswith("text/plain")
        assert text.headers["content-disposition"] == 'attachment; filename="doc-alice-1-Courrier.txt"'
        assert "sandbox" in text.headers["content-security-policy"]
        assert text.headers["cache-control"] == "no-store"
        pdf = inst.http.get("/portal/documents/doc-alice/1")
        assert pdf.content == PDF and pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["content-disposition"] == 'attachment; filename="doc-alice-2-Courrier-PDF.pdf"'
        # A Binary the patient's account may not read: a page that says so, not the file
        scan = inst.http.get("/portal/documents/doc-alice/2")
        assert scan.status_code == 404 and "This file cannot be downloaded here." in scan.text
        # A Binary whose securityContext is her record: hers
        radio = inst.http.get("/portal/documents/doc-alice/3")
        assert radio.status_code == 200 and radio.content == PDF


def test_only_the_documents_of_the_record_shown(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        login(inst, "alice", lang="en")
        for path in (
            "/portal/documents/doc-bob/0",  # another patient's: as if it did not exist
            "/portal/documents/doc-charlie/0",  # a record alice acts for, but not the one shown
            "/portal/documents/doc-alice/4",
            "/portal/documents/nothing/0",
            "/portal/documents/a%2Fb/0",
        ):
            answer = inst.http.get(path)
            assert answer.status_code == 404, path
            assert "Rennes" not in answer.text
        profile = inst.http.get("/account/profile")
        post_form(inst, profile.text, "/account/profile", patient="charlie")
        assert "Carnet de Charlie" in inst.http.get("/portal/documents").text
        assert inst.http.get("/portal/documents/doc-charlie/0").status_code == 200
        assert inst.http.get("/portal/documents/doc-alice/0").status_code == 404

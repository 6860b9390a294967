"""``/portal/record`` (both databases): the portability ZIP in one click — a valid ``hygie-record``
ZIP whose manifest covers every file, of the record shown only, through a CSRF-checked POST."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from hygie.settings import Settings
from tests.security.smart_support import installation
from tests.web.portal.support import seed, words
from tests.web.support import form_fields, login, post_form


def unzip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_record_downloads_as_a_valid_zip(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        login(inst, "alice", lang="en")
        page = inst.http.get("/portal/record")
        assert "summary/summary.pdf" in words(page.text, "contents")
        assert 'value="en" checked' in page.text  # the summary in the page's language
        answer = post_form(inst, page.text, "/portal/record/download", summary="fr")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/zip"
        assert answer.headers["content-disposition"].startswith("attachment;")
        assert "hygie-record-alice.zip" in answer.headers["content-disposition"]
        assert answer.headers["cache-control"] == "no-store"
        files = unzip(answer.content)
        manifest = json.loads(files.pop("manifest.json"))
        assert manifest["format"] == "hygie-record" and manifest["scope"] == {"patient": "alice"}
        assert manifest["language"] == "fr"
        assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
            name: hashlib.sha256(data).hexdigest() for name, data in files.items()
        }
        patients = [json.loads(line)["id"] for line in files["fhir/Patient.ndjson"].splitlines()]
        assert patients == ["alice"]
        conditions = files["fhir/Condition.ndjson"].decode()
        assert "Diabète de type 2" in conditions and "Bob" not in conditions and "Charlie" not in conditions
        assert "summary/summary.pdf" in files and any(n.startswith("documents/doc-alice") for n in files)
        # The download is in alice's access history, in plain words
        assert "You Downloaded the whole record" in words(inst.http.get("/portal/access").text, "accesses")


def test_the_download_is_a_checked_post_for_the_record_shown(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        login(inst, "alice", lang="ar")
        page = inst.http.get("/portal/record")
        assert 'value="fr" checked' in page.text  # no Arabic summary: French by default
        assert inst.http.get("/portal/record/download").status_code == 405
        fields = {k: v for k, v in form_fields(page.text, "/portal/record/download").items() if k != "csrf"}
        forged = inst.http.post("/portal/record/download", data={**fields, "summary": "fr"})
        assert forged.status_code == 403 and forged.headers["content-type"].startswith("text/html")
        assert post_form(inst, page.text, "/portal/record/download", summary="de").status_code == 400
        profile = inst.http.get("/account/profile")
        post_form(inst, profile.text, "/account/profile", patient="charlie")
        child = post_form(inst, page.text, "/portal/record/download", summary="en")
        files = unzip(child.content)
        assert json.loads(files["manifest.json"])["scope"] == {"patient": "charlie"}
        assert json.loads(files["manifest.json"])["language"] == "en"
        assert "Asthme de Charlie" in files["fhir/Condition.ndjson"].decode()

"""``/portal/access`` (both databases): who accessed my record, from the audit trail, in plain
words — professionals with their role, emergency openings highlighted with their reason, refused
attempts, my own visits (hidden on request), paged; nothing about anybody else's record."""

from __future__ import annotations

import re

from hygie.settings import Settings
from tests.api.support import H
from tests.security.smart_support import installation
from tests.security.test_break_glass import REASON, add_professional_account, btg, professional
from tests.support import operator_header
from tests.web.portal.support import doctor, seed, words
from tests.web.support import login, put_resources


def test_professional_accesses_in_plain_words(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        put_resources(
            inst,
            {"resourceType": "Practitioner", "id": "pb", "name": [{"family": "Bernard", "given": ["Paul"]}]},
        )
        add_professional_account(settings)
        gp, pb = doctor(settings), professional(settings)
        assert inst.http.get("/fhir/Observation?patient=alice", headers=gp).status_code == 200
        assert inst.http.get("/fhir/Patient/alice", headers=pb).status_code == 404  # not his patient
        opened = inst.http.post("/fhir/Patient/alice/$break-glass", json=btg(minutes=30), headers={**pb, **H})
        assert opened.status_code == 200, opened.text
        assert inst.http.get("/fhir/Condition?patient=alice", headers=pb).status_code == 200
        inst.http.get(
            "/fhir/Patient/bob", headers=operator_header(settings)
        )  # bob's record: not alice's business
        login(inst, "alice", lang="en")
        page = inst.http.get("/portal/access")
        history = words(page.text, "accesses")
        assert (
            "Claire Martin, doctor (general practice), Maison de santé des Lices Viewed your record"
            in history
        )
        assert "About: measurements and results" in history
        # what Paul Bernard read under break-the-glass is marked as an emergency access
        assert "Paul Bernard Emergency access Viewed your record About: health problems" in history
        assert "You Signed in" in history
        # two emergency lines: the opening itself (its audit event names the patient) and the read
        banner = words(page.text, "emergency-accesses")
        assert banner.startswith("Your record was opened in an emergency.") and banner.endswith(
            "(on this page: 2)."
        )
        # and the notice of the opening, with its reason, is among alice's messages
        assert "Message from Paul Bernard" in words(inst.http.get("/portal/messages").text, "inbox")
        assert REASON in inst.http.get("/portal/messages").text
        assert "bob" not in page.text.lower()
        # My own visits can be left out
        others = words(inst.http.get("/portal/access?others=1").text, "accesses")
        assert "You " not in others and "Paul Bernard" in others


def test_the_history_is_paged_by_entry_ids(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        gp = doctor(settings)
        for _ in range(60):  # 60 reads, then 60 searches: more entries than one page holds
            inst.http.get("/fhir/Patient/alice", headers=gp)
        for _ in range(60):
            inst.http.get("/fhir/Observation?patient=alice", headers=gp)
        login(inst, "alice", lang="en")
        first = inst.http.get("/portal/access")
        older = re.search(r'href="/portal/access\?before=(\d+)" rel="next"', first.text)
        assert older is not None and "Back to the newest" not in first.text
        second = inst.http.get(f"/portal/access?before={older.group(1)}")
        assert second.status_code == 200 and "Back to the newest" in second.text
        counts = [
            int(n)
            for n in re.findall(
                r"(\d+) times", words(first.text, "accesses") + words(second.text, "accesses")
            )
        ]
        assert sum(counts) >= 120 - 2  # every read and search, grouped, across both pages
        for bad in ("abc", "-1", "9" * 19):
            assert inst.http.get(f"/portal/access?before={bad}").status_code == 404

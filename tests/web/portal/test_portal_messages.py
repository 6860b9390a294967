"""``/portal/messages`` (both databases): monitoring alerts in plain words, messages from the care
team, and a message sent to them (a Communication the GP reads through the FHIR API)."""

from __future__ import annotations

from hygie.settings import Settings
from tests.security.smart_support import installation
from tests.support import operator_header
from tests.web.portal.support import alert, doctor, seed, words
from tests.web.support import form_fields, login, post_form, put_resources


def test_alerts_and_messages_in_plain_words(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        put_resources(
            inst, *alert("al-2", "alice", "goal-g1-0-high", status="accepted", owner="Practitioner/gp")
        )
        login(inst, "alice", lang="en")
        page = inst.http.get("/portal/messages")
        alerts = words(page.text, "alerts")
        assert (
            "Important The oxygen level in your blood stayed low (under 92%) for several minutes." in alerts
        )
        assert "Your care team has been told and will look at it." in alerts
        assert "A measurement went above the limit your care team set for you." in alerts
        assert (
            "Claire Martin, doctor (general practice), Maison de santé des Lices is looking at it." in alerts
        )
        assert "al-bob" not in page.text  # bob's alert
        inbox = words(page.text, "inbox")
        assert "Message from Claire Martin, doctor" in inbox and "Pensez à votre prise de sang." in inbox
        assert "call 15 or 112" in words(page.text, "emergency")
        arabic = inst.http.get("/portal/messages?lang=ar")
        assert "بقي مستوى الأكسجين في دمك منخفضًا" in words(arabic.text, "alerts")


def test_a_message_to_the_care_team(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        login(inst, "alice", lang="en")
        page = inst.http.get("/portal/messages")
        assert "Your message will go to Claire Martin" in words(page.text, "write")
        empty = post_form(inst, page.text, "/portal/messages", message="   ")
        assert empty.status_code == 400 and "Write your message before sending it." in empty.text
        long = post_form(inst, page.text, "/portal/messages", message="x" * 2001)
        assert long.status_code == 400 and "Your message is too long: 2000 characters at most." in long.text
        forged = {k: v for k, v in form_fields(page.text, "/portal/messages").items() if k != "csrf"}
        refused = inst.http.post(
            "/portal/messages", data={**forged, "message": "Forged"}, follow_redirects=False
        )
        assert refused.status_code == 403
        sent = post_form(
            inst, page.text, "/portal/messages", message="Bonjour docteur,\nma glycémie est haute."
        )
        assert sent.status_code == 303 and sent.headers["location"] == "/portal/messages?sent=1"
        after = inst.http.get(sent.headers["location"])
        assert "Your message has been sent." in after.text
        assert "Your message, on" in words(after.text, "inbox") and "ma glycémie est haute." in after.text
        # The GP reads it through the FHIR API: about alice, from alice, to them
        found = inst.http.get(
            "/fhir/Communication?patient=alice&_sort=-sent", headers=doctor(settings)
        ).json()
        mine = [
            e["resource"]
            for e in found["entry"]
            if e["resource"].get("sender") == {"reference": "Patient/alice"}
        ]
        assert len(mine) == 1 and mine[0]["recipient"] == [{"reference": "Practitioner/gp"}]
        assert mine[0]["payload"] == [{"contentString": "Bonjour docteur,\nma glycémie est haute."}]
        everything = inst.http.get("/fhir/Communication", headers=operator_header(settings)).json()
        assert "Forged" not in str(everything) and "   " not in [str(e) for e in everything.get("entry", [])]


def test_a_parent_writes_about_the_childs_record(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        login(inst, "alice", lang="en")
        profile = inst.http.get("/account/profile")
        post_form(inst, profile.text, "/account/profile", patient="charlie")
        page = inst.http.get("/portal/messages")
        assert "oxygen level" not in page.text  # alice's alert is not charlie's
        assert post_form(inst, page.text, "/portal/messages", message="Charlie tousse.").status_code == 303
        found = inst.http.get("/fhir/Communication?patient=charlie", headers=operator_header(settings)).json()
        [message] = [e["resource"] for e in found["entry"]]
        # the parent is named (a patient writes into the record shown only, so no reference to alice)
        assert message["subject"] == {"reference": "Patient/charlie"} and message["sender"] == {
            "display": "Alice"
        }
        assert "Message from Alice, on" in words(inst.http.get("/portal/messages").text, "inbox")

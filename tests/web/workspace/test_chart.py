"""The patient chart on the demo population (both databases): banner (identity, INS and its
status, allergies), summary, vital signs and NEWS2 charts, CGM, results, timeline and documents;
the worklist's alerts from the deteriorating demo patients; page weight and CSRF on every form."""

from __future__ import annotations

import re

from hygie.settings import Settings
from tests.web.support import login, text_by_id
from tests.web.workspace.support import demo_installation

MAX_PAGE_BYTES = 100 * 1024
TABS = ("", "/vitals", "/glucose", "/results", "/timeline", "/prescription")


def test_the_demo_gp_sees_the_chart_of_a_diabetic_patient(settings: Settings) -> None:
    with demo_installation(settings) as inst:
        login(inst, "doc", lang="en")
        home = inst.http.get("/workspace")
        assert home.status_code == 200
        alerts = re.findall(r'<article class="card ws-alert" id="alert-([^"]+)"', home.text)
        assert len(alerts) == 1  # demo-p00007's level 2 hypoglycaemia; the others are elsewhere
        assert "An episode of level 2 hypoglycaemia" in home.text
        assert 'href="/workspace/patient/demo-p00007"' in home.text
        assert "hy-chart--sparkline" in home.text  # the CGM's last hours
        chart = inst.http.get("/workspace/patient/demo-p00007")
        assert chart.status_code == 200, chart.text[:500]
        assert 'id="emergency-banner"' not in chart.text  # her GP: not an emergency access
        ins = text_by_id(chart.text, "banner-ins")
        assert re.search(r"\d \d\d \d\d \d\d \d\d\d \d\d\d \d\d demonstration INS \(fictitious\)", ins), ins
        assert text_by_id(chart.text, "banner-ins-status") == "Identity qualification not recorded"
        assert "Diabète de type 1" in text_by_id(chart.text, "problem-list")
        assert text_by_id(chart.text, "alerts") == "Open alerts: 1"
        assert chart.text.count('class="card ws-alert"') == 1 and 'value="acknowledge"' in chart.text
        glucose = inst.http.get("/workspace/patient/demo-p00007/glucose")
        assert glucose.status_code == 200
        for kind in ("hy-chart--tir", "hy-chart--agp", "hy-chart--series"):
            assert kind in glucose.text
        assert "Time in ranges" in glucose.text and "<caption>" in glucose.text
        results = inst.http.get("/workspace/patient/demo-p00007/results")
        assert "Hémoglobine glyquée (HbA1c)" in results.text and "Laboratory report of " in results.text
        timeline = inst.http.get("/workspace/patient/demo-p00007/timeline")
        link = re.search(r'href="(/workspace/patient/demo-p00007/document/[^"]+)"', timeline.text)
        assert link is not None
        document = inst.http.get(link.group(1))
        assert document.status_code == 200 and document.headers["content-type"].startswith("text/plain")
        assert "attachment" in document.headers["content-disposition"]
        vitals = inst.http.get("/workspace/patient/demo-p00007/vitals")
        assert vitals.status_code == 200 and "hy-chart--series" in vitals.text


def test_the_ward_nurse_sees_news2_and_the_alerts_most_urgent_first(settings: Settings) -> None:
    with demo_installation(settings) as inst:
        login(inst, "nurse", lang="en")
        home = inst.http.get("/workspace")
        patients = re.findall(
            r'<h3 class="heading-s" id="alert-[^"]+-title"><a href="/workspace/patient/([^"]+)"', home.text
        )
        priorities = re.findall(r"Priority: ([a-z ]+)<", home.text)
        assert {"demo-p00003", "demo-p00005"} <= set(patients)
        order = {"immediate": 0, "as soon as possible": 1, "urgent": 2, "routine": 3}
        assert [order[p] for p in priorities] == sorted(order[p] for p in priorities)
        # The COPD patient's alert on her care team's SpO2 Goal shows her SpO2, not a default measure.
        cards = re.findall(r'<article class="card ws-alert".*?</article>', home.text, re.S)
        goal = [c for c in cards if "objectif" in c]  # the rounds store a Goal's rule text in French
        assert len(goal) == 1 and 'lang="fr"' in goal[0]
        assert "Oxygen saturation (SpO2), latest readings" in goal[0]
        vitals = inst.http.get("/workspace/patient/demo-p00003/vitals")
        assert vitals.status_code == 200
        assert "hy-chart--news2" in vitals.text and 'id="news2-none"' not in vitals.text
        assert "Respiratory rate" in vitals.text
        summary = inst.http.get("/workspace/patient/demo-p00003")
        assert 'id="emergency-banner"' not in summary.text  # her ward's care team
        assert re.search(r"NEWS2: \d+", text_by_id(summary.text, "news2-value"))


def test_workspace_pages_are_light_and_every_form_carries_the_csrf_token(settings: Settings) -> None:
    with demo_installation(settings) as inst:
        css = inst.http.get(re.findall(r'href="(/static/hygie.css[^"]*)"', inst.http.get("/login").text)[0])
        for who, patients in (
            ("doc", ("demo-p00001", "demo-p00007")),
            ("nurse", ("demo-p00003", "demo-p00005")),
        ):
            inst.http.cookies.clear()
            login(inst, who)
            csrf = None
            paths = ["/workspace", "/workspace/search"] + [
                f"/workspace/patient/{p}{tab}" for p in patients for tab in TABS
            ]
            for lang in ("fr", "ar"):
                for path in paths:
                    page = inst.http.get(f"{path}?lang={lang}")
                    assert page.status_code == 200, (path, page.status_code)
                    assert len(page.content) + len(css.content) < MAX_PAGE_BYTES, (path, len(page.content))
                    assert "ws_" not in re.sub(r'id="[^"]*"|class="[^"]*"', "", page.text), (
                        path
                    )  # no missing text
                    for form in re.findall(r'<form method="post".*?</form>', page.text, re.S):
                        token = re.search(r'name="csrf" value="([^"]+)"', form)
                        assert token is not None, (path, form[:120])
                        csrf = csrf or token.group(1)
                        assert token.group(1) == csrf

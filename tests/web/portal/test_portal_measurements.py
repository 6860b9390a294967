"""``/portal/measurements`` (both databases): the chart, the same figures in a table and a summary,
from device samples and Observations together, the devices, the period chosen with links."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

from hygie.settings import Settings
from tests.security.smart_support import installation
from tests.web.portal.support import LOINC, NOW, ago, ingest, seed, words
from tests.web.support import login, put_resources

SVG = "{http://www.w3.org/2000/svg}"


def rows(page: str) -> list[list[str]]:
    body = page[page.index('id="measure-table"') :]
    body = body[body.index("<tbody>") : body.index("</tbody>")]
    return [re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", r) for r in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def chart(page: str) -> ET.Element:
    svg = re.search(r"<svg .*?</svg>", page, re.S)
    assert svg is not None
    return ET.fromstring(svg.group(0))


def test_a_few_readings_are_each_shown_with_the_goal(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        # a scale sends one weight (a spot measurement: a sample and an Observation of its own)
        ingest(inst, "alice", "body-weight", "kg", [71.0], start=NOW - timedelta(days=1), period=60)
        login(inst, "alice", lang="en")
        page = inst.http.get("/portal/measurements?measure=body-weight&period=week")
        assert page.status_code == 200
        # the Observations (one in pounds) and the device's reading, counted once each
        assert [r[1:] for r in rows(page.text)] == [["72.5"], ["72.6"], ["71.0"]]
        assert "99" not in "".join(c for r in rows(page.text) for c in r)  # bob's weight
        summary = words(page.text, "measure-summary")
        assert summary.startswith("Weight, from ") and "Readings: 3." in summary
        assert "Target 60.0–75.0 kg" in summary  # alice's Goal
        root = chart(page.text)
        assert root.get("role") == "img" and root.find(f"{SVG}desc") is not None
        assert len([e for e in root.iter() if "hy-chart__point" in (e.get("class") or "")]) == 3
        assert 'aria-current="page">Weight</a>' in page.text and 'aria-current="page">7 days</a>' in page.text
        assert "Montre connectée" in words(page.text, "devices")


def test_many_readings_are_shown_as_hourly_or_daily_aggregates(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        start = (NOW - timedelta(hours=30)).replace(minute=0, second=0)
        ingest(
            inst,
            "alice",
            "heart-rate",
            "/min",
            [60 + i % 20 for i in range(30 * 12)],
            start=start,
            period=300,
        )
        ingest(inst, "bob", "heart-rate", "/min", [150] * 300, start=start, period=300)
        login(inst, "alice", lang="fr")
        day = inst.http.get("/portal/measurements")  # the first measure with data, over 7 days
        assert 'aria-current="page">Fréquence cardiaque</a>' in day.text
        hours = rows(day.text)
        assert 29 <= len(hours) <= 31 and all(int(r[-1]) <= 12 for r in hours)
        assert {r[3] for r in hours} <= {str(v) for v in range(60, 80)}  # never bob's 150
        assert "la plus haute d'une heure" in words(day.text, "measure")
        month = inst.http.get("/portal/measurements?measure=heart-rate&period=month")
        assert 2 <= len(rows(month.text)) <= 3 and "d'une journée" in words(month.text, "measure")
        assert sum(int(r[-1]) for r in rows(month.text)) == 360


def test_blood_pressure_pairs_and_empty_periods(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        put_resources(
            inst,
            {
                "resourceType": "Observation",
                "id": "bp1",
                "status": "final",
                "subject": {"reference": "Patient/alice"},
                "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
                "effectiveDateTime": ago(hours=5),
                "component": [
                    {
                        "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                        "valueQuantity": {"value": 135, "code": "mm[Hg]"},
                    },
                    {
                        "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                        "valueQuantity": {"value": 88, "code": "mm[Hg]"},
                    },
                ],
            },
        )
        login(inst, "alice", lang="en")
        page = inst.http.get("/portal/measurements?measure=blood-pressure&period=day")
        assert [r[1:] for r in rows(page.text)] == [["135", "88"]]
        empty = inst.http.get("/portal/measurements?measure=sleep&period=day")
        assert empty.status_code == 200 and "No data for this period" in empty.text
        assert "No measurement in this period." in words(empty.text, "measure-table")
        for bad in ("?measure=cholesterol", "?period=decade", "?measure=<script>"):
            assert inst.http.get("/portal/measurements" + bad).status_code == 404

"""Wearable and continuous glucose monitoring (CGM) streams of the last days.

Dense series are stored as one ``Observation`` per patient, stream and day whose value is a
``SampledData`` (https://hl7.org/fhir/R4/datatypes.html#SampledData): an origin, a period in
milliseconds and the values separated by spaces. Heart rate every 5 minutes (288 values a day),
SpO2 every 15 minutes, body temperature and steps every hour, glucose every 5 minutes, sleep as one
duration a night, blood pressure as two readings a day (ordinary vital-signs panels). Each
Observation names its ``Device`` (https://hl7.org/fhir/R4/device.html). Storing samples in a
time-series table is a later issue; SampledData keeps today's volume sane (a week of CGM is 7
resources, not 2,016).

The glucose profiles follow the CGM consensus ranges (Battelino et al., Diabetes Care 2019:
time in range 70–180 mg/dL, level 1 hypoglycaemia < 70, level 2 < 54; hyperglycaemia > 250).
CGM unit and code: LOINC 99504-3 in mg/dL, as in the HL7 CGM IG
(https://build.fhir.org/ig/HL7/cgm/).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, time, timedelta

from hygie.demo.clinical import Chart, blood_pressure
from hygie.demo.common import LOINC, category, coding, concept, instant, quantity

DAYS = 7
STREAMS = {  # key: (LOINC, display, UCUM unit, period in minutes)
    "hr": ("8867-4", "Heart rate", "/min", 5),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 15),
    "temp": ("8310-5", "Body temperature", "Cel", 60),
    "steps": ("55423-8", "Number of steps in unspecified time Pedometer", "{steps}", 60),
    "glucose": ("99504-3", "Glucose [Mass/volume] in Interstitial fluid", "mg/dL", 5),
}


def device(c: Chart, kind: str, name: str, model: str) -> str:
    """A Device worn by the patient (PUT with a fixed id)."""
    return c.b.put(
        {
            "resourceType": "Device",
            "id": f"{c.p.id}-{kind}",
            "status": "active",
            "manufacturer": "Démonstration Hygie",
            "deviceName": [{"name": name, "type": "user-friendly-name"}],
            "modelNumber": model,
            "type": concept(text=name),
            "patient": {"reference": c.p.ref},
        }
    )


def _days(c: Chart) -> list[tuple[datetime, int]]:
    """(midnight, minutes of data) for the last ``DAYS`` days and today until now."""
    midnight = datetime.combine(c.today, time(0), tzinfo=c.now.tzinfo)
    minutes_today = int((c.now - midnight).total_seconds() // 60)
    found = [(midnight - timedelta(days=d), 24 * 60) for d in range(DAYS, 0, -1)]
    if minutes_today >= 60:
        found.append((midnight, minutes_today))
    return found


def sampled(c: Chart, key: str, start: datetime, values: Sequence[float], dev: str) -> str:
    code, display, unit, period = STREAMS[key]
    text = " ".join(f"{v:g}" for v in values)
    return c.b.post(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": category("vital-signs" if key != "glucose" else "laboratory"),
            "code": concept(coding(LOINC, code, display)),
            "subject": {"reference": c.p.ref},
            "effectivePeriod": {
                "start": instant(start),
                "end": instant(start + timedelta(minutes=period * len(values))),
            },
            "valueSampledData": {
                "origin": quantity(0, unit),
                "period": period * 60_000,
                "dimensions": 1,
                "data": text,
            },
            "device": {"reference": dev},
        }
    )


def _hour(minute: int) -> float:
    return (minute % (24 * 60)) / 60


def wearable(c: Chart, *, fever_from: int | None = None) -> None:
    """A smartwatch: heart rate, SpO2, temperature, steps, sleep (``fever_from``: the day index
    from which a fever and a fast pulse start — a deteriorating patient at home)."""
    dev = device(c, "montre", "Montre connectée", "HYG-W1")
    rest = c.rng.randint(58, 72)
    for day, (midnight, minutes) in enumerate(_days(c)):
        sick = fever_from is not None and day >= fever_from
        extra = (day - fever_from + 1) * 6 if sick and fever_from is not None else 0
        hr, spo2, temp, steps = [], [], [], []
        for m in range(0, minutes, 5):
            awake = 7 <= _hour(m) < 23
            hr.append(round(rest + extra + (12 if awake else -6) + c.rng.gauss(0, 4)))
            if m % 15 == 0:
                spo2.append(min(100, round(97 - (extra / 4 if sick else 0) + c.rng.gauss(0, 0.8))))
            if m % 60 == 0:
                fever = 0.25 * extra / 6 if sick else 0
                temp.append(round(36.6 + fever + (0.2 if awake else -0.2) + c.rng.gauss(0, 0.1), 1))
                steps.append(
                    max(0, round(c.rng.gauss(500, 300))) if awake and not sick else round(c.rng.random() * 40)
                )
        sampled(c, "hr", midnight, hr, dev)
        sampled(c, "spo2", midnight, spo2, dev)
        sampled(c, "temp", midnight, temp, dev)
        sampled(c, "steps", midnight, steps, dev)
        if minutes == 24 * 60:
            sleep_start = midnight - timedelta(minutes=c.rng.randint(30, 120))
            hours = round(c.rng.gauss(7.1, 0.8), 1)
            c.b.post(
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": category("activity"),
                    "code": concept(coding(LOINC, "93832-4", "Sleep duration")),
                    "subject": {"reference": c.p.ref},
                    "effectivePeriod": {
                        "start": instant(sleep_start),
                        "end": instant(sleep_start + timedelta(hours=hours)),
                    },
                    "valueQuantity": quantity(hours, "h"),
                    "device": {"reference": dev},
                }
            )


def bp_monitor(c: Chart) -> None:
    """A home blood pressure monitor: a morning and an evening reading every day."""
    dev = device(c, "tensiometre", "Tensiomètre connecté", "HYG-BP2")
    for midnight, minutes in _days(c):
        for hour in (7, 20):
            if hour * 60 < minutes:
                when = midnight + timedelta(hours=hour, minutes=c.rng.randint(0, 40))
                blood_pressure(c, round(c.rng.gauss(142, 10)), round(c.rng.gauss(86, 6)), when, device=dev)


def cgm(c: Chart, profile: str) -> None:
    """A CGM sensor, glucose every 5 minutes. ``profile``: ``t1``, ``t2``, ``hypo`` (night-time
    hypoglycaemia in the last three days) or ``hyper`` (above 250 mg/dL for the last two days)."""
    dev = device(c, "cgm", "Capteur de glucose en continu", "HYG-CGM3")
    base = {"t1": 150, "t2": 140, "hypo": 135, "hyper": 160}[profile]
    swing = 1.6 if profile in ("t1", "hypo") else 1.0
    days = _days(c)
    for day, (midnight, minutes) in enumerate(days):
        recent = len(days) - day
        values = []
        for m in range(0, minutes, 5):
            h = _hour(m)
            meals = sum(
                70 * swing * math.exp(-((h - meal) % 24) / 1.5) for meal in (7.5, 12.5, 19.5) if h >= meal
            )
            level = base + meals + c.rng.gauss(0, 8 * swing)
            if profile == "hypo" and recent <= 3 and 2 <= h < 5:
                level = 48 + c.rng.gauss(0, 4)
            if profile == "hyper" and recent <= 2:
                level += 150
            values.append(max(40, min(400, round(level))))
        sampled(c, "glucose", midnight, values, dev)


def streams_for(
    c: Chart, *, wears_watch: bool, wears_bp: bool, glucose: str | None, fever_from: int | None = None
) -> None:
    if wears_watch:
        wearable(c, fever_from=fever_from)
    if wears_bp:
        bp_monitor(c)
    if glucose:
        cgm(c, glucose)

"""Samples → FHIR R4 resources: Observation (Vital Signs profile for vital kinds), Device, and
one Observation with ``valueSampledData`` for a dense regular series.

- Observation: https://hl7.org/fhir/R4/observation.html, Vital Signs profiles
  https://hl7.org/fhir/R4/observation-vitalsigns.html (category ``vital-signs``, LOINC code,
  UCUM ``valueQuantity`` or the blood-pressure components, ``effectiveDateTime`` or
  ``effectivePeriod``, ``device``).
- SampledData: https://hl7.org/fhir/R4/datatypes.html#SampledData (``origin``, ``period`` in
  milliseconds, ``dimensions``, ``data`` with ``E`` for a missing point).
- Device: https://hl7.org/fhir/R4/device.html.

Idempotency: each Observation carries an ``identifier`` in the system
``https://hygie.health/fhir/NamingSystem/device-sample`` whose value is derived from (subject,
kind, start, end, device identity, source id) — not from the value — so re-sending a reading
gives the same identifier, and a corrected value from the device replaces the old one (the
storage layer writes conditionally on that identifier). The key is the start instant (UTC
microseconds, 15 hex digits, so that the keys of a stream sort by time and new samples append
at the end of the key index instead of landing at random places) followed by 25 hex digits of
a SHA-256 of the rest; the same instant written with another offset is the same reading.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from hygie.monitoring.ingest.catalogue import Component, Kind, kinds
from hygie.monitoring.ingest.samples import DeviceInfo, Sample

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
SAMPLE_SYSTEM = "https://hygie.health/fhir/NamingSystem/device-sample"
DEVICE_SYSTEM = "https://hygie.health/fhir/NamingSystem/device"
CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "activity": "Activity", "laboratory": "Laboratory"}


def _utc(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def _hash(*parts: Any) -> str:
    """SHA-256 of the parts as compact JSON (orjson: the same bytes as ``json.dumps(parts,
    ensure_ascii=False, separators=(",", ":"))`` for strings, numbers, None and lists, faster)."""
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()[:40]


def device_key(info: DeviceInfo | None) -> str:
    """The stable identifier value of a device (hash of its identity)."""
    return _hash("device", *(info.identity() if info else ()))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TIME_BIAS = 1 << 58  # microseconds: keeps every year from 1 to 9999 positive (15 hex digits)


def sample_identity(sample: Sample, subject_ref: str) -> str:
    """25 hex digits of SHA-256 over what identifies a sample besides its start: subject, kind,
    duration, device identity, source id (the same for every value of one series)."""
    duration = None if sample.end is None else (sample.end - sample.start) // _MICROSECOND
    device = list(sample.device.identity()) if sample.device else None
    return _hash("sample", subject_ref, sample.kind, duration, device, sample.source_id)[:25]


def sample_key(sample: Sample, subject_ref: str, identity: str | None = None) -> str:
    """The idempotency key of a sample: its start (time-ordered prefix) and
    :func:`sample_identity` (pass it when already computed for the series)."""
    start = (sample.start - _EPOCH) // _MICROSECOND + _TIME_BIAS
    return f"{start:015x}{identity or sample_identity(sample, subject_ref)}"


def _num(value: float) -> int | float:
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _quantity(value: float, k: Kind) -> dict[str, Any]:
    return {"value": _num(value), "unit": k.unit_display, "system": UCUM, "code": k.unit}


def _component_code(c: Component) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": c.loinc, "display": c.display}], "text": c.display}


def _header(k: Kind, identifier: str, subject_ref: str, device_ref: str | None) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation"}
    if k.profile:
        obs["meta"] = {"profile": [k.profile]}
    obs["identifier"] = [{"system": SAMPLE_SYSTEM, "value": identifier}]
    obs["status"] = "final"
    obs["category"] = [
        {"coding": [{"system": CATEGORY, "code": k.category, "display": CATEGORY_DISPLAY[k.category]}]}
    ]
    codings = [{"system": LOINC, "code": k.loinc, "display": k.display}]
    codings += [{"system": LOINC, "code": c, "display": d} for c, d in k.extra_codes]
    obs["code"] = {"coding": codings, "text": k.display}
    obs["subject"] = {"reference": subject_ref}
    if device_ref:
        obs["device"] = {"reference": device_ref}
    return obs


def _kind(key: str) -> Kind:
    k = kinds().get(key)
    if k is None:
        raise ValueError(f"unknown sample kind {key!r}")
    return k


def observation(sample: Sample, subject_ref: str, device_ref: str | None = None) -> dict[str, Any]:
    """One Observation for one sample (without ``id``: the store assigns it)."""
    k = _kind(sample.kind)
    obs = _header(k, sample_key(sample, subject_ref), subject_ref, device_ref)
    if sample.end is None:
        obs["effectiveDateTime"] = sample.start.isoformat()
    else:
        obs["effectivePeriod"] = {"start": sample.start.isoformat(), "end": sample.end.isoformat()}
    if k.components:
        by_name = dict(sample.components)
        obs["component"] = [
            {"code": _component_code(c), "valueQuantity": _quantity(by_name[c.name], k)}
            for c in k.components
            if c.name in by_name
        ]
    elif sample.value is not None:
        obs["valueQuantity"] = _quantity(sample.value, k)
    return obs


def device(info: DeviceInfo, patient_ref: str | None = None) -> dict[str, Any]:
    """A Device resource with a stable identifier (the hash of the device's identity)."""
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "identifier": [{"system": DEVICE_SYSTEM, "value": device_key(info)}],
        "status": "active",
    }
    if info.manufacturer:
        resource["manufacturer"] = info.manufacturer
    names = [{"name": info.name, "type": "user-friendly-name"}] if info.name else []
    if info.model:
        names.append({"name": info.model, "type": "model-name"})
    if names:
        resource["deviceName"] = names
    if info.model_number:
        resource["modelNumber"] = info.model_number
    if info.identifier:
        resource["serialNumber"] = info.identifier
    if info.version:
        resource["version"] = [{"value": info.version}]
    if info.source:
        resource["note"] = [{"text": f"Recorded by {info.source}"}]
    if patient_ref:
        resource["patient"] = {"reference": patient_ref}
    return resource


def _decimal(value: float) -> str:
    return repr(_num(round(value, 6)))


def sampled_data(
    samples: Sequence[Sample],
    period: timedelta,
    subject_ref: str,
    device_ref: str | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """One Observation holding a regular series of point samples of one kind as
    ``valueSampledData`` (one ``component`` per blood-pressure value).

    Each sample falls in the slot nearest to it on the grid ``start + i × period``; a slot
    without a sample is ``E``, a slot holding several takes their mean. ``start`` defaults to the
    first sample, ``end`` (exclusive) to the slot after the last one.
    """
    if not samples:
        raise ValueError("no samples")
    if period <= timedelta(0):
        raise ValueError("the period must be positive")
    key = samples[0].kind
    if any(s.kind != key for s in samples):
        raise ValueError("samples of more than one kind")
    k = _kind(key)
    origin = start or min(s.start for s in samples)
    last = max(s.start for s in samples)
    count = int((end - origin) / period) if end else round((last - origin) / period) + 1
    if count <= 0:
        raise ValueError("the series is empty")
    slots: list[dict[str, list[float]]] = [{} for _ in range(count)]
    for s in samples:
        i = round((s.start - origin) / period)
        if not 0 <= i < count:
            continue
        values = dict(s.components) if k.components else {"value": s.value}
        for name, v in values.items():
            if v is not None:
                slots[i].setdefault(name, []).append(v)
    finish = origin + count * period
    identifier = _hash(
        subject_ref,
        key,
        _utc(origin),
        _utc(finish),
        list(samples[0].device.identity()) if samples[0].device else None,
        f"sampled:{period.total_seconds()}",
    )
    obs = _header(k, identifier, subject_ref, device_ref)
    obs["effectivePeriod"] = {"start": origin.isoformat(), "end": finish.isoformat()}

    def series(name: str) -> dict[str, Any]:
        data = " ".join(
            _decimal(sum(slot[name]) / len(slot[name])) if name in slot else "E" for slot in slots
        )
        return {
            "origin": {"value": 0, "unit": k.unit_display, "system": UCUM, "code": k.unit},
            "period": _num(period.total_seconds() * 1000),
            "dimensions": 1,
            "data": data,
        }

    if k.components:
        obs["component"] = [
            {"code": _component_code(c), "valueSampledData": series(c.name)} for c in k.components
        ]
    else:
        obs["valueSampledData"] = series("value")
    return obs

"""Device data into Hygie: converted samples → the sample table, Devices and spot Observations.

:func:`store_conversion` takes what a converter of :mod:`hygie.monitoring.ingest` produced for
one patient and writes, in the caller's transaction:

- every sample into the ``sample`` table (:mod:`hygie.storage.samples`), keyed by its
  idempotency key (``fhir_out.sample_key``): re-sending the same data changes nothing, a
  corrected value replaces the old one, out-of-order data lands where it belongs;
- one **Device** per patient and distinct device (id = a hash of the patient and the device's
  identity, ``fhir_out.device_key``), linked to the patient;
- for **spot** measurements (:data:`SPOT`: blood pressure, weight, body temperature, finger-prick
  glucose — a handful a day) also an **Observation** (id = the sample key, so re-sending is
  idempotent too), so that they appear in the record like any measurement. Dense streams (heart
  rate, SpO2, CGM, steps, sleep, skin temperature) stay compact: they reach FHIR through
  ``$samples``, ``$cgm-metrics`` and the rules (docs/monitoring.md).

Per-record errors of the converter are reported, never written; they never block the rest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from hygie.api.context import Env
from hygie.fhir.outcome import FhirError, Issue
from hygie.monitoring.ingest.fhir_out import device, device_key, observation, sample_identity, sample_key
from hygie.monitoring.ingest.samples import Conversion, RecordError, Sample
from hygie.search.catalog import Catalog
from hygie.storage import samples
from hygie.storage.samples import SampleRow
from hygie.storage.store import Version

SPOT = frozenset({"blood-pressure", "body-weight", "body-temperature", "glucose"})
MAX_REPORTED_ERRORS = 100


@dataclass(slots=True)
class IngestReport:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    observations: int = 0
    devices: int = 0
    errors: list[RecordError] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def outcome_issues(self) -> list[Issue]:
        """The report as OperationOutcome issues: a summary, then each refused record."""
        summary = Issue(
            code="informational",
            key="ingest_summary",
            severity="information",
            params={
                "received": self.received,
                "inserted": self.inserted,
                "updated": self.updated,
                "unchanged": self.unchanged,
                "observations": self.observations,
                "devices": self.devices,
                "refused": len(self.errors),
                "skipped": sum(self.skipped.values()),
            },
        )
        issues = [summary]
        for error in self.errors[:MAX_REPORTED_ERRORS]:
            issues.append(replace(error.to_issue(), severity="warning"))
        return issues


def patient_access(env: Env, patient: str, needs: tuple[tuple[str, str], ...]) -> Version:
    """The patient as the caller sees it (404 when hidden or absent), once the caller's scopes
    allow each ``(type, permission)`` of ``needs`` (403 otherwise)."""
    seen = env.store.read("Patient", patient)
    if seen is None or seen.deleted:
        raise FhirError.of(404, "not-found", "not_found", type="Patient", id=patient)
    params = env.store.params
    guard = params.guard if isinstance(params, Catalog) else None
    for rtype, permission in needs:
        if guard is not None and not guard.allows(rtype, permission):
            raise FhirError.of(403, "forbidden", "forbidden_interaction", type=rtype, permission=permission)
    return seen


def check_writer(env: Env, patient: str) -> Version:
    """The caller sees the patient (404 otherwise) and may create Observations and Devices."""
    return patient_access(env, patient, (("Observation", "c"), ("Device", "c")))


def upsert(env: Env, rtype: str, resource: dict[str, Any]) -> Version | None:
    """Create with the given id, or a new version when the content changed; None when identical."""
    current = env.store.read(rtype, resource["id"], for_update=True)
    if current is None:
        return env.store.create(rtype, resource, resource["id"])
    if not current.deleted:
        old = current.resource()
        old.pop("meta", None)
        new = {k: v for k, v in resource.items() if k != "meta"}
        if old in ({"resourceType": rtype, **new}, new):
            return None
    return env.store.update(current, resource)


def _device_id(subject: str, info: Any) -> str:
    """The Device's id: one Device per patient and physical device (the same watch model worn by
    two patients is two Devices, each linked to its patient)."""
    return hashlib.sha256(f"{subject}|{device_key(info)}".encode()).hexdigest()[:40]


def _row(sample: Sample, subject: str, patient: str, device_id: str, identity: str) -> SampleRow:
    value, value2 = sample.value, None
    if sample.components:
        parts = dict(sample.components)
        value, value2 = parts.get("systolic", value), parts.get("diastolic")
    end = sample.end
    # positional: this runs once per sample of every upload
    return SampleRow(
        sample_key(sample, subject, identity),
        patient,
        sample.kind,
        int(sample.start.timestamp() * 1000),
        None if end is None else int(end.timestamp() * 1000),
        value,
        value2,
        device_id,
    )


def store_conversion(env: Env, patient: str, conversion: Conversion, now_ms: int) -> IngestReport:
    """Write one patient's converted samples (see the module doc); the caller checked access
    with :func:`check_writer` and owns the transaction."""
    report = IngestReport(
        received=len(conversion.samples) + len(conversion.errors),
        errors=list(conversion.errors),
        skipped=dict(conversion.skipped),
    )
    subject = f"Patient/{patient}"
    devices: dict[str, Any] = {}
    rows = []
    ids: dict[Any, str] = {}  # DeviceInfo → its id (a batch usually has one device)
    identities: dict[tuple[Any, ...], str] = {}  # one hash per series, not per value
    last: tuple[Any, ...] = ()  # the previous sample's (kind, duration, device, source id)
    device_id = identity = ""
    for sample in conversion.samples:
        series = (sample.kind, None if sample.end is None else sample.end - sample.start, sample.device,
                  sample.source_id)  # fmt: skip
        if series != last:  # a new series (values of one series share their DeviceInfo object)
            last, device_id = series, ""
            if sample.device is not None:
                device_id = ids.get(sample.device) or ids.setdefault(
                    sample.device, _device_id(subject, sample.device)
                )
                devices.setdefault(device_id, sample.device)
            identity = identities.get(series) or identities.setdefault(
                series, sample_identity(sample, subject)
            )
        rows.append(_row(sample, subject, patient, device_id, identity))
    for device_id, info in devices.items():
        resource = {**device(info, subject), "id": device_id}
        report.devices += upsert(env, "Device", resource) is not None
    written = samples.write(env.store.s, rows, now_ms)
    report.inserted, report.updated, report.unchanged = written.inserted, written.updated, written.unchanged
    for sample, row in zip(conversion.samples, rows, strict=True):
        if sample.kind not in SPOT:
            continue
        resource = observation(sample, subject, f"Device/{row.device}" if row.device else None)
        resource["id"] = row.key
        report.observations += upsert(env, "Observation", resource) is not None
    return report

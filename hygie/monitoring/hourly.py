"""Dense device streams as standard FHIR: one ``valueSampledData`` Observation per patient,
measure, device and closed hour (https://hl7.org/fhir/R4/datatypes.html#SampledData).

Samples live in the compact ``sample`` table; so that ordinary FHIR search sees them too
(``Observation?patient=…&code=8867-4&date=ge…``), each hour that has ended and received samples
since the last round becomes one Observation on a regular grid (1 minute; 5 minutes for CGM
glucose; 15 minutes when the device sends less often), slots without a sample ``E``, slots with
several their mean — the raw samples stay available through ``$samples``. The id is a hash of
(patient, measure, device, hour, grid): a late sample for a past hour makes a new version of the
same Observation, re-running writes nothing. Only point measures are compacted this way;
intervals (steps, sleep) are summed by ``$samples``.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hygie.api.context import Env
from hygie.monitoring.ingest.catalogue import kinds
from hygie.monitoring.ingest.fhir_out import sampled_data
from hygie.monitoring.ingest.samples import Sample
from hygie.monitoring.ingest_service import SPOT, upsert
from hygie.storage import samples
from hygie.storage.samples import HOUR_MS, SampleRow

GRIDS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15))


def grid(times: list[datetime]) -> timedelta:
    """The finest grid not finer than the device's usual interval (median gap)."""
    gaps = [(b - a).total_seconds() for a, b in pairwise(sorted(times)) if b > a]
    usual = timedelta(seconds=statistics.median(gaps)) if gaps else GRIDS[0]
    return next((g for g in reversed(GRIDS) if g <= usual), GRIDS[0])


def materialize(env: Env, since_ms: int, now: datetime) -> int:
    """Write the hourly Observations of the closed hours that received samples since
    ``since_ms`` or ended since then; the number of Observations created or changed."""
    current_hour = int(now.timestamp() * 1000) // HOUR_MS * HOUR_MS
    point_kinds = {k for k, kind in kinds().items() if kind.shape != "interval" and k not in SPOT}
    closed_since = since_ms // HOUR_MS * HOUR_MS  # hours that ended since the last round, too
    touched = env.store.s.all(
        "SELECT DISTINCT patient, measure, device, t / ? FROM sample"
        " WHERE (received >= ? OR t >= ?) AND t < ?",
        (HOUR_MS, since_ms, closed_since, current_hour),
    )
    written = 0
    for patient, measure, device, hour in sorted(touched, key=lambda r: tuple(map(str, r))):
        if measure not in point_kinds:
            continue
        start = int(hour) * HOUR_MS
        rows = [r for r in samples.series(env.store.s, str(patient), str(measure), start, start + HOUR_MS)
                if r.device == device and r.value is not None]  # fmt: skip
        if not rows:
            continue
        points = [_sample(r, str(measure)) for r in rows]
        origin = datetime.fromtimestamp(start / 1000, UTC)
        device_ref = f"Device/{device}" if device else None
        obs = sampled_data(
            points,
            grid([p.start for p in points]),
            f"Patient/{patient}",
            device_ref,
            start=origin,
            end=origin + timedelta(hours=1),
        )
        obs["id"] = obs["identifier"][0]["value"][:64]
        written += upsert(env, "Observation", obs) is not None
    return written


def _sample(row: SampleRow, measure: str) -> Sample:
    value = row.value if row.value is not None else 0.0  # callers keep rows with a value
    parts = (("systolic", value), ("diastolic", row.value2)) if row.value2 is not None else ()
    return Sample(kind=measure, start=datetime.fromtimestamp(row.t / 1000, UTC), end=None, value=value,
                  components=parts)  # fmt: skip

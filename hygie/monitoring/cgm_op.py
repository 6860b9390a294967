"""``GET [base]/Patient/[id]/$cgm-metrics`` — the consensus CGM metrics of a patient's glucose
samples over a period (default: the last 14 days), with the AGP percentiles
(:mod:`hygie.monitoring.cgm`, Battelino 2019).

Parameters: ``start``/``end`` (instants with a time zone), ``agp-bin`` (minutes, default 60).
Glucose samples are the ``interstitial-glucose`` (CGM) and ``glucose`` kinds, in mmol/L (the
catalogue's canonical unit). Answer: a Parameters resource — count, days, capture (%),
sufficient, mean, sd, cv, gmi (%, mmol/mol), the five range shares (tbr2, tbr1, tir, tar1, tar2
in %), the targets met, and one ``agp`` part per time-of-day bin (start minute, count, p5, p25,
p50, p75, p95). No glucose data in the period: 404-free empty answer with count 0.
Access as for ``$samples`` (patient visible, Observations readable).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hygie.api.checks import is_count
from hygie.api.http import OperationCall
from hygie.fhir import jsonio
from hygie.fhir.outcome import FhirError
from hygie.monitoring.cgm import metrics
from hygie.monitoring.samples_op import bad_param, check_access, instant_param
from hygie.storage import samples

KINDS = ("interstitial-glucose", "glucose")


def _decimal(name: str, value: float) -> dict[str, Any]:
    return {"name": name, "valueDecimal": round(value, 2)}


async def cgm_operation(call: OperationCall) -> Response:
    req = call.req
    if req.method not in ("GET", "HEAD"):
        raise FhirError.of(405, "not-supported", "method_not_allowed", method=req.method[:16])
    end = instant_param("end", req.param("end"), datetime.now(UTC))
    start = instant_param("start", req.param("start"), end - timedelta(days=14))
    if end <= start or end - start > timedelta(days=366):
        raise bad_param("end", "after start, at most a year later")
    raw_bin = req.param("agp-bin") or "60"
    if not is_count(raw_bin, 2) or int(raw_bin) not in (5, 10, 15, 20, 30, 60):
        raise bad_param("agp-bin", "5, 10, 15, 20, 30 or 60")
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    patient = req.id or ""
    tz = ZoneInfo(call.api.settings.timezone)

    def work(session: Any) -> list[tuple[datetime, float]]:
        check_access(call, session, patient)
        rows = []
        for kind in KINDS:
            rows += samples.series(session, patient, kind, start_ms, end_ms, limit=200_000)
        return [(datetime.fromtimestamp(r.t / 1000, UTC), r.value) for r in rows if r.value is not None]

    readings = await call.api.db.run(work, write=False)
    params: list[dict[str, Any]] = [
        {"name": "start", "valueInstant": start.astimezone(UTC).isoformat(timespec="seconds")},
        {"name": "end", "valueInstant": end.astimezone(UTC).isoformat(timespec="seconds")},
        {"name": "unit", "valueCode": "mmol/L"},
    ]
    if not readings:
        params.append({"name": "count", "valueInteger": 0})
    else:
        m = metrics(readings, "mmol/L", start=start, end=end, tz=tz, agp_bin_minutes=int(raw_bin))
        params += [
            {"name": "count", "valueInteger": m.count},
            _decimal("days", m.days),
            _decimal("interval-minutes", m.interval_minutes),
            _decimal("capture", m.capture_percent),
            {"name": "sufficient", "valueBoolean": m.sufficient},
            _decimal("mean", m.mean),
            _decimal("sd", m.sd),
            _decimal("cv", m.cv_percent),
            _decimal("gmi", m.gmi_percent),
            _decimal("gmi-mmol-mol", m.gmi_mmol_mol),
            *(_decimal(k, v) for k, v in m.percent.items()),
            *({"name": f"target-{k}", "valueBoolean": v} for k, v in m.targets.items()),
            *(
                {
                    "name": "agp",
                    "part": [
                        {"name": "minute", "valueInteger": b.start_minute},
                        {"name": "count", "valueInteger": b.count},
                        *(_decimal(f"p{p}", v) for p, v in b.percentiles.items()),
                    ],
                }
                for b in m.agp
            ),
        ]
    body = {"resourceType": "Parameters", "parameter": params}
    return Response(jsonio.dumps(body), status_code=200, media_type="application/fhir+json")

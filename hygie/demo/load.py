"""``hygie demo``: load the demo population once, then reuse it on every later start.

The Bundles of :func:`hygie.demo.population.demo_bundles` go through the same code as
``POST /fhir`` transactions (:func:`hygie.api.bundle.process_bundle`,
https://hl7.org/fhir/R4/http.html#transaction), one database transaction per Bundle (the
territory, then about 25 patients each), so memory stays flat whatever the population size.
The demo accounts are created at the end (:mod:`hygie.demo.accounts`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hygie.api.bundle import process_bundle
from hygie.api.context import Env, open_storage
from hygie.api.search import find
from hygie.demo import accounts
from hygie.demo.common import DEMO_TAG
from hygie.demo.population import demo_bundles
from hygie.demo.territory import make_territory
from hygie.monitoring.sampled_in import rows_from_sampled
from hygie.monitoring.service import check_patient
from hygie.settings import Settings
from hygie.storage import samples
from hygie.storage.database import Session
from hygie.storage.samples import SampleRow
from hygie.storage.store import Store

Progress = Callable[[int, int], None]  # (resources written so far, patients requested)


def stream_rows(bundle: dict[str, Any]) -> list[SampleRow]:
    """The device samples of a Bundle's SampledData Observations, for the sample table
    (docs/monitoring.md): the rules, ``$samples`` and ``$cgm-metrics`` read them there."""
    rows = []
    for entry in bundle["entry"]:
        resource = entry.get("resource") or {}
        subject = ((resource.get("subject") or {}).get("reference") or "").removeprefix("Patient/")
        if resource.get("resourceType") == "Observation" and subject:
            rows.extend(rows_from_sampled(resource, subject))
    return rows


def check_everyone(env: Env, now: datetime) -> int:
    """One monitoring check of every demo patient, so the demo opens with its alerts raised
    (the deteriorating patients of docs/demo.md); the number of alerts raised."""
    tag = f"{DEMO_TAG['system']}|{DEMO_TAG['code']}"
    raised = 0
    for version in find(env, "Patient", [("_tag", tag)], limit=1_000_000):
        raised += sum(a.kind == "raise" for a in check_patient(env, version.id, now))
    return raised


def _already_loaded(env: Env) -> bool:
    tag = f"{DEMO_TAG['system']}|{DEMO_TAG['code']}"
    return bool(find(env, "Patient", [("_tag", tag)], limit=1))


def load_demo(
    settings: Settings,
    patients: int,
    seed: int,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> int:
    """Load the demo population once (skipped when demo data is already there) and create the
    demo accounts. Dates are relative to ``now`` (default: the current hour, UTC).

    Returns the number of resources written (0 when reused)."""
    moment = now or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    # Streams count as received two hours ago: the server's first monitoring round (which looks
    # at the last hour) does not turn a week of demo samples into hourly Observations at once.
    received = int((moment - timedelta(hours=2)).timestamp() * 1000)
    db, params = open_storage(settings)
    tz = ZoneInfo(settings.timezone)

    def env_of(session: Session) -> Env:
        return Env(Store(session, params, tz), settings, "urn:hygie", "en")

    try:
        if db.run_sync(lambda s: _already_loaded(env_of(s)), write=False):
            return 0
        written = 0
        for bundle in demo_bundles(patients, seed, moment):

            def work(session: Session, bundle: dict[str, Any] = bundle) -> None:
                process_bundle(env_of(session), bundle, minimal=True)
                samples.write(session, stream_rows(bundle), now_ms=received)

            db.run_sync(work)
            written += len(bundle["entry"])
            if progress:
                progress(written, patients)
        db.run_sync(lambda s: check_everyone(env_of(s), moment))
        territory = make_territory(patients)
        made = db.run_sync(lambda s: accounts.create(s, territory))
        if made:
            accounts.save(settings.keys_dir, made)
        return written
    finally:
        db.close()

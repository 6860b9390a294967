"""``hygie ingest FORMAT FILE --patient ID`` — device data from a file, as an operator.

The same conversion and writes as ``POST /fhir/Patient/{id}/$ingest`` (docs/monitoring.md),
plus the CSV mapping (docs/ingestion.md) which has no HTTP form: the operator has local access
to the database (like ``hygie token issue``), so no access restriction applies; the run is
audited as a write to the patient's record. Apple Health exports are read once to check them,
then written in chunks of 5,000 samples, one transaction each.
"""

from __future__ import annotations

import csv
import time
from collections import deque
from pathlib import Path
from typing import Any

import orjson
import typer

from hygie.api.audit_trail import request_id
from hygie.api.context import open_storage
from hygie.api.http import FhirApi
from hygie.auth import audit, balp
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.monitoring.ingest.apple_health import AppleHealthStream
from hygie.monitoring.ingest.csv_mapping import read_csv
from hygie.monitoring.ingest.openmhealth import read_openmhealth
from hygie.monitoring.ingest.samples import Conversion
from hygie.monitoring.ingest.series import read_series
from hygie.monitoring.ingest.withings import read_withings
from hygie.monitoring.ingest_op import FORMATS, chunks, merge
from hygie.monitoring.ingest_service import IngestReport, check_writer, store_conversion
from hygie.settings import Settings

FORMATS_CLI = (*FORMATS, "csv")
register(
    {
        "ingest_mapping_not_json": {
            "fr": "La correspondance CSV n'est pas du JSON ({detail}).",
            "en": "The CSV mapping is not JSON ({detail}).",
        },
        "ingest_csv_unreadable": {
            "fr": "Fichier CSV illisible ({detail}).",
            "en": "Unreadable CSV file ({detail}).",
        },
    }
)
commands = typer.Typer(help="Connected health.")


@commands.command("ingest")
def ingest_command(
    fmt: str = typer.Argument(..., metavar="FORMAT", help=f"One of {', '.join(FORMATS_CLI)}."),
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The file to read."),  # noqa: B008
    patient: str = typer.Option(..., "--patient", help="The Patient id the data belongs to."),
    mapping: Path | None = typer.Option(None, "--mapping", exists=True, help="CSV mapping (JSON), for csv."),  # noqa: B008
) -> None:
    """Load device data from a file into a patient's record (idempotent: run it again freely)."""
    if fmt not in FORMATS_CLI:
        raise typer.BadParameter(f"FORMAT must be one of {', '.join(FORMATS_CLI)}")
    if fmt == "csv" and mapping is None:
        raise typer.BadParameter("csv needs --mapping FILE")
    for given in (path, mapping):  # a FIFO or a device would be read forever
        if given is not None and not given.is_file():
            raise typer.BadParameter(f"{given} is not a regular file")
    settings = Settings()
    db, catalog = open_storage(settings)
    try:
        api = FhirApi(settings, db, catalog)
        report = _ingest(api, fmt, path, patient, mapping)
        _audit(api, patient, path, report)
    except FhirError as err:
        typer.echo(f"error: {err.outcome('en')['issue'][0]['diagnostics']}", err=True)
        raise typer.Exit(1) from err
    except OSError as err:  # unreadable (permissions, a file gone meanwhile)
        typer.echo(f"error: cannot read {err.filename or path}: {err.strerror or err}", err=True)
        raise typer.Exit(1) from err
    finally:
        db.close()
    for issue in report.outcome_issues():
        typer.echo(issue.to_json("en")["diagnostics"])
    if report.received and len(report.errors) == report.received:
        raise typer.Exit(1)


def _ingest(api: FhirApi, fmt: str, path: Path, patient: str, mapping: Path | None) -> IngestReport:
    base = "urn:hygie:cli"
    now_ms = int(time.time() * 1000)
    api.db.run_sync(lambda s: check_writer(api._env(s, base, "en"), patient), write=False)
    if fmt == "apple-health":
        check = AppleHealthStream(path)
        deque(check, maxlen=0)  # malformed or hostile: refused whole, before any write
        total = IngestReport(skipped=dict(check.skipped))
        for part in chunks(iter(AppleHealthStream(path))):

            def work(session: Any, part: Conversion = part) -> IngestReport:
                return store_conversion(api._env(session, base, "en"), patient, part, now_ms)

            merge(total, api.db.run_sync(work))
        return total
    conversion: Conversion
    if fmt == "csv":
        assert mapping is not None
        try:
            spec = orjson.loads(mapping.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise FhirError.of(400, "invalid", "ingest_mapping_not_json", detail=str(exc)[:120]) from exc
        try:
            with path.open(encoding="utf-8-sig", newline="") as lines:
                conversion = read_csv(lines, spec)
        except (UnicodeDecodeError, csv.Error) as exc:  # not UTF-8; a field over csv's limit
            raise FhirError.of(400, "invalid", "ingest_csv_unreadable", detail=str(exc)[:120]) from exc
    elif fmt == "withings":
        conversion = read_withings(path.read_bytes())
    elif fmt == "series":
        conversion = read_series(path.read_bytes())
    else:
        conversion = read_openmhealth(path.read_bytes())
    result: IngestReport = api.db.run_sync(
        lambda s: store_conversion(api._env(s, base, "en"), patient, conversion, now_ms)
    )
    return result


def _audit(api: FhirApi, patient: str, path: Path, report: IngestReport) -> None:
    """One audit record: the operator wrote device data into the patient's record."""
    now = int(time.time() * 1000)
    record = balp.AccessRecord(
        action="rest",
        time_ms=now,
        interaction="create",
        agent_login="operator",
        client_id="hygie-cli",
        patients=(patient,),
        resources=(f"Patient/{patient}",),
        reason=f"hygie ingest {path.name}: {report.inserted} new, {report.updated} updated",
        request_id=request_id(None),
    )

    def work(session: Any) -> None:
        audit.append_access(session, record, now=now, key=api.keys.audit)

    api.db.run_sync(work)

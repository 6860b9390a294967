"""Apple Health ``export.zip`` / ``export.xml`` → samples, streamed.

The export (Health app → profile → Export All Health Data) is a zip holding
``apple_health_export/export.xml``: a ``HealthData`` root with one ``Record`` element per
measurement (``type``, ``sourceName``, ``sourceVersion``, ``device``, ``unit``, ``value``,
``startDate``, ``endDate`` as ``2026-11-20 08:01:00 +0100``) and ``Correlation`` elements
grouping records (blood pressure: ``HKCorrelationTypeIdentifierBloodPressure`` holding the
systolic and the diastolic). The export's own DTD notes that records inside a correlation also
appear as top-level records: a pair is counted once.

The file is never loaded: the zip member is decompressed as a stream and parsed with a hardened
expat reader (``safe_xml``) that builds no tree; samples are yielded as they are read. Only
blood-pressure halves wait (in a small dict) for their pair until the end of the document.

HealthKit identifiers: https://developer.apple.com/documentation/healthkit/hkquantitytypeidentifier
(percent values such as OxygenSaturation are fractions 0–1 in HealthKit and in the export).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.monitoring.ingest import safe_xml, times
from hygie.monitoring.ingest.samples import (
    Conversion,
    DeviceInfo,
    RecordError,
    Sample,
    Where,
    make_sample,
    number,
    shown,
)

register(
    {
        "ingest_zip": {
            "fr": "Archive Apple Santé illisible : {detail}.",
            "en": "Unreadable Apple Health archive: {detail}.",
        },
    }
)

HK = "HKQuantityTypeIdentifier"
# HealthKit type → (kind, unit override). A unit override replaces the export's unit spelling
# when HealthKit's meaning differs from the spelling (its "%" is a fraction of one).
QUANTITY_TYPES: dict[str, tuple[str, str | None]] = {
    HK + "HeartRate": ("heart-rate", None),
    HK + "OxygenSaturation": ("spo2", "1"),
    HK + "RespiratoryRate": ("respiratory-rate", None),
    HK + "BodyTemperature": ("body-temperature", None),
    HK + "AppleSleepingWristTemperature": ("skin-temperature", None),
    HK + "BloodGlucose": ("glucose", None),
    HK + "BodyMass": ("body-weight", None),
    HK + "StepCount": ("steps", None),
}
SYSTOLIC, DIASTOLIC = HK + "BloodPressureSystolic", HK + "BloodPressureDiastolic"
BP_CORRELATION = "HKCorrelationTypeIdentifierBloodPressure"
SLEEP = "HKCategoryTypeIdentifierSleepAnalysis"
ASLEEP = "HKCategoryValueSleepAnalysisAsleep"  # + Unspecified, Core, Deep, REM (iOS 16+)
_DEVICE_KEY = re.compile(r"\w+:")
_BP_KEY = tuple[str, str, str]


@lru_cache(maxsize=1024)  # an export repeats a handful of devices hundreds of thousands of times
def parse_device(text: str | None, source: str | None, version: str | None) -> DeviceInfo | None:
    """``<<HKDevice: 0x…>, name:Apple Watch, manufacturer:Apple Inc., model:Watch,
    hardware:Watch6,1, software:9.0>`` → DeviceInfo (the record's source app as ``source``)."""
    fields = device_fields(text) if text else {}
    if not fields and not source:
        return None
    return DeviceInfo(
        manufacturer=fields.get("manufacturer"),
        model=fields.get("model"),
        model_number=fields.get("hardware"),
        name=fields.get("name"),
        identifier=fields.get("UDIDeviceIdentifier") or fields.get("localIdentifier"),
        source=source,
        version=fields.get("software") or version,
    )


def device_fields(text: str) -> dict[str, str]:
    """``key:value`` pairs of a device attribute, separated by ``, `` and closed by ``>``; a
    value holds ``, `` when what follows is not ``key:``. Linear in the text (a lazy regular
    expression with a look-ahead was quadratic: 16 KB took 2 s)."""
    body = text[:-1] if text.endswith(">") else text
    fields: dict[str, str] = {}
    key = None
    for part in body.split(", "):
        found = _DEVICE_KEY.match(part)
        if found is not None:
            key = found.group()[:-1]
            fields[key] = part[found.end() :]
        elif key is not None:
            fields[key] += ", " + part
    return fields


class AppleHealthStream:
    """Iterate over the samples and record errors of one export; ``skipped`` counts the records
    left aside on purpose (types Hygie does not ingest, in-bed/awake sleep, duplicate pairs)."""

    def __init__(self, source: str | Path | IO[bytes], limits: safe_xml.Limits | None = None) -> None:
        self.source = source
        self.limits = limits or safe_xml.Limits()
        self.skipped: dict[str, int] = {}
        self.records = 0
        self._out: list[Sample | RecordError] = []
        self._correlation: dict[str, Any] | None = None
        self._pending: dict[_BP_KEY, dict[str, Any]] = {}
        self._paired: set[tuple[_BP_KEY, float, float]] = set()

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def __iter__(self) -> Iterator[Sample | RecordError]:
        with ExitStack() as stack:
            stream = self._open(stack)
            for item in safe_xml.parse(stream, self._start, self._end, self._drain, self.limits):
                assert isinstance(item, Sample | RecordError)
                yield item
        yield from self._unpaired()

    def _open(self, stack: ExitStack) -> IO[bytes]:
        if not isinstance(self.source, str | Path):
            return self.source
        path = Path(self.source)
        if not zipfile.is_zipfile(path):
            return stack.enter_context(path.open("rb"))
        try:
            archive = stack.enter_context(zipfile.ZipFile(path))
            members = [i for i in archive.infolist() if i.filename.rsplit("/", 1)[-1] == "export.xml"]
            if not members:
                raise FhirError.of(400, "invalid", "ingest_zip", detail="no export.xml in the archive")
            if members[0].file_size > self.limits.max_bytes:
                raise FhirError.of(
                    413,
                    "too-costly",
                    "ingest_too_large",
                    what="export.xml",
                    limit=f"{self.limits.max_bytes} bytes",
                )
            return stack.enter_context(archive.open(members[0]))
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError) as exc:
            # not a ZIP after all, an encrypted member, an unknown compression method
            raise FhirError.of(400, "invalid", "ingest_zip", detail=str(exc)[:120]) from exc

    def _drain(self) -> Iterator[Sample | RecordError]:
        out, self._out = self._out, []
        return iter(out)

    # -- expat callbacks -------------------------------------------------------------------

    def _start(self, name: str, attrs: dict[str, str], line: int) -> None:
        if name == "Record":
            self.records += 1
            self._record(attrs, line)
        elif name == "Correlation":
            self.records += 1
            if attrs.get("type") == BP_CORRELATION:
                self._correlation = {"attrs": attrs, "line": line, "index": self.records - 1}
            else:
                self._skip(attrs.get("type", "Correlation"))

    def _end(self, name: str) -> None:
        if name == "Correlation" and self._correlation is not None:
            self._close_correlation(self._correlation)
            self._correlation = None

    # -- records ---------------------------------------------------------------------------

    def _record(self, attrs: dict[str, str], line: int) -> None:
        kind_type = attrs.get("type", "")
        where = Where(self.records - 1, f"line {line}")
        if self._correlation is not None:
            if kind_type in (SYSTOLIC, DIASTOLIC):
                self._correlation[kind_type] = attrs
            return
        if kind_type in (SYSTOLIC, DIASTOLIC):
            key = (attrs.get("startDate", ""), attrs.get("endDate", ""), attrs.get("sourceName", ""))
            self._pending.setdefault(key, {"where": where})[kind_type] = attrs
            return
        if kind_type == SLEEP:
            self._sleep(where, attrs)
            return
        known = QUANTITY_TYPES.get(kind_type)
        if known is None:
            self._skip(kind_type or "Record")
            return
        kind, unit = known
        self._emit(where, kind, attrs, unit or attrs.get("unit", ""))

    def _times(self, where: Where, attrs: dict[str, str]) -> tuple[Any, Any] | RecordError:
        start = times.apple(where, "startDate", attrs.get("startDate"))
        if isinstance(start, RecordError):
            return start
        end = times.apple(where, "endDate", attrs.get("endDate")) if attrs.get("endDate") else None
        if isinstance(end, RecordError):
            return end
        return start, end

    def _device(self, attrs: dict[str, str]) -> DeviceInfo | None:
        return parse_device(attrs.get("device"), attrs.get("sourceName"), attrs.get("sourceVersion"))

    def _emit(self, where: Where, kind: str, attrs: dict[str, str], unit: str) -> None:
        span = self._times(where, attrs)
        if isinstance(span, RecordError):
            self._out.append(span)
            return
        value = number(attrs.get("value"))
        if value is None:
            self._out.append(where.error("value", "ingest_number", value=str(attrs.get("value"))[:40]))
            return
        self._out.append(make_sample(where, kind, span[0], span[1], value, unit, device=self._device(attrs)))

    def _sleep(self, where: Where, attrs: dict[str, str]) -> None:
        value = attrs.get("value", "")
        if not value.startswith(ASLEEP):
            self._skip(f"{SLEEP}:{value.removeprefix('HKCategoryValueSleepAnalysis')}")
            return
        span = self._times(where, attrs)
        if isinstance(span, RecordError):
            self._out.append(span)
            return
        start, end = span
        minutes = (end - start).total_seconds() / 60 if end is not None else None
        self._out.append(make_sample(where, "sleep", start, end, minutes, "min", device=self._device(attrs)))

    # -- blood pressure --------------------------------------------------------------------

    def _pair(
        self,
        where: Where,
        outer: dict[str, str],
        systolic: dict[str, str] | None,
        diastolic: dict[str, str] | None,
    ) -> None:
        if systolic is None or diastolic is None:
            half = "systolic" if systolic is not None else "diastolic"
            self._out.append(where.error(half, "ingest_bp_unpaired"))
            return
        key = (outer.get("startDate", ""), outer.get("endDate", ""), outer.get("sourceName", ""))
        sys_value, dia_value = number(systolic.get("value")), number(diastolic.get("value"))
        if sys_value is None or dia_value is None:
            bad, raw = (
                ("systolic", systolic.get("value"))
                if sys_value is None
                else ("diastolic", diastolic.get("value"))
            )
            self._out.append(where.error(bad, "ingest_number", value=shown(raw, 40)))
            return
        identity = (key, sys_value, dia_value)
        if identity in self._paired:
            self._skip("duplicate blood pressure")
            return
        self._paired.add(identity)
        span = self._times(where, outer)
        if isinstance(span, RecordError):
            self._out.append(span)
            return
        self._out.append(
            make_sample(
                where,
                "blood-pressure",
                span[0],
                span[1],
                None,
                systolic.get("unit", ""),
                components={"systolic": sys_value, "diastolic": dia_value},
                device=self._device(systolic),
            )
        )

    def _close_correlation(self, corr: dict[str, Any]) -> None:
        where = Where(corr["index"], f"line {corr['line']}")
        self._pair(where, corr["attrs"], corr.get(SYSTOLIC), corr.get(DIASTOLIC))

    def _unpaired(self) -> Iterator[Sample | RecordError]:
        """Loose systolic/diastolic records, paired by (start, end, source), once the whole
        document is read (HealthKit writes each type's records together, far apart)."""
        for key, halves in sorted(self._pending.items()):
            outer = {"startDate": key[0], "endDate": key[1], "sourceName": key[2]}
            self._pair(halves["where"], outer, halves.get(SYSTOLIC), halves.get(DIASTOLIC))
        self._pending.clear()
        yield from self._drain()


def read_apple_health(source: str | Path | IO[bytes], limits: safe_xml.Limits | None = None) -> Conversion:
    """The whole export as one :class:`Conversion` (fine for tests and small files; stream with
    :class:`AppleHealthStream` for real exports)."""
    stream = AppleHealthStream(source, limits)
    result = Conversion()
    for item in stream:
        result.add(item)
    result.skipped = stream.skipped
    return result

"""The normalised device sample every converter produces, and per-record errors.

A converter turns a source format (Open mHealth, Apple Health, Withings-style JSON, CSV) into
:class:`Sample` values — one measurement of one catalogued kind, in the kind's canonical UCUM
unit, at a timezone-aware time — and :class:`RecordError` values for the records it refused.
A bad record never stops the others; only a file that cannot be read at all (not JSON, unsafe
XML, over the size limits) raises :class:`~hygie.fhir.outcome.FhirError`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from hygie.fhir.messages import register, render
from hygie.fhir.outcome import Issue, Severity
from hygie.monitoring.ingest.catalogue import kind as catalogue_kind

register(
    {
        "ingest_not_json": {
            "fr": "Le contenu n'est pas du JSON valide : {detail}.",
            "en": "The content is not valid JSON: {detail}.",
        },
        "ingest_missing": {
            "fr": "Enregistrement {location} : « {field} » manque.",
            "en": "Record {location}: '{field}' is missing.",
        },
        "ingest_number": {
            "fr": "Enregistrement {location} : « {field} » n'est pas un nombre ({value}).",
            "en": "Record {location}: '{field}' is not a number ({value}).",
        },
        "ingest_time": {
            "fr": "Enregistrement {location} : date « {value} » illisible dans « {field} ».",
            "en": "Record {location}: unreadable date '{value}' in '{field}'.",
        },
        "ingest_time_range": {
            "fr": "Enregistrement {location} : la date « {value} » de « {field} » n'est pas entre les "
            "années {first} et {last} (en temps universel).",
            "en": "Record {location}: the time '{value}' in '{field}' is not between the years {first} "
            "and {last} (in UTC).",
        },
        "ingest_naive_time": {
            "fr": "Enregistrement {location} : la date « {value} » de « {field} » n'a pas de fuseau "
            "horaire (ajoutez un décalage comme +01:00, ou un fuseau dans la correspondance CSV).",
            "en": "Record {location}: the time '{value}' in '{field}' has no timezone (add an offset "
            "such as +01:00, or a timezone in the CSV mapping).",
        },
        "ingest_interval": {
            "fr": "Enregistrement {location} : « {kind} » demande une fin postérieure au début.",
            "en": "Record {location}: '{kind}' needs an end after its start.",
        },
        "ingest_kind": {
            "fr": "Enregistrement {location} : type de mesure inconnu « {value} ».",
            "en": "Record {location}: unknown kind of measurement '{value}'.",
        },
        "ingest_unit": {
            "fr": "Enregistrement {location} : unité « {unit} » non acceptée pour « {kind} » "
            "(acceptées : {accepted}).",
            "en": "Record {location}: unit '{unit}' is not accepted for '{kind}' (accepted: {accepted}).",
        },
        "ingest_range": {
            "fr": "Enregistrement {location} : {field} = {value} {unit} est impossible "
            "(limites de vraisemblance {low}–{high} {unit}).",
            "en": "Record {location}: {field} = {value} {unit} is impossible "
            "(plausibility limits {low}–{high} {unit}).",
        },
        "ingest_bp_order": {
            "fr": "Enregistrement {location} : la diastolique ({diastolic}) doit être inférieure "
            "à la systolique ({systolic}).",
            "en": "Record {location}: the diastolic ({diastolic}) must be below the systolic ({systolic}).",
        },
        "ingest_bp_unpaired": {
            "fr": "Enregistrement {location} : pression {field} sans la valeur associée "
            "(systolique et diastolique vont ensemble).",
            "en": "Record {location}: {field} pressure without its pair (systolic and diastolic "
            "go together).",
        },
    }
)


MAX_DEVICE_TEXT = 200  # characters of a device's name, model, identifier…
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a source says about the device that measured (every field optional)."""

    manufacturer: str | None = None
    model: str | None = None
    model_number: str | None = None  # hardware revision, e.g. "Watch6,1"
    name: str | None = None
    identifier: str | None = None  # serial number, UDI or the source's device id
    source: str | None = None  # the app or service that recorded it
    version: str | None = None  # software/firmware version (not part of the identity)

    def __post_init__(self) -> None:
        """Every source's text made safe to store: control characters (NUL, which PostgreSQL's
        text refuses, among them) removed, cut to :data:`MAX_DEVICE_TEXT`; empty is absent."""
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, str):
                kept = _CONTROL.sub("", value).strip()[:MAX_DEVICE_TEXT]
                object.__setattr__(self, name, kept or None)

    def identity(self) -> tuple[str, ...]:
        """What makes two readings come from the same device: its identifier when known (with
        its manufacturer), else every descriptive field; never the software version."""
        if self.identifier:
            return ("id", self.manufacturer or "", self.identifier)
        return (
            "desc",
            self.manufacturer or "",
            self.model or "",
            self.model_number or "",
            self.name or "",
            self.source or "",
        )


class Sample(NamedTuple):
    """One measurement: ``value`` (or ``components``) in the catalogue's canonical unit (a named
    tuple: a stream builds hundreds of thousands of them, and a tuple is the cheapest to make)."""

    kind: str
    start: datetime
    end: datetime | None
    value: float | None
    components: tuple[tuple[str, float], ...] = ()
    device: DeviceInfo | None = None
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordError:
    """A refused record: its ordinal ``index`` in the source (0-based), a human ``location``
    (``line 12``, ``[3].body``, ``measuregrps[2]``), the ``field`` at fault and a message key
    of ``hygie.fhir.messages`` with its parameters."""

    index: int
    location: str
    field: str
    key: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def message(self, lang: str = "fr") -> str:
        return render(self.key, lang, {"location": self.location, "field": self.field, **self.params})

    def to_issue(self, severity: Severity = "error") -> Issue:
        """The error as an OperationOutcome issue (code ``value``, or ``invalid`` for structure).
        The position is in the message (``location`` is not a FHIRPath expression of a resource)."""
        code = "value" if self.key in {"ingest_range", "ingest_unit", "ingest_bp_order"} else "invalid"
        return Issue(
            code=code,
            key=self.key,
            params={"location": self.location, "field": self.field, **self.params},
            severity=severity,
        )


@dataclass(slots=True)
class Conversion:
    """What a converter returns: the samples, the refused records, and the records skipped on
    purpose (unknown types, duplicates), counted by reason."""

    samples: list[Sample] = dataclasses.field(default_factory=list)
    errors: list[RecordError] = dataclasses.field(default_factory=list)
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def add(self, item: Sample | RecordError) -> None:
        if isinstance(item, Sample):
            self.samples.append(item)
        else:
            self.errors.append(item)


def number(raw: Any) -> float | None:
    """A finite float from a JSON number or a numeric string (``,`` is not accepted here)."""
    kind = type(raw)
    if kind is int or kind is float:  # the common case first (bool is not int here: type is exact)
        value = float(raw)
    elif isinstance(raw, bool):
        return None
    elif isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        if "_" in raw:  # "1_0" is 10.0 for Python's float(), a typo anywhere else
            return None
        try:
            value = float(raw.strip())
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class Where:
    """The position of the record being converted (for its errors)."""

    index: int
    location: str

    def error(self, fld: str, key: str, **params: Any) -> RecordError:
        return RecordError(self.index, self.location, fld, key, params)


def _accepted(units: dict[str, tuple[float, float]]) -> str:
    return ", ".join(units)


def _fmt(value: float) -> str:
    return f"{value:g}"


def make_sample(
    where: Where,
    kind_key: str,
    start: datetime,
    end: datetime | None,
    value: float | None,
    unit: str,
    *,
    components: dict[str, float] | None = None,
    device: DeviceInfo | None = None,
    source_id: str | None = None,
    value_field: str = "value",
) -> Sample | RecordError:
    """Check and normalise one record: known kind and unit, conversion to the canonical unit,
    aware times, interval shape, sanity limits (systolic above diastolic)."""
    k = catalogue_kind(kind_key)
    if k is None:
        return where.error("kind", "ingest_kind", value=str(kind_key)[:60])
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and moment.utcoffset() is None:
            return where.error(name, "ingest_naive_time", value=moment.isoformat())
    if end is not None and end == start:
        end = None
    if (end is not None and end < start) or (k.shape == "interval" and end is None):
        return where.error("end", "ingest_interval", kind=k.key)
    if unit not in k.units:
        return where.error(
            "unit", "ingest_unit", unit=str(unit)[:40], kind=k.key, accepted=_accepted(k.units)
        )
    converted: list[tuple[str, float]] = []
    if k.components:
        given = components or {}
        for comp in k.components:
            raw = given.get(comp.name)
            if raw is None:
                return where.error(comp.name, "ingest_missing")
            canonical = k.convert(raw, unit)
            assert canonical is not None  # the unit is known
            if not comp.limits[0] <= canonical <= comp.limits[1]:
                return where.error(
                    comp.name,
                    "ingest_range",
                    value=_fmt(canonical),
                    unit=k.unit,
                    low=_fmt(comp.limits[0]),
                    high=_fmt(comp.limits[1]),
                )
            converted.append((comp.name, canonical))
        values = dict(converted)
        if "systolic" in values and "diastolic" in values and values["diastolic"] >= values["systolic"]:
            return where.error(
                "diastolic",
                "ingest_bp_order",
                systolic=_fmt(values["systolic"]),
                diastolic=_fmt(values["diastolic"]),
            )
        return Sample(k.key, start, end, None, tuple(converted), device, source_id)
    if value is None:
        return where.error(value_field, "ingest_missing")
    canonical = k.convert(value, unit)
    assert canonical is not None
    violated = k.within(value, unit, canonical)
    if violated is not None:
        low, high, in_unit = violated
        shown = value if in_unit == unit else canonical
        return where.error(
            value_field, "ingest_range", value=_fmt(shown), unit=in_unit, low=_fmt(low), high=_fmt(high)
        )
    return Sample(k.key, start, end, canonical, (), device, source_id)


def shown(value: object, size: int = 60) -> str:
    """``value`` for an error message: its text cut to ``size``; never a walk of a nested array
    or object (a thousand levels deep, ``str`` raised RecursionError: a 500)."""
    if isinstance(value, dict):
        return "{…}"
    if isinstance(value, list):
        return "[…]"
    try:
        return str(value)[:size]
    except ValueError:  # an integer of more than 4,300 digits
        return "…"

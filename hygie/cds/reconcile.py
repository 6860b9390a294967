"""Reconciling the 2023 and 2020 editions of the ANSM interaction thesaurus into one pair list.

Rules (docs/medication-safety.md gives the counts of each):

1. A pair in the 2023 edition is taken from it (level, mechanism, conduct). When the 2020 edition
   has the same pair with another single level, the 2023 level wins and the change is noted.
2. A context-dependent 2023 pair (level list read from its "CI - ASDEC - APEC" header) takes its
   per-level conditions from the 2020 edition when the level lists agree; otherwise it keeps the
   levels with the 2023 conduct text as the condition.
3. A pair only in the 2020 edition is kept (edition "janvier 2020"), unless the 2023 edition has the
   same pair under a renamed entity (``aliases``: e.g. "anticonvulsivants inducteurs enzymatiques" →
   "inducteurs enzymatiques puissants"); superseded pairs are listed in the report, never dropped
   silently.
4. Both directions of a pair are merged into one unordered pair; when they disagree the most severe
   level is kept and the disagreement noted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hygie.cds.names import fold
from hygie.cds.thesaurus import RANK, Context, Pair, split_contexts

EDITION_2023 = "septembre 2023"
EDITION_2020 = "janvier 2020"


@dataclass
class Interaction:
    """One unordered pair of thesaurus entities (folded names), reconciled."""

    a: str
    b: str
    level: str
    mechanism: str
    conduct: str
    edition: str
    contexts: list[Context] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_row(self) -> list[Any]:
        """Compact JSON form: [a, b, level, mechanism, conduct, edition, contexts, notes]."""
        return [
            self.a,
            self.b,
            self.level,
            self.mechanism,
            self.conduct,
            self.edition,
            [[c.level, c.condition] for c in self.contexts],
            self.notes,
        ]


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    superseded: list[str] = field(default_factory=list)
    kept_2020_only: list[str] = field(default_factory=list)
    level_changes: list[str] = field(default_factory=list)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


def _keyed(
    pairs: list[Pair], aliases: dict[str, str], report: Report, label: str
) -> dict[tuple[str, str], Pair]:
    out: dict[tuple[str, str], Pair] = {}
    for pair in pairs:
        a, b = fold(pair.a), fold(pair.b)
        key = (aliases.get(a, a), aliases.get(b, b))
        if key != (a, b):
            report.add(f"{label}_names_aliased")
        if key in out:
            report.add(f"{label}_duplicate_rows")
            if RANK[pair.level] < RANK[out[key].level]:
                out[key] = pair
            continue
        out[key] = pair
    return out


def reconcile(
    pairs_2023: list[Pair], pairs_2020: list[Pair], aliases: dict[str, str], renamed: dict[str, str]
) -> tuple[list[Interaction], Report]:
    """One list of unordered interactions from both editions, and what was done to get it.

    ``aliases``: folded misspelt/truncated name → folded canonical name (applied to both editions).
    ``renamed``: folded 2020 entity → folded 2023 entity that replaces it (rule 3)."""
    report = Report()
    by23 = _keyed(pairs_2023, aliases, report, "2023")
    by20 = _keyed(pairs_2020, aliases, report, "2020")
    report.counts.update({"2023_directed_pairs": len(by23), "2020_directed_pairs": len(by20)})
    directed: list[tuple[tuple[str, str], Interaction]] = []
    for key, pair in by23.items():
        old = by20.get(key)
        inter = Interaction(
            key[0],
            key[1],
            pair.level,
            pair.mechanism,
            pair.conduct,
            EDITION_2023,
            list(pair.contexts),
            list(pair.notes),
        )
        if old is None:
            report.add("directed_only_2023")
        else:
            report.add("directed_in_both")
        if pair.contexts:
            levels = sorted(c.level for c in pair.contexts)
            if old is not None and sorted(c.level for c in old.contexts) == levels:
                inter.contexts = list(old.contexts)
                inter.notes.append("conditions of each level from the 2020 edition")
                report.add("directed_contexts_from_2020")
            else:
                inter.contexts = split_contexts([c.level for c in pair.contexts], pair.conduct)
                report.add("directed_contexts_2023_text")
        elif old is not None and old.level != pair.level:
            inter.notes.append(f"level {old.level} in the 2020 edition")
            report.level_changes.append(f"{key[0]} + {key[1]}: {old.level} (2020) → {pair.level} (2023)")
            report.add("directed_level_changed")
        directed.append((key, inter))
    for key, pair in by20.items():
        if key in by23:
            continue
        if (key[1], key[0]) in by23:
            report.add("directed_2020_reverse_in_2023")
            continue
        a, b = renamed.get(key[0], key[0]), renamed.get(key[1], key[1])
        if (a, b) != key and ((a, b) in by23 or (b, a) in by23):
            report.superseded.append(f"{key[0]} + {key[1]} → {a} + {b}")
            report.add("directed_superseded_by_rename")
            continue
        inter = Interaction(
            key[0],
            key[1],
            pair.level,
            pair.mechanism,
            pair.conduct,
            EDITION_2020,
            list(pair.contexts),
            ["absent from the 2023 extraction: kept from the 2020 edition"],
        )
        report.kept_2020_only.append(f"{key[0]} + {key[1]} ({pair.level})")
        report.add("directed_kept_2020_only")
        directed.append((key, inter))
    merged = _merge_directions(directed, report)
    report.counts["interactions"] = len(merged)
    for level in RANK:
        report.counts[f"interactions_{level}"] = sum(1 for i in merged if i.level == level)
    report.counts["interactions_with_contexts"] = sum(1 for i in merged if i.contexts)
    return merged, report


def _merge_directions(
    directed: list[tuple[tuple[str, str], Interaction]], report: Report
) -> list[Interaction]:
    by_pair: dict[tuple[str, str], Interaction] = {}
    for key, inter in directed:
        unordered = (min(key), max(key))
        current = by_pair.get(unordered)
        if current is None:
            inter.a, inter.b = unordered
            by_pair[unordered] = inter
            continue
        report.add("directions_merged")
        if current.level != inter.level:
            report.add("directions_disagreeing")
            keep, other = (inter, current) if RANK[inter.level] < RANK[current.level] else (current, inter)
            keep.notes.append(f"the other direction says {other.level} ({other.edition})")
            keep.a, keep.b = unordered
            by_pair[unordered] = keep
        elif current.edition != inter.edition and inter.edition == EDITION_2023:
            inter.a, inter.b = unordered
            by_pair[unordered] = inter
    return [by_pair[k] for k in sorted(by_pair)]

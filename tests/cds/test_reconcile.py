"""Reconciling the 2023 and 2020 editions: every rule, and no pair lost silently."""

from __future__ import annotations

from hygie.cds.reconcile import EDITION_2020, EDITION_2023, reconcile
from hygie.cds.thesaurus import Context, Pair


def p(a: str, b: str, level: str, contexts: list[tuple[str, str]] | None = None) -> Pair:
    return Pair(a, b, level, f"mécanisme {a}/{b}", f"conduite {a}/{b}", [Context(*c) for c in contexts or []])


def test_rules() -> None:
    p23 = [
        p("IBRUTINIB", "ANTICOAGULANTS ORAUX", "AD"),
        p("ANTICOAGULANTS ORAUX", "IBRUTINIB", "AD"),
        p("LEDIPASVIR", "STATINES", "CI", [("CI", ""), ("PE", "")]),
        p("ABIRATERONE", "INDUCTEURS ENZYMATIQUES PUISSANTS", "AD"),
        p("NOUVEAU", "AUTRE", "PE"),
    ]
    p20 = [
        p("IBRUTINIB", "ANTICOAGULANTS ORAUX", "PE"),
        p("LEDIPASVIR", "STATINES", "CI", [("CI", "avec la rosuvastatine"), ("PE", "avec les autres")]),
        p("ABIRATERONE", "ANTICONVULSIVANTS INDUCTEURS ENZYMATIQUES", "AD"),
        p("METHOTREXATE", "TRIMETHOPRIME", "CI"),
    ]
    merged, report = reconcile(
        p23, p20, {}, {"ANTICONVULSIVANTS INDUCTEURS ENZYMATIQUES": "INDUCTEURS ENZYMATIQUES PUISSANTS"}
    )
    by = {(i.a, i.b): i for i in merged}
    ibrutinib = by[("ANTICOAGULANTS ORAUX", "IBRUTINIB")]  # rule 1 + rule 4 (two directions, one pair)
    assert ibrutinib.level == "AD" and ibrutinib.edition == EDITION_2023
    assert "level PE in the 2020 edition" in ibrutinib.notes
    ledipasvir = by[("LEDIPASVIR", "STATINES")]  # rule 2
    assert [(c.level, c.condition) for c in ledipasvir.contexts] == [
        ("CI", "avec la rosuvastatine"),
        ("PE", "avec les autres"),
    ]
    assert ("ABIRATERONE", "ANTICONVULSIVANTS INDUCTEURS ENZYMATIQUES") not in by  # rule 3: superseded…
    assert report.superseded == [
        "ABIRATERONE + ANTICONVULSIVANTS INDUCTEURS ENZYMATIQUES → "
        "ABIRATERONE + INDUCTEURS ENZYMATIQUES PUISSANTS"
    ]  # …and listed
    kept = by[("METHOTREXATE", "TRIMETHOPRIME")]  # rule 3: kept from 2020
    assert kept.edition == EDITION_2020 and kept.level == "CI"
    assert report.counts["interactions"] == len(merged) == 5
    assert report.counts["directed_level_changed"] == 1


def test_every_directed_pair_is_accounted_for() -> None:
    p23 = [p("A", "B", "PE"), p("B", "A", "CI")]
    p20 = [p("A", "C", "AD"), p("C", "A", "AD"), p("D", "E", "APEC")]
    merged, report = reconcile(p23, p20, {}, {})
    assert {(i.a, i.b): i.level for i in merged} == {("A", "B"): "CI", ("A", "C"): "AD", ("D", "E"): "APEC"}
    assert report.counts["directions_disagreeing"] == 1
    assert report.counts["directed_kept_2020_only"] == 3

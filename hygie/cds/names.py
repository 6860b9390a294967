"""Substance names as keys: case and accent folding, salts, esters and hydrates removed.

The BDPM names a substance the way its marketing authorisation does (``CHLORHYDRATE DE
METFORMINE``, ``AMLODIPINE (BÉSILATE D')``, ``LOSARTAN POTASSIQUE``, ``VALPROATE DE SODIUM``); the
ANSM interaction thesaurus names the active moiety (``METFORMINE``, ``VALPROÏQUE (ACIDE)``).
:func:`candidates` turns one name into the keys to try, from the most to the least specific, so that
a salt or an ester is matched to its moiety and ``-ATE`` salts to their ``ACIDE -IQUE``. Pure.
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_BROKEN_HYPHEN = re.compile(r"(?<=[A-Z])- (?=[A-Z])")
_PAREN = re.compile(r"\(([^()]*)\)")

SALTS = frozenset(
    [
        "ACETATE",
        "ACETONIDE",
        "ARGININE",
        "ASPARTATE",
        "AXETIL",
        "BENZATHINE",
        "BENZOATE",
        "BESILATE",
        "BESYLATE",
        "BICARBONATE",
        "BISULFATE",
        "BITARTRATE",
        "BROMHYDRATE",
        "BROMURE",
        "BUTYRATE",
        "CAMSILATE",
        "CARBONATE",
        "CHLORHYDRATE",
        "CHLORURE",
        "CILEXETIL",
        "CITRATE",
        "DECANOATE",
        "DIACETATE",
        "DICHLORHYDRATE",
        "DIFUMARATE",
        "DIHYDROCHLORURE",
        "DIMALEATE",
        "DIPROPIONATE",
        "DISODIQUE",
        "DISULFATE",
        "EDISILATE",
        "EMBONATE",
        "ENANTATE",
        "ESILATE",
        "ESTOLATE",
        "ETABONATE",
        "ETEXILATE",
        "ETHYLSUCCINATE",
        "FUMARATE",
        "FUROATE",
        "GLUCONATE",
        "HEMIFUMARATE",
        "HEMISUCCINATE",
        "HEMISULFATE",
        "HEMITARTRATE",
        "HYCLATE",
        "HYDROBROMURE",
        "HYDROCHLORURE",
        "HYDROGENOMALEATE",
        "HYDROGENOSUCCINATE",
        "HYDROGENOTARTRATE",
        "HYDROXYDE",
        "IODURE",
        "ISETIONATE",
        "LACTATE",
        "LACTOBIONATE",
        "LYSINATE",
        "MALATE",
        "MALEATE",
        "MEDOXOMIL",
        "MESILATE",
        "MESYLATE",
        "METHYLSULFATE",
        "MOFETIL",
        "NAPADISILATE",
        "NAPSILATE",
        "NICOTINATE",
        "NITRATE",
        "OLAMINE",
        "OXALATE",
        "PALMITATE",
        "PAMOATE",
        "PHOSPHATE",
        "PIVALATE",
        "PIVOXIL",
        "POLISTIREX",
        "PROPIONATE",
        "PROXETIL",
        "SEL",
        "SELS",
        "STEARATE",
        "SUCCINATE",
        "SULFATE",
        "TARTRATE",
        "TEBUTATE",
        "TERT-BUTYLAMINE",
        "TROMETAMOL",
        "ACEPONATE",
        "TOSILATE",
        "CAPROATE",
        "HEXACETONIDE",
        "METILSULFATE",
        "DIISETHIONATE",
        "EPOLAMINE",
        "TRIMETHYLACETATE",
        "TOSYLATE",
        "TRIFENATATE",
        "UNDECANOATE",
        "VALERATE",
        "XINAFOATE",
        "ERBUMINE",
    ]
)
"""Counter-ions and pro-drug esters that name a salt of the moiety, not the moiety itself."""

QUALIFIERS = frozenset(
    [
        "SODIQUE",
        "POTASSIQUE",
        "CALCIQUE",
        "MAGNESIQUE",
        "MAGNESIEN",
        "DISODIQUE",
        "TRISODIQUE",
        "DIPOTASSIQUE",
        "LITHIQUE",
        "ANHYDRE",
        "BASE",
        "HYDRATE",
        "MONOHYDRATE",
        "MONOHYDRATEE",
        "HEMIHYDRATE",
        "SESQUIHYDRATE",
        "DIHYDRATE",
        "DIHYDRATEE",
        "TRIHYDRATE",
        "TRIHYDRATEE",
        "TETRAHYDRATE",
        "PENTAHYDRATE",
        "HEXAHYDRATE",
        "HEPTAHYDRATE",
        "HEMIPENTAHYDRATE",
        "ELEMENT",
        "AMORPHE",
        "MICRONISE",
        "MICRONISEE",
        "CRISTALLISE",
        "CRISTALLISEE",
        "ARGININE",
        "LYSINE",
        "SEL",
        "MONOSODIQUE",
        "RECOMBINANTE",
        "SOLUBLE",
        "RACEMIQUE",
        "ACIDE",
        "NEUTRE",
        "LIQUIDE",
        "LEGERE",
        "HEMIHEPTAHYDRATE",
    ]
)
"""Words after the moiety that qualify its form (cation, hydration, "base")."""

LINKS = ("DE ", "D'", "DU ")
CATIONS = frozenset(
    ["SODIUM", "POTASSIUM", "CALCIUM", "MAGNESIUM", "LITHIUM", "ZINC", "MEGLUMINE", "LYSINE", "ARGININE"]
)
_CATIONS = (
    " DE SODIUM",
    " DE POTASSIUM",
    " DE CALCIUM",
    " DE MAGNESIUM",
    " DE LITHIUM",
    " DE ZINC",
    " DE MEGLUMINE",
    " DE DL-LYSINE",
    " DE LYSINE",
    " D'ARGININE",
    " DE DIETHYLAMINE",
    " D'ALUMINIUM",
)


def fold(text: str) -> str:
    """Upper case, accents and ligatures removed, typographic quotes made plain, spaces collapsed."""
    text = text.replace("Œ", "OE").replace("œ", "oe").replace("Æ", "AE").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    plain = plain.replace("’", "'").replace("`", "'").replace("\u00a0", " ")
    return _BROKEN_HYPHEN.sub("-", _SPACES.sub(" ", plain).strip())


def _unparen(name: str) -> list[str]:
    """``AMLODIPINE (BESILATE D')`` → ``BESILATE D'AMLODIPINE``; ``VALPROIQUE (ACIDE)`` →
    ``ACIDE VALPROIQUE``; also the name without the parenthesis."""
    match = _PAREN.search(name)
    if not match:
        return []
    inner = match.group(1).strip()
    outer = _SPACES.sub(" ", _PAREN.sub(" ", name)).strip()
    out = [outer]
    if inner.endswith(("DE", "D'", "DU")):
        joiner = "" if inner.endswith("'") else " "
        out.insert(0, f"{inner}{joiner}{outer}")
        anion = inner.split(" ")[0]
        if outer in CATIONS and anion not in SALTS:  # SODIUM (VALPROATE DE): the moiety is the anion
            out = [out[0], re.sub(r"\s*\b(DE|D'|DU)$", "", inner).strip()]
    elif inner:
        out.insert(0, f"{inner} {outer}")
    return out


def _strip_salt(name: str) -> str | None:
    """``CHLORHYDRATE DE METFORMINE`` → ``METFORMINE``; ``LOSARTAN POTASSIQUE`` → ``LOSARTAN``."""
    words = name.split(" ")
    if words and words[0] in SALTS:
        rest = " ".join(words[1:])
        for link in LINKS:
            if rest.startswith(link):
                return rest[len(link) :].strip() or None
        return rest or None
    for link in _CATIONS:
        if name.endswith(link) and len(name) > len(link):
            return name[: -len(link)]
    if len(words) > 1 and (words[-1] in QUALIFIERS or words[-1] in SALTS):
        return " ".join(words[:-1])
    return None


def _acid(name: str) -> str | None:
    """``VALPROATE`` → ``ACIDE VALPROIQUE`` (French names of an acid's salts)."""
    if " " not in name and name.endswith("ATE") and len(name) > 5:
        return f"ACIDE {name[:-3]}IQUE"
    return None


def candidates(name: str) -> list[str]:
    """Keys to look a substance up by, most specific first, without duplicates."""
    out: list[str] = []
    todo = [fold(name)]
    while todo:
        key = todo.pop(0).strip(" ,")
        if not key or key in out:
            continue
        out.append(key)
        head = key.split(", ")[0]
        if head != key and head.count("(") == head.count(")"):
            todo.append(head)
        todo.extend(_unparen(key))
        stripped = _strip_salt(key)
        if stripped:
            todo.append(stripped)
        acid = _acid(key)
        if acid:
            todo.append(acid)
    return out


def thesaurus_keys(name: str, *, substance: bool) -> list[str]:
    """Keys under which a thesaurus entity is registered: its folded name; ``ACIDE VALPROIQUE`` for
    ``VALPROIQUE (ACIDE)``; for a substance (never a class, whose parenthesis narrows it, as in
    ``HEPARINES (DOSES PREVENTIVES)``) also the name without its parenthesis."""
    key = fold(name)
    out = [key]
    match = _PAREN.search(key)
    if match:
        outer = _SPACES.sub(" ", _PAREN.sub(" ", key)).strip()
        if match.group(1).strip() == "ACIDE":
            out.append(f"ACIDE {outer}")
        elif substance:
            out.append(outer)
    return out

"""Finding a drug to prescribe: the marketed BDPM products whose name or substances match a text.

Used by the clinician workspace's prescription screen (docs/web.md "Prescribing"). The products
are those of the current BDPM edition in the knowledge base that are marketed (``m``; the 2017
edition only completes the resolution of older prescriptions, it is not offered). A query
matches a product when every word of it begins a word of the product's name or of one of its
substances' names (accents and case folded: ``metf 850`` finds "METFORMINE … 850 mg"; ``doliprane``
finds the brand). Results: products whose name starts with the query first, then by name; each
with its CIS code, its substances with their dosage, and the ATC code when a single substance has one.
"""

from __future__ import annotations

import bisect
import functools
import re
import threading
from dataclasses import dataclass

from hygie.cds.knowledge import Knowledge
from hygie.cds.names import fold

MIN_QUERY = 3  # characters: shorter queries match too much to be useful
MAX_QUERY = 100
LIMIT = 25
_WORD = re.compile(r"[A-Z0-9]+(?:[.,][0-9]+)?")


@dataclass(frozen=True, slots=True)
class Product:
    cis: str
    name: str
    substances: tuple[tuple[str, float | None], ...]  # name, mg per unit when known
    atc: str | None


def words(text: str) -> tuple[str, ...]:
    """The folded words of a text (``850``, ``1,5`` kept as numbers)."""
    return tuple(_WORD.findall(fold(text)))


@dataclass(frozen=True, slots=True)
class _Index:
    rows: tuple[tuple[str, str], ...]  # (cis, folded name) of the offered products, by name
    vocabulary: tuple[str, ...]  # every word of their names and substances, sorted
    postings: dict[str, frozenset[int]]  # word → the rows it appears in


_building = threading.Lock()  # a search arriving during the warm-up waits for it


def _index(kb: Knowledge) -> _Index:
    with _building:
        return _build(kb)


@functools.cache
def _build(kb: Knowledge) -> _Index:
    current = max((str(p.get("y") or "") for p in kb.products.values()), default="")
    found = []
    for cis, item in kb.products.items():
        if not item.get("m") or str(item.get("y") or "") != current:
            continue
        name = str(item["n"])
        vocabulary = set(words(name))
        for substance in item.get("s") or []:
            vocabulary.update(words(str(substance[0])))
        found.append((cis, " ".join(words(name)), vocabulary))
    found.sort(key=lambda r: (r[1], r[0]))
    postings: dict[str, set[int]] = {}
    for n, (_, _, vocabulary) in enumerate(found):
        for word in vocabulary:
            postings.setdefault(word, set()).add(n)
    return _Index(
        tuple((cis, name) for cis, name, _ in found),
        tuple(sorted(postings)),
        {word: frozenset(rows) for word, rows in postings.items()},
    )


def prepare(kb: Knowledge) -> None:
    """Build the search index now (about 1 s, once per knowledge base) rather than at the first
    search."""
    _index(kb)


def _starting(index: _Index, prefix: str) -> set[int]:
    """The rows having a word that starts with ``prefix``."""
    rows: set[int] = set()
    at = bisect.bisect_left(index.vocabulary, prefix)
    while at < len(index.vocabulary) and index.vocabulary[at].startswith(prefix):
        rows.update(index.postings[index.vocabulary[at]])
        at += 1
    return rows


@functools.cache
def _offered(kb: Knowledge) -> frozenset[str]:
    return frozenset(cis for cis, _ in _index(kb).rows)


def product(kb: Knowledge, cis: str) -> Product | None:
    """One offered product by its CIS code (None when unknown or not marketed)."""
    if cis not in _offered(kb):
        return None
    return _product(kb, cis)


def _product(kb: Knowledge, cis: str) -> Product:
    found = kb.products[cis]
    parts = tuple(
        (str(s[0]), float(s[1]) if isinstance(s[1], int | float) else None) for s in found.get("s") or []
    )
    distinct = {kb.canonical(name) for name, _ in parts}
    atc = kb.atc(next(iter(distinct))) if len(distinct) == 1 else None
    return Product(cis, str(found["n"]), tuple(dict.fromkeys(parts)), atc)


def search(kb: Knowledge, query: str, limit: int = LIMIT) -> list[Product]:
    """The offered products matching ``query`` (see the module docstring); [] for a short query."""
    wanted = words(query[:MAX_QUERY])
    if len("".join(wanted)) < MIN_QUERY:
        return []
    start = " ".join(wanted)
    index = _index(kb)
    matched: set[int] | None = None
    for prefix in sorted(set(wanted), key=len, reverse=True):
        rows = _starting(index, prefix)
        matched = rows if matched is None else matched & rows
        if not matched:
            return []
    hits = sorted(matched or (), key=lambda n: (not index.rows[n][1].startswith(start), n))
    return [_product(kb, index.rows[n][0]) for n in hits[:limit]]

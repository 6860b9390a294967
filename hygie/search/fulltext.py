"""Full-text search: ``_text`` (the narrative) and ``_content`` (the whole resource).

Spec: https://hl7.org/fhir/R4/search.html#text and https://hl7.org/fhir/R4/search.html#content —
``_text`` searches the narrative (``text.div``), ``_content`` the entire text of the resource.

Both sides, documents and queries, go through the same steps, so matching is case- and
accent-insensitive and tolerant of French inflection:

1. split into words on whitespace and punctuation, fold each word with
   :func:`hygie.search.normalize.fold` (case, accents, ligatures, Arabic marks), keep letters and
   digits only;
2. stem with the Snowball French algorithm: libstemmer through ``PyStemmer`` for SQLite FTS5,
   which has no French stemmer, and PostgreSQL's own ``french`` text search configuration (the
   same Snowball algorithm, plus French stop words) for the ``tsvector`` column.

A query value is a small boolean language: words are ANDed (``AND``/``and`` may be written),
``OR`` (upper case: "or" is a French word) separates alternatives, ``"quoted words"`` form a phrase,
parentheses group; comma-separated values are ORed as everywhere in FHIR search. Every token is
reduced to letters and digits and quoted by this module when rendered to FTS5 or ``tsquery``
syntax, so no user input can produce a syntax error in either engine.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import Stemmer  # type: ignore[import-not-found]

from hygie.search.normalize import fold

NARRATIVE_CAP = 16_384  # characters of narrative plain text indexed per resource
CONTENT_CAP = 4_096  # characters of the other strings indexed per resource (write cost, size)
MAX_VALUE = 1_000  # characters of one query value
MAX_PHRASES = 32  # phrases (words or quoted groups) in one criterion
MAX_DEPTH = 8  # nesting of parentheses in one query value
MAX_WORD = 64  # longer "words" (base64, hashes) are not indexed

# The statement every criterion compiles to, the same text on both databases: SQLite reads it as
# the FTS5 table ``fulltext`` called as a table-valued function (``fulltext MATCH ?``),
# PostgreSQL as the SQL function ``fulltext(text)`` over ``fulltext_doc`` (see migrations).
SQL = "SELECT rowid FROM fulltext(?)"

# Keys whose string values are not text: ids, URLs, codes' systems, binary data, the narrative
# (indexed on its own), server metadata.
_SKIP_KEYS = frozenset(
    {
        "id",
        "meta",
        "url",
        "system",
        "reference",
        "data",
        "fullUrl",
        "resourceType",
        "contentType",
        "language",
        "version",
        "hash",
        "div",
        "valueUri",
        "valueUrl",
        "valueCanonical",
        "valueBase64Binary",
    }
)
_SEPARATORS = re.compile(r"[\s!-/:-@\[-`{-~\u00a0-\u00bf\u2000-\u206f\u3000-\u303f]+")
_WORD = re.compile(r"[^\W_]+")
_NOT_TEXT = re.compile(  # matched at the start of a string value
    r"[a-zA-Z][a-zA-Z0-9+.-]*:\S"  # URLs, URNs, OIDs (urn:oid:...), data: URIs
    r"|\d{4}-\d\d"  # dates and instants
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"  # UUIDs
)
_COMMENT = re.compile(r"<!--.*?-->|<!\[CDATA\[|\]\]>", re.S)
_HIDDEN = re.compile(r"<(script|style)\b.*?</\1\s*>", re.S | re.I)
_TAG = re.compile(r"<[^>]*>?")


class _Stemmers(threading.local):
    """One libstemmer object per thread (PyStemmer's objects are not to be shared)."""

    def __init__(self) -> None:
        self.french = Stemmer.Stemmer("french")


_STEMMERS = _Stemmers()


# -- words --------------------------------------------------------------------------------------
@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball French stem of a folded word (the vocabulary is small: cached)."""
    result: str = _STEMMERS.french.stemWord(word)
    return result


@lru_cache(maxsize=65536)
def _fold_chunk(chunk: str) -> tuple[str, ...]:
    return tuple(w for w in _WORD.findall(fold(chunk)) if len(w) <= MAX_WORD)


def words(text: str) -> list[str]:
    """Folded words of ``text``: letters and digits only, in order."""
    if text.isascii():
        return [w for w in _WORD.findall(text.lower()) if len(w) <= MAX_WORD]
    out: list[str] = []
    for chunk in _SEPARATORS.split(text):
        if chunk:
            out.extend(_fold_chunk(chunk))
    return out


# -- documents ----------------------------------------------------------------------------------
def narrative_text(div: str) -> str:
    """Plain text of an XHTML narrative: comments, scripts and tags dropped, entities decoded."""
    text = _HIDDEN.sub(" ", _COMMENT.sub(" ", div[: NARRATIVE_CAP * 4]))
    return html.unescape(_TAG.sub(" ", text))[:NARRATIVE_CAP]


def content_strings(resource: dict[str, Any], budget: int = CONTENT_CAP) -> list[str]:
    """String values of a resource that carry text (not ids, URLs, dates...), ``budget`` chars."""
    out: list[str] = []
    left = budget
    stack: list[Any] = [resource]
    pop, push, append = stack.pop, stack.append, out.append
    not_text, skip = _NOT_TEXT.match, _SKIP_KEYS
    while stack and left > 0:  # iterative walk: this runs on every write
        node = pop()
        if type(node) is dict:
            if "div" in node:  # a Narrative: indexed on its own
                continue
            for key, value in node.items():
                kind = type(value)
                if kind is str:
                    # only a string holding ':' or '-' can be a URL, a date or a UUID
                    if key not in skip and (
                        ("-" not in value and ":" not in value) or not_text(value) is None
                    ):
                        append(value[:left])
                        left -= len(value) + 1
                elif (kind is dict or kind is list) and key not in skip:
                    push(value)
            continue
        for value in node:
            kind = type(value)
            if kind is str:
                if ("-" not in value and ":" not in value) or not_text(value) is None:
                    append(value[:left])
                    left -= len(value) + 1
            elif kind is dict or kind is list:
                push(value)
    return out


def index_row(resource: dict[str, Any], dialect: str) -> tuple[str, str] | None:
    """(narrative, other text) to store for ``resource``, or None when it has no text at all.

    SQLite gets space-separated stems (FTS5 indexes them as they are); PostgreSQL gets the folded
    words, stemmed by its ``french`` configuration when it builds the ``tsvector``. The content's
    strings are worded one by one (the same words as their space-joined text: a space separates
    words on both paths of :func:`words`), each string's result cached: codes and displays recur.
    """
    text = resource.get("text")
    div = text.get("div") if isinstance(text, dict) else None
    narrative = words(narrative_text(div)) if isinstance(div, str) else []
    each = _stems if dialect == "sqlite" else _words
    content = " ".join([found for found in map(each, content_strings(resource)) if found])
    if not narrative and not content:
        return None
    if dialect == "sqlite":
        return " ".join(map(stem, narrative)), content
    return " ".join(narrative), content


@lru_cache(maxsize=65536)
def _stems(text: str) -> str:
    """Space-separated stems of the words of one string value."""
    return " ".join(map(stem, words(text)))


@lru_cache(maxsize=65536)
def _words(text: str) -> str:
    """Space-separated folded words of one string value."""
    return " ".join(words(text))


# -- queries ------------------------------------------------------------------------------------
Phrase = tuple[str, ...]  # folded words that must follow each other


@dataclass(frozen=True, slots=True)
class Node:
    """A boolean combination of phrases and nodes: ``op`` is "and" or "or"."""

    op: Literal["and", "or"]
    items: tuple[Node | Phrase, ...]


@dataclass(frozen=True, slots=True)
class FullTextQuery:
    """A parsed ``_text`` or ``_content`` criterion; rendered per database by :func:`bind`."""

    field: Literal["text", "content"]
    tree: Node | Phrase

    def render(self, dialect: str) -> str:
        if dialect == "sqlite":
            expr = _fts5(self.tree)
            return f"narrative : ({expr})" if self.field == "text" else expr
        return _tsquery(self.tree, ":A" if self.field == "text" else "")


class QueryError(ValueError):
    """The value holds nothing searchable, or is too long or too complex."""


def parse(field: Literal["text", "content"], values: Sequence[str]) -> FullTextQuery:
    """Parse the comma-separated ``values`` of one criterion (ORed together)."""
    counter = [0]
    trees = [t for v in values if (t := _parse_value(v, counter)) is not None]
    if not trees:
        raise QueryError("no word to search")
    return FullTextQuery(field, trees[0] if len(trees) == 1 else Node("or", tuple(trees)))


_LEX = re.compile(r'\s*(?:(\()|(\))|"([^"]*)"?|([^\s()"]+))')


def _parse_value(value: str, counter: list[int]) -> Node | Phrase | None:
    if len(value) > MAX_VALUE:
        raise QueryError("value too long")
    tokens: list[tuple[str, str]] = []
    for m in _LEX.finditer(value):
        if m.group(1):
            tokens.append(("(", ""))
        elif m.group(2):
            tokens.append((")", ""))
        elif m.group(3) is not None:
            tokens.append(("phrase", m.group(3)))
        elif m.group(4):
            tokens.append(("word", m.group(4)))
    tokens.reverse()  # consumed from the end
    tree = _expr(tokens, counter, 0)
    return tree


def _expr(tokens: list[tuple[str, str]], counter: list[int], depth: int) -> Node | Phrase | None:
    """``and ("OR" and)*`` up to a closing parenthesis or the end."""
    alternatives: list[Node | Phrase] = []
    current: list[Node | Phrase] = []
    while tokens:
        kind, text = tokens.pop()
        if kind == ")":
            if depth > 0:
                break
            continue  # a stray closing parenthesis is ignored
        item: Node | Phrase | None
        if kind == "(":
            if depth >= MAX_DEPTH:
                raise QueryError("too deeply nested")
            item = _expr(tokens, counter, depth + 1)
        elif kind == "word" and text == "OR":
            if current:
                alternatives.append(_combine("and", current))
            current = []
            continue
        elif kind == "word" and text.lower() == "and":
            continue
        else:
            phrase = tuple(words(text))
            item = phrase or None
            if phrase:
                counter[0] += 1
                if counter[0] > MAX_PHRASES:
                    raise QueryError("too many terms")
        if item is not None:
            current.append(item)
    if current:
        alternatives.append(_combine("and", current))
    return _combine("or", alternatives) if alternatives else None


def _combine(op: Literal["and", "or"], items: list[Node | Phrase]) -> Node | Phrase:
    return items[0] if len(items) == 1 else Node(op, tuple(items))


def _fts5(tree: Node | Phrase) -> str:
    if isinstance(tree, tuple):
        return '"' + " ".join(stem(w) for w in tree).replace('"', '""') + '"'
    joiner = " AND " if tree.op == "and" else " OR "
    return "(" + joiner.join(_fts5(item) for item in tree.items) + ")"


def _tsquery(tree: Node | Phrase, weight: str) -> str:
    if isinstance(tree, tuple):  # words are letters and digits only: safe inside quotes
        return "(" + " <-> ".join(f"'{w}'{weight}" for w in tree) + ")"
    joiner = " & " if tree.op == "and" else " | "
    return "(" + joiner.join(_tsquery(item, weight) for item in tree.items) + ")"


def bind(args: Sequence[Any], dialect: str) -> Sequence[Any]:
    """``args`` with every :class:`FullTextQuery` rendered for ``dialect`` (others unchanged)."""
    if not any(type(a) is FullTextQuery for a in args):
        return args
    return [a.render(dialect) if type(a) is FullTextQuery else a for a in args]

"""Search paging: the opaque ``_page`` token of paging links and the page queries it drives.

Spec: https://hl7.org/fhir/R4/http.html#paging — the server writes ``next``/``previous``/``first``
/``self`` links and clients follow them without reading them. Hygie stays stateless: a link
carries the search parameters themselves plus ``_page``, a token holding only a *position*.

Token: base64url (no padding) of compact JSON, first element the format version
(:data:`TOKEN_VERSION`). It is not signed: it only says where a page starts, and what a client
may see is decided by the query it is applied to. Decoding is strict — only the exact text the
server writes is accepted; anything else (garbage, an edited or truncated token, another version,
over :data:`MAX_TOKEN_CHARS`) is a 400 OperationOutcome naming ``_page``
(https://hl7.org/fhir/R4/search.html#errors).

- ``[1, "a", rk]`` / ``[1, "b", rk]`` (:class:`Keyset`): default order (no ``_sort``, i.e.
  resource key order). The next page is ``r.rk > rk``; the previous one is ``r.rk < rk`` read in
  descending order, then reversed. Keys only grow and are never reused, so creations and
  deletions between fetches never repeat nor skip a resource that did not change; resources
  created while paging appear on later pages.
- ``[1, "n"|"p", position, snapshot, [anchors]]`` (:class:`Offset`): with ``_sort``. Offset paging
  over a snapshot: ``r.rk <= snapshot`` (the largest key when the first page was served) keeps
  resources created later out of every page, so they cannot shift them. Deletions would shift
  the offsets: the token also names up to :data:`ANCHORS` *anchors*, the resources next to the
  page boundary (the last ones returned for ``n``ext, the first ones for ``p``revious). The page
  is placed right after (before) the first anchor still found at or before its former position
  within :data:`WINDOW` rows; with no anchor left, at the offset less the anchors gone. So up to
  :data:`WINDOW` deletions before the boundary are absorbed exactly as long as one anchor
  remains. An update that changes a sort key moves that resource: it may then be returned twice
  or not at all, and so may resources next to it if it was an anchor.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.search.query import Sql

register(
    {
        "page_token_invalid": {
            "fr": "Paramètre _page invalide : ce jeton de pagination n'a pas été émis par ce serveur pour "
            "cette recherche (altéré, tronqué ou d'un ancien format). Suivez les liens du Bundle ou "
            "relancez la recherche sans _page.",
            "en": "Invalid _page parameter: this paging token was not issued by this server for this "
            "search (edited, truncated or of an older format). Follow the Bundle links or run the "
            "search again without _page.",
        },
        "page_and_offset": {
            "fr": "_page et _offset ne peuvent pas être utilisés ensemble : _page désigne déjà la page.",
            "en": "_page and _offset cannot be used together: _page already names the page.",
        },
    }
)

TOKEN_VERSION = 1
MAX_TOKEN_CHARS = 256
ANCHORS = 5  # resources next to a sorted page's boundary named in its token
WINDOW = 200  # rows before a sorted page's former position searched for its anchors
MAX_KEY = 2**62  # resource keys (BIGINT) with room for ±1
MAX_POSITION = 999_999_999  # as ``_offset``: at most 9 digits
_TEXT = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_TOKEN_CHARS}}}")

Select = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class Keyset:
    """Default order: the page after (``forward``) or before resource key ``rk``."""

    forward: bool
    rk: int


@dataclass(frozen=True, slots=True)
class Offset:
    """``_sort`` order: the page starting (``forward``) or ending at ``position`` among the
    matches with a key up to ``snapshot``; ``anchors``: see the module docstring."""

    forward: bool
    position: int
    snapshot: int
    anchors: tuple[int, ...]


Token = Keyset | Offset


def encode(token: Token) -> str:
    """The ``_page`` text of ``token``."""
    if isinstance(token, Keyset):
        value: list[Any] = [TOKEN_VERSION, "a" if token.forward else "b", token.rk]
    else:
        kind = "n" if token.forward else "p"
        value = [TOKEN_VERSION, kind, token.position, token.snapshot, list(token.anchors)]
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode("ascii").rstrip("=")


def decode(text: str) -> Token:
    """The token of a ``_page`` value; 400 naming ``_page`` unless it is one :func:`encode` wrote."""
    token = _parse(text) if _TEXT.fullmatch(text) else None
    if token is None or encode(token) != text:
        raise invalid()
    return token


def invalid() -> FhirError:
    return FhirError.of(400, "invalid", "page_token_invalid")


def _parse(text: str) -> Token | None:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):  # orjson.JSONDecodeError is a ValueError
        return None
    if not isinstance(value, list) or len(value) < 3 or not _int(value[0], TOKEN_VERSION, TOKEN_VERSION):
        return None
    kind, rest = value[1], value[2:]
    if kind in ("a", "b") and len(rest) == 1 and _int(rest[0], 0, MAX_KEY):
        return Keyset(kind == "a", rest[0])
    if kind in ("n", "p") and len(rest) == 3:
        position, snapshot, anchors = rest
        if (
            _int(position, 0, MAX_POSITION)
            and _int(snapshot, 0, MAX_KEY)
            and isinstance(anchors, list)
            and len(anchors) <= ANCHORS
            and all(_int(a, 1, MAX_KEY) for a in anchors)
        ):
            return Offset(kind == "n", position, snapshot, tuple(anchors))
    return None


def _int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


# -- pages ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    """One page of resource keys and where its neighbours are.

    ``more``: matches follow the page. ``start``: the page's position among all the matches when
    known (the last-page total is then ``start + len(rks)``). ``snapshot``: the condition a count
    of these matches must add (sorted paging), or None.
    """

    rks: list[int]
    more: bool
    start: int | None
    next: Token | None
    previous: Token | None
    snapshot: Sql | None = None


def fetch(
    select: Select,
    where: Sql,
    order: Sql | None,
    *,
    size: int,
    token: Token | None = None,
    offset: int = 0,
) -> Page:
    """The page of ``size`` matches of ``where`` (a condition on ``resource r``) in ``order``
    (None: default key order, else a ``_sort`` ``ORDER BY`` ending with ``r.rk``), at ``token``
    or, without one, at the client's ``offset``. 400 naming ``_page`` when the token was written
    for the other kind of order."""
    if order is None:
        if isinstance(token, Offset):
            raise invalid()
        return _keyset(select, where, size, token, offset)
    if isinstance(token, Keyset):
        raise invalid()
    if token is None:
        rows = select("SELECT max(rk) FROM resource", ())
        snapshot = int(rows[0][0]) if rows and rows[0][0] is not None else 0
        token = Offset(True, offset, min(snapshot, MAX_KEY), ())
    return _sorted(select, where, order, size, token)


def _keys(rows: list[tuple[Any, ...]]) -> list[int]:
    return [int(row[0]) for row in rows]


def _keyset(select: Select, where: Sql, size: int, token: Keyset | None, offset: int) -> Page:
    base = f"SELECT r.rk FROM resource r WHERE {where.clause}"
    if token is None:
        rks = _keys(select(f"{base} ORDER BY r.rk LIMIT ? OFFSET ?", (*where.args, size + 1, offset)))
        more, rks = len(rks) > size, rks[:size]
        previous = Keyset(False, rks[0] if rks else MAX_KEY) if offset else None
        return Page(rks, more, offset, Keyset(True, rks[-1]) if more and rks else None, previous)
    if token.forward:
        rks = _keys(select(f"{base} AND r.rk > ? ORDER BY r.rk LIMIT ?", (*where.args, token.rk, size + 1)))
        more, rks = len(rks) > size, rks[:size]
        nxt = Keyset(True, rks[-1]) if more else None
        return Page(rks, more, None, nxt, Keyset(False, rks[0] if rks else token.rk + 1))
    rks = _keys(select(f"{base} AND r.rk < ? ORDER BY r.rk DESC LIMIT ?", (*where.args, token.rk, size + 1)))
    earlier, rks = len(rks) > size, rks[:size][::-1]
    bound = rks[-1] if rks else max(token.rk - 1, 0)
    more = bool(select(f"{base} AND r.rk > ? ORDER BY r.rk LIMIT 1", (*where.args, bound)))
    previous = Keyset(False, rks[0]) if earlier else None
    return Page(rks, more, None if earlier else 0, Keyset(True, bound) if more else None, previous)


def _sorted(select: Select, where: Sql, order: Sql, size: int, token: Offset) -> Page:
    snapshot = Sql("r.rk <= ?", (token.snapshot,))
    pos, anchors = token.position, token.anchors
    if token.forward:
        low = max(0, pos - WINDOW) if anchors else pos
        high = pos + size + 1
    else:
        low = max(0, pos - size - WINDOW) if anchors else max(0, pos - size)
        high = pos + len(anchors) + 1
    rows = _keys(
        select(
            f"SELECT r.rk FROM resource r WHERE {where.clause} AND {snapshot.clause} "
            f"ORDER BY {order.clause} LIMIT ? OFFSET ?",
            (*where.args, *snapshot.args, *order.args, high - low, low),
        )
    )
    found = {rk: low + i for i, rk in enumerate(rows)}
    if token.forward:
        start = _after_anchor(found, anchors, pos)
        end = min(start + size, low + len(rows))
    else:
        end = _before_anchor(found, anchors, pos, size, low)
        start = max(0, end - size)
    start = max(start, low)
    page = rows[start - low : max(end, start) - low]
    end = start + len(page)
    more = low + len(rows) > end
    nxt = Offset(True, end, token.snapshot, tuple(page[-ANCHORS:][::-1])) if more else None
    previous = Offset(False, start, token.snapshot, tuple(page[:ANCHORS])) if start > 0 else None
    return Page(page, more, start, nxt, previous, snapshot)


def _after_anchor(found: dict[int, int], anchors: tuple[int, ...], pos: int) -> int:
    """Where a next page starts: after the first anchor (the former rows ``pos-1``, ``pos-2``…)
    still at or before its former position; else ``pos`` less the anchors gone."""
    for j, rk in enumerate(anchors):
        at = found.get(rk)
        if at is not None and at <= pos - 1 - j:
            return at + 1
    return max(0, pos - sum(1 for rk in anchors if rk not in found))


def _before_anchor(found: dict[int, int], anchors: tuple[int, ...], pos: int, size: int, low: int) -> int:
    """Where a previous page ends: at the first anchor (the former rows ``pos``, ``pos+1``…) still
    at or before its former position with a whole page fetched before it; else ``pos``."""
    for j, rk in enumerate(anchors):
        at = found.get(rk)
        if at is not None and at <= pos + j and (at - size >= low or low == 0):
            return at
    return pos

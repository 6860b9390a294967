"""Case- and accent-insensitive normalisation for FHIR string search.

Spec: https://hl7.org/fhir/R4/search.html#string — "By default, a field matches a string query if
the value of the field equals or starts with the supplied parameter value, after both have been
normalized by case and accent." The same function is applied to indexed values and to query values.

``fold`` applies Unicode compatibility decomposition (NFKD: ligatures such as "ﬁ" become "fi",
full-width forms become ASCII), drops non-spacing combining marks (accents, Arabic harakat, Hebrew
points, Indic nuktas...), removes the Arabic tatweel, spells out letters without decomposition
("œ" → "oe", "ø" → "o"), case-folds (German "ß" → "ss"), and collapses whitespace.
Identifiers and tokens are never folded: only string parameters use this.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Applied after decomposition and casefolding: invisible characters with no letter meaning are
# dropped, letters that Unicode does not decompose are spelled out, and the usual Arabic search
# equivalences are applied (alef maksura ~ yeh, teh marbuta ~ heh).
_TABLE: dict[int, str | None] = {
    0x0640: None,  # ARABIC TATWEEL (kashida, elongation)
    0x200C: None,  # ZERO WIDTH NON-JOINER
    0x200D: None,  # ZERO WIDTH JOINER
    0x200E: None,  # LEFT-TO-RIGHT MARK
    0x200F: None,  # RIGHT-TO-LEFT MARK
    0x00AD: None,  # SOFT HYPHEN
    0x00E6: "ae",  # æ
    0x0153: "oe",  # œ
    0x00F8: "o",  # ø
    0x0111: "d",  # đ
    0x00F0: "d",  # ð
    0x0142: "l",  # ł
    0x0127: "h",  # ħ
    0x0131: "i",  # dotless ı
    0x0167: "t",  # ŧ
    0x2019: "'",  # right single quotation mark used as apostrophe
    0x02BC: "'",  # modifier letter apostrophe
    0x0649: "\u064a",  # ARABIC LETTER ALEF MAKSURA → YEH
    0x0629: "\u0647",  # ARABIC LETTER TEH MARBUTA → HEH
}
# Non-spacing and enclosing marks: accents, Arabic harakat, Hebrew points, Indic nuktas/viramas...
# Spacing marks (Mc, e.g. Devanagari vowel signs) carry letters and are kept.
_MARKS = frozenset({"Mn", "Me"})


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Return ``text`` lower-cased, accent-free and whitespace-collapsed (see module docstring)."""
    if text.isascii():
        return " ".join(text.lower().split())
    # NFKD before and after casefold: compatibility forms may decompose to upper case ("Ⅻ" → "XII")
    # and casefold may produce new decomposable characters ("İ" → "i" + combining dot).
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    folded = "".join(ch for ch in decomposed if unicodedata.category(ch) not in _MARKS).translate(_TABLE)
    return " ".join(folded.split())

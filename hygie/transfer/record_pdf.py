"""``summary/summary.pdf``: the summary outline as a PDF, drawn with fpdf2 (pure Python).

Fonts: accents and ligatures (« Bénédicte », « Œdème ») need a Unicode TrueType font. DejaVu
Sans, from the Debian package ``fonts-dejavu-core`` (also shipped by most Linux distributions,
free licence), is used when found in one of :data:`FONT_DIRS`; the subset of the glyphs used is
embedded in the PDF, so it reads the same everywhere. One font file only (headings differ by size
and colour): parsing a TrueType file is most of the cost of the PDF. Without them the PDF falls
back to the standard Helvetica font, whose Latin-1 range covers French accents; the few
characters outside it are transliterated (``Œ`` → ``OE``, typographic quotes and dashes →
ASCII, anything else → ``?``) rather than failing the export. The HTML summary is always exact.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from hygie.transfer.record_summary import Section, Summary

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian, Ubuntu (fonts-dejavu-core)
    Path("/usr/share/fonts/dejavu"),  # Fedora
    Path("/usr/share/fonts/TTF"),  # Arch
    Path("/usr/local/share/fonts"),
)
REGULAR = "DejaVuSans.ttf"
HEADING = (43, 108, 176)  # headings stand out by size and colour: one font file to parse, not two
SHADE = (237, 242, 247)
_TRANSLITERATION = str.maketrans(
    {
        "Œ": "OE",
        "œ": "oe",
        "Ÿ": "Y",
        "‘": "'",
        "’": "'",
        "‚": ",",
        "“": '"',
        "”": '"',
        "„": '"',
        "–": "-",
        "—": "-",
        "…": "...",
        "€": "EUR",
        "\u202f": " ",
        "\u2009": " ",
    }
)


def unicode_font() -> Path | None:
    """The DejaVu Sans file, when installed."""
    for folder in FONT_DIRS:
        if (folder / REGULAR).is_file():
            return folder / REGULAR
    return None


def latin1(text: str) -> str:
    """``text`` within Latin-1 for the standard PDF fonts (see the module doc)."""
    text = text.translate(_TRANSLITERATION)
    if all(ord(c) < 256 for c in text):
        return text
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        base = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
        out.append(base or "?")
    return "".join(out)


def render_pdf(summary: Summary, font: Path | None = None, *, use_system_fonts: bool = True) -> bytes:
    """The PDF bytes. ``font``: a Unicode TTF file; default: :func:`unicode_font` when
    ``use_system_fonts``, else the standard Helvetica with Latin-1 transliteration."""
    if font is None and use_system_fonts:
        font = unicode_font()
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_lang(summary.lang)
    pdf.set_creator("Hygie")
    if font is not None:
        pdf.add_font("body", style="", fname=str(font))
        family = "body"
        text: Callable[[str], str] = str
    else:
        family = "helvetica"
        text = latin1
    pdf.set_title(text(summary.title))
    pdf.add_page()
    pdf.set_font(family, size=17)
    pdf.set_text_color(*HEADING)
    pdf.multi_cell(0, 8, text(summary.title), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(family, size=10)
    for paragraph in summary.intro:
        pdf.multi_cell(0, 5, text(paragraph), new_x="LMARGIN", new_y="NEXT", align="L")
    for section in summary.sections:
        _section(pdf, family, section, text)
    return bytes(pdf.output())


def _section(pdf: FPDF, family: str, section: Section, text: Callable[[str], str]) -> None:
    pdf.ln(4)
    if pdf.will_page_break(30):  # no heading alone at the bottom of a page
        pdf.add_page()
    pdf.set_font(family, size=13)
    pdf.set_text_color(*HEADING)
    pdf.multi_cell(0, 7, text(section.heading), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(family, size=9)
    for note in section.notes:
        pdf.multi_cell(0, 5, text(note), new_x="LMARGIN", new_y="NEXT", align="L")
    if not section.rows:
        if section.empty:
            pdf.multi_cell(0, 5, text(section.empty), new_x="LMARGIN", new_y="NEXT", align="L")
        return
    headed = any(section.headers)
    with pdf.table(
        first_row_as_headings=headed,
        headings_style=FontFace(fill_color=SHADE),
        line_height=5,
        text_align="LEFT",
        padding=1,
    ) as table:
        if headed:
            heading = table.row()
            for cell in section.headers:
                heading.cell(text(cell))
        for values in section.rows:
            row = table.row()
            for cell in values:
                row.cell(text(cell))

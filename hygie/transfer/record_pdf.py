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
LINE_HEIGHT = 5.0  # mm, in table cells
CELL_PADDING = 1.0  # mm
MAX_CELL_LINES = 40  # about 200 mm: a row always fits on an A4 page
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
    _table(pdf, section.headers, section.rows, text)


def _table(
    pdf: FPDF, headers: tuple[str, ...], rows: tuple[tuple[str, ...], ...], text: Callable[[str], str]
) -> None:
    """Rows of equal-width columns, bordered, the shaded heading row repeated on each new page.

    Drawn directly (``rect`` and ``text``), a cell wrapped only when its text is wider than its
    column: fpdf2's own ``table()`` lays out every cell as a paragraph (the PDF of a practice of
    100 patients took 0.72 s, of 2,000 patients over 10 s; this takes a third of that)."""
    heading = headers if any(headers) else None
    columns = len(heading) if heading is not None else max(len(row) for row in rows)
    width = pdf.epw / columns
    inner = width - 2 * CELL_PADDING
    baseline = 0.5 * LINE_HEIGHT + 0.3 * pdf.font_size  # as fpdf2 places a one-line cell's text

    widths: dict[str, float] = {}  # one font and size per table: a word's width is measured once

    def width_of(piece: str) -> float:
        found = widths.get(piece)
        if found is None:
            found = widths[piece] = pdf.get_string_width(piece)
        return found

    def lines_of(cell: str) -> list[str]:
        value = text(cell)
        if "\n" not in value and width_of(value) <= inner:
            return [value]
        wrapped = wrap(value, inner, width_of)
        if len(wrapped) > MAX_CELL_LINES:  # a row must fit on a page
            wrapped = [*wrapped[: MAX_CELL_LINES - 1], text("…")]
        return wrapped or [""]

    def draw(cells: tuple[str, ...], shaded: bool) -> None:
        wrapped = [lines_of(cell) for cell in cells[:columns]] + [[""]] * (columns - len(cells))
        height = max(len(lines) for lines in wrapped) * LINE_HEIGHT + 2 * CELL_PADDING
        if pdf.will_page_break(height):
            pdf.add_page()
            if heading is not None and not shaded:
                draw(heading, True)
        left, top = pdf.l_margin, pdf.y
        for i, lines in enumerate(wrapped):
            x = left + i * width
            pdf.rect(x, top, width, height, style="DF" if shaded else "D")
            for n, line in enumerate(lines):
                if line:
                    pdf.text(x + CELL_PADDING, top + CELL_PADDING + n * LINE_HEIGHT + baseline, line)
        pdf.set_xy(left, top + height)

    pdf.set_fill_color(*SHADE)
    pdf.set_draw_color(0, 0, 0)
    if heading is not None:
        draw(heading, True)
    for row in rows:
        draw(row, False)


def wrap(value: str, width: float, width_of: Callable[[str], float]) -> list[str]:
    """``value`` in lines no wider than ``width``: broken at spaces and line breaks, a word wider
    than a line cut between its characters (a file name, a URL). Greedy, as a word processor."""
    lines: list[str] = []
    space = width_of(" ")
    for paragraph in value.split("\n"):
        line, used = "", 0.0
        for word in paragraph.split(" "):
            size = width_of(word)
            if line and used + space + size <= width:
                line, used = f"{line} {word}", used + space + size
                continue
            if line:
                lines.append(line)
            line, used = word, size
            while used > width and len(line) > 1:  # too wide alone: cut it
                cut = _fitting(line, width, width_of)
                lines.append(line[:cut])
                line = line[cut:]
                used = width_of(line)
        lines.append(line)
    return lines


def _fitting(word: str, width: float, width_of: Callable[[str], float]) -> int:
    """How many of ``word``'s first characters fit in ``width`` (at least one)."""
    used, count = 0.0, 0
    for char in word:
        used += width_of(char)
        if used > width:
            break
        count += 1
    return max(count, 1)

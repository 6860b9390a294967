"""The PDF summary's tables (hygie/transfer/record_pdf.py): every cell's text is in the PDF,
wrapped inside its column (the wrapping itself on a table of cases); long tables go on over pages
with their heading row repeated; a cell too long for a page is cut with an ellipsis instead of
running off the page."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from hygie.transfer.record_pdf import MAX_CELL_LINES, render_pdf, wrap
from hygie.transfer.record_summary import Section, Summary


def _pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def _summary(*sections: Section) -> Summary:
    return Summary("fr", "Export du cabinet", ("Exporté le 23/11/2026.",), sections)


def test_every_cell_is_drawn_and_long_ones_wrap_in_their_column() -> None:
    long = "documents/" + "x7" * 60 + "-Courrier-de-consultation.txt"
    rows = (
        ("Courrier de consultation", "22/11/2026", "text/plain", long),
        ("Bilan", "01/01/2025", "", "court"),
    )
    pages = _pages(render_pdf(_summary(Section("Documents", ("Titre", "Date", "Type", "Fichier"), rows))))
    text = "\n".join(pages)
    for cell in ("Titre", "Fichier", "Courrier de consultation", "22/11/2026", "Bilan", "court"):
        assert cell in text, cell
    assert long in re.sub(r"\s+", "", text)  # whole, over several lines
    assert any(len(line) < len(long) // 3 for line in text.splitlines() if "x7x7" in line)  # wrapped


def test_a_long_table_goes_on_over_pages_with_its_heading_repeated() -> None:
    rows = tuple((f"demo-p{i:05d}", f"Patient {i}", "01/01/1970") for i in range(150))
    pages = _pages(
        render_pdf(_summary(Section("Patients", ("Identifiant", "Nom", "Date de naissance"), rows)))
    )
    assert len(pages) >= 3
    assert all("Identifiant" in page and "Date de naissance" in page for page in pages)
    text = "\n".join(pages)
    assert all(f"demo-p{i:05d}" in text for i in range(150))


def test_a_cell_longer_than_a_page_is_cut_with_an_ellipsis() -> None:
    huge = " ".join(["mot"] * 3000)
    data = render_pdf(_summary(Section("Notes", ("Clé", "Texte"), (("a", huge), ("b", "après")))))
    text = "\n".join(_pages(data))
    assert "…" in text and "après" in text
    assert text.count("mot") < 3000 and text.count("mot") > MAX_CELL_LINES  # cut, not dropped


def test_a_table_without_headings_has_no_heading_row() -> None:
    pages = _pages(render_pdf(_summary(Section("Identité", (), (("Nom", "Bénédicte Œdème"), ("Sexe", "F"))))))
    assert "Bénédicte" in pages[0] and len(pages) == 1


# wrap() with every character one unit wide: lines of at most ``width`` characters.
WRAP_CASES = [
    ("", 5, [""]),
    ("abc", 5, ["abc"]),
    ("abcde", 5, ["abcde"]),  # exactly the width: one line
    ("ab cd", 5, ["ab cd"]),  # with its space, exactly the width
    ("ab cde", 5, ["ab", "cde"]),  # one more character: the last word goes down
    ("abcdef", 5, ["abcde", "f"]),  # a word wider than a line is cut between characters
    ("abcdefghijk", 5, ["abcde", "fghij", "k"]),
    ("a abcdefgh b", 5, ["a", "abcde", "fgh b"]),
    ("ab\ncd", 5, ["ab", "cd"]),  # line breaks are kept
    ("ab\n\ncd", 5, ["ab", "", "cd"]),
    ("ab  cd", 6, ["ab  cd"]),  # spaces inside the text are kept
    ("abc", 0.5, ["a", "b", "c"]),  # narrower than a character: one character a line, never zero
]


@pytest.mark.parametrize(("value", "width", "lines"), WRAP_CASES)
def test_wrap(value: str, width: float, lines: list[str]) -> None:
    assert wrap(value, width, lambda piece: float(len(piece))) == lines

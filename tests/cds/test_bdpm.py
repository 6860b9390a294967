"""BDPM reading: encodings (UTF-8 then Windows-1252), CRLF, spilled lines, strengths, moieties."""

from __future__ import annotations

from pathlib import Path

import pytest

from hygie.cds import bdpm

PRODUCTS = "\t".join(
    [
        "60000001",
        "GLUCOPHAGE 1000 mg, comprimé",
        "comprimé",
        "orale",
        "Autorisation active",
        "Procédure nationale",
        "Commercialisée",
        "01/01/2000",
        "",
        "",
        " MERCK",
        "Non\r\n",
    ]
)
COMPO = (
    "60000001\tcomprimé\t04442\tMETFORMINE (CHLORHYDRATE DE)\t1000 mg\tun comprimé\tSA\t1\t\r\n"
    "60000001\tcomprimé\t04443\tMETFORMINE BASE\t780 mg\tun comprimé\tFT\t1\t\r\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_both_encodings_give_the_same_products(tmp_path: Path, encoding: str) -> None:
    (tmp_path / "CIS_bdpm.txt").write_bytes(PRODUCTS.encode(encoding))
    (tmp_path / "CIS_COMPO_bdpm.txt").write_bytes(COMPO.encode(encoding))
    products, tables = bdpm.read_products(tmp_path)
    assert tables["CIS_bdpm.txt"].encoding == encoding
    product = products["60000001"]
    assert product.name == "GLUCOPHAGE 1000 mg, comprimé"
    assert product.active and not product.homeopathic
    # the therapeutic fraction (FT) stands for its link, not the salt (SA)
    assert [(c.name, c.strength) for c in product.moieties()] == [("METFORMINE BASE", "780 mg")]


def test_a_spilled_line_is_joined_to_its_row() -> None:
    text = (
        "1\tGROUPE A - libellé coupé\n par un retour à la ligne\t60000001\t0\t1\n"
        "2\tGROUPE B\t60000002\t1\t2\n"
    )
    table = bdpm.parse_table(text, 5)
    assert table.joined_lines == 1
    assert table.rows[0] == ["1", "GROUPE A - libellé coupé par un retour à la ligne", "60000001", "0", "1"]
    assert table.rows[1][2] == "60000002"


def test_short_rows_are_padded() -> None:
    assert bdpm.parse_table("60000001\tx\n", 4).rows == [["60000001", "x", "", ""]]


@pytest.mark.parametrize(
    ("text", "mg"),
    [
        ("1 000 mg", 1000.0),
        ("0,5 g", 500.0),
        ("100 microgrammes", 0.1),
        ("20,00 mg", 20.0),
        ("2CH à 30CH", None),
        ("5 000 UI", None),
        ("", None),
    ],
)
def test_strength_in_mg(text: str, mg: float | None) -> None:
    assert bdpm.strength_mg(text) == mg

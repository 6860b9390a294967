"""Reading the Base de données publique des médicaments (BDPM) files, tolerant of their quirks.

Files of https://base-donnees-publique.medicaments.gouv.fr/telechargement.php (ANSM; reuse allowed,
citing the source and its update date): tab-separated, no header, Windows-1252 or UTF-8, CRLF or LF.
A field holding a line break spills the rest of its row onto the next line; :func:`read_table`
joins such continuation lines back (a line with fewer fields than the file's rows is glued to the
previous one) and counts them. Used by the knowledge build only (pure file reading).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_NUMBER = re.compile(r"^\s*([0-9]+(?:[ .][0-9]{3})*(?:,[0-9]+)?)\s*(mg|g|microgrammes?|µg|mcg|ng)\b", re.I)
_UNIT_MG = {
    "mg": 1.0,
    "g": 1000.0,
    "microgramme": 0.001,
    "microgrammes": 0.001,
    "µg": 0.001,
    "mcg": 0.001,
    "ng": 0.000001,
}


@dataclass
class Table:
    """Rows of one file, with what was repaired on the way."""

    rows: list[list[str]]
    encoding: str
    joined_lines: int = 0


def decode(raw: bytes) -> tuple[str, str]:
    """UTF-8 when the bytes are valid UTF-8, Windows-1252 otherwise (the BDPM's historic encoding)."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), "cp1252"


def parse_table(text: str, fields: int) -> Table:
    """Split tab-separated ``text`` into rows of at least ``fields`` fields, joining spilled lines."""
    rows: list[list[str]] = []
    joined = 0
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            continue
        parts = line.split("\t")
        if rows and len(parts) < fields and not _looks_like_start(parts):
            previous = rows[-1]
            previous[-1] = f"{previous[-1].strip()} {parts[0].strip()}".strip()
            previous.extend(parts[1:])
            joined += 1
            continue
        rows.append(parts)
    for row in rows:
        row[:] = [cell.strip() for cell in row]
        row.extend([""] * (fields - len(row)))
    return Table(rows, "", joined)


def _looks_like_start(parts: list[str]) -> bool:
    """A row starts with a numeric code (CIS, group id, CIP) — a spilled line does not."""
    return len(parts) > 1 and parts[0].strip().isdigit()


def read_table(path: Path, fields: int) -> Table:
    """One BDPM file as a :class:`Table` (encoding detected, spilled lines joined)."""
    text, encoding = decode(path.read_bytes())
    table = parse_table(text, fields)
    table.encoding = encoding
    return table


def strength_mg(text: str) -> float | None:
    """``"1 000 mg"`` → 1000.0, ``"0,5 g"`` → 500.0, ``"100 microgrammes"`` → 0.1; None otherwise."""
    match = _NUMBER.match(text.replace("\u00a0", " "))
    if not match:
        return None
    number = float(match.group(1).replace(" ", "").replace(".", "").replace(",", "."))
    return round(number * _UNIT_MG[match.group(2).lower()], 6)


@dataclass
class Component:
    """One active substance of a product: its ANSM code and name, and the strength."""

    code: str
    name: str
    strength: str
    link: str
    nature: str  # SA (substance active) | FT (fraction thérapeutique)


@dataclass
class Product:
    """A BDPM speciality (CIS)."""

    cis: str
    name: str
    form: str
    routes: str
    status: str
    procedure: str
    marketed: bool
    components: list[Component] = field(default_factory=list)

    @property
    def homeopathic(self) -> bool:
        return "homéo" in self.procedure.lower() or "homeo" in self.procedure.lower()

    @property
    def active(self) -> bool:
        return self.status == "Autorisation active" and self.marketed

    def moieties(self) -> list[Component]:
        """One component per substance link: the therapeutic fraction (FT) when given, else the SA."""
        chosen: dict[str, Component] = {}
        for comp in self.components:
            current = chosen.get(comp.link)
            if current is None or (comp.nature == "FT" and current.nature != "FT"):
                chosen[comp.link] = comp
        return [chosen[k] for k in sorted(chosen, key=lambda x: (len(x), x))]


def read_products(folder: Path) -> tuple[dict[str, Product], dict[str, Table]]:
    """``CIS_bdpm.txt`` and ``CIS_COMPO_bdpm.txt`` of a BDPM folder → products by CIS."""
    tables = {
        "CIS_bdpm.txt": read_table(folder / "CIS_bdpm.txt", 12),
        "CIS_COMPO_bdpm.txt": read_table(folder / "CIS_COMPO_bdpm.txt", 8),
    }
    products: dict[str, Product] = {}
    for row in tables["CIS_bdpm.txt"].rows:
        if not row[0].isdigit():
            continue
        products[row[0]] = Product(row[0], row[1], row[2], row[3], row[4], row[5], row[6] == "Commercialisée")
    for row in tables["CIS_COMPO_bdpm.txt"].rows:
        product = products.get(row[0])
        if product is not None and row[3]:
            product.components.append(Component(row[2], row[3], row[4], row[7] or row[2], row[6] or "SA"))
    return products, tables


def read_packs(folder: Path) -> tuple[dict[str, str], Table]:
    """``CIS_CIP_bdpm.txt`` → CIP13 → CIS."""
    table = read_table(folder / "CIS_CIP_bdpm.txt", 13)
    packs = {row[6]: row[0] for row in table.rows if len(row[6]) == 13 and row[6].isdigit()}
    return packs, table


def read_generic_groups(folder: Path) -> tuple[dict[str, tuple[str, str]], Table]:
    """``CIS_GENER_bdpm.txt`` → CIS → (group id, group label)."""
    table = read_table(folder / "CIS_GENER_bdpm.txt", 5)
    groups = {row[2]: (row[0], row[1]) for row in table.rows if row[2].isdigit()}
    return groups, table

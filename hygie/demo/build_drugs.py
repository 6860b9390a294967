"""Build ``hygie/demo/data/drugs.json`` from the BDPM (run by maintainers, not at start-up).

``python -m hygie.demo.build_drugs [BDPM_DIR] [--updated YYYY-MM-DD]`` reads ``CIS_bdpm.txt`` and
``CIS_COMPO_bdpm.txt`` of the Base de données publique des médicaments (ANSM,
https://base-donnees-publique.medicaments.gouv.fr/telechargement.php; tab-separated, UTF-8 or
Windows-1252) and keeps, for each substance of ``data/formulary.json``, up to three marketed
single-substance specialities (CIS code, name, form, route, strength). The output is compact,
sorted and stable, so re-running on the same files gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import re
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("data")
DEFAULT_BDPM = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "bdpm" / "2026"
PER_SUBSTANCE = 3


def read_table(path: Path) -> list[list[str]]:
    """A BDPM file as rows of fields (UTF-8 first, Windows-1252 otherwise)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    return [[field.strip() for field in line.split("\t")] for line in text.splitlines() if line.strip()]


def fold(text: str) -> str:
    """Upper case without accents (``LÉVOTHYROXINE`` → ``LEVOTHYROXINE``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _compositions(rows: list[list[str]]) -> dict[str, dict[str, Any]]:
    """CIS → {"links": set of SA/FT link numbers, "names": folded names, "strength": text}."""
    found: dict[str, dict[str, Any]] = defaultdict(lambda: {"links": set(), "names": [], "strength": ""})
    for row in rows:
        if len(row) < 8:
            continue
        cis, name, strength, nature, link = row[0], row[3], row[4], row[6], row[7]
        item = found[cis]
        item["links"].add(link)
        item["names"].append(fold(name))
        if nature == "FT" or not item["strength"]:
            item["strength"] = strength
    return found


def _matches(key: str, names: list[str]) -> bool:
    """``key``'s words appear, in order and together, in one of the substance names."""
    words = key.split()
    for name in names:
        tokens = re.findall(r"[A-Z]+", name)
        if any(tokens[i : i + len(words)] == words for i in range(len(tokens))):
            return True
    return False


def build(bdpm: Path, updated: str) -> dict[str, Any]:
    formulary = json.loads((DATA / "formulary.json").read_text(encoding="utf-8"))
    products = {
        row[0]: row
        for row in read_table(bdpm / "CIS_bdpm.txt")
        if len(row) >= 7 and row[4] == "Autorisation active" and row[6] == "Commercialisée"
    }
    compositions = _compositions(read_table(bdpm / "CIS_COMPO_bdpm.txt"))
    drugs: list[dict[str, Any]] = []
    for substance in formulary["substances"]:
        key = substance["key"]
        chosen = []
        for cis in sorted(products):
            comp = compositions.get(cis)
            if comp is None or len(comp["links"]) != 1 or not _matches(key, comp["names"]):
                continue
            row = products[cis]
            if substance.get("form", "") not in row[2]:
                continue
            chosen.append(
                {
                    "cis": cis,
                    "name": row[1],
                    "form": row[2],
                    "route": row[3],
                    "strength": comp["strength"],
                    "substance": key,
                    "atc": substance["atc"],
                    "dose": substance["dose"],
                }
            )
        chosen.sort(key=lambda d: (d["name"], d["cis"]))
        drugs.extend(chosen[:PER_SUBSTANCE])
    return {
        "source": f"ANSM — Base de données publique des médicaments, {updated}",
        "licence": "Informations publiques de l'ANSM, réutilisation libre sous réserve de citer la source "
        "et la date de mise à jour, sans altération",
        "atc_source": formulary["source"],
        "drugs": drugs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bdpm", nargs="?", type=Path, default=DEFAULT_BDPM, help="BDPM folder")
    parser.add_argument("--updated", help="BDPM update date (default: CIS_bdpm.txt modification date)")
    parser.add_argument("--out", type=Path, default=DATA / "drugs.json")
    args = parser.parse_args(argv)
    updated = (
        args.updated
        or datetime.fromtimestamp((args.bdpm / "CIS_bdpm.txt").stat().st_mtime, UTC).date().isoformat()
    )
    result = build(args.bdpm, updated)
    missing = {s["key"] for s in json.loads((DATA / "formulary.json").read_text("utf-8"))["substances"]} - {
        d["substance"] for d in result["drugs"]
    }
    text = json.dumps(result, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(
        f"{len(result['drugs'])} specialities → {args.out}"
        + (f"; not found: {sorted(missing)}" if missing else "")
    )


if __name__ == "__main__":
    main()

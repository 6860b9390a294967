"""bench/transfer.py's floor: SQLite's own work on the rows an import wrote, measured by copying
every row of a real import into a fresh database (no stand-in: a real import, a real copy)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.transfer import FLOOR_TABLES, sqlite_floor
from hygie.api.context import open_storage
from hygie.auth.keys import load_keys
from hygie.settings import Settings
from hygie.transfer.importer import Importer
from hygie.transfer.readers import discover

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "synthea-r4"


def test_the_floor_copies_every_row_of_an_import(tmp_path: Path) -> None:
    bundle = sorted(DATA.glob("*.json"))[0]
    path = tmp_path / "x.db"
    settings = Settings(database_url=f"sqlite:///{path}", keys_dir=tmp_path / "keys")
    db, catalog = open_storage(settings)
    try:
        reports = Importer(db, catalog, settings, audit_key=load_keys(settings.keys_dir).audit).run(
            discover([bundle])
        )
    finally:
        db.close()
    resources = sum(r.counts.total for r in reports if r.counts)
    assert resources > 50
    source = sqlite3.connect(path)
    tables = (*FLOOR_TABLES, "fulltext")
    counts = {t: source.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    expected = sum(counts.values())
    index_rows = sum(n for t, n in counts.items() if t.startswith("idx_"))
    source.close()
    assert index_rows > resources  # the import did index

    floor = sqlite_floor(path, resources)

    assert floor["rows"] == expected  # every row of every table was copied
    assert floor["sqlite_us"] > 0 and floor["orjson_parse_us"] > 0
    assert set(floor["sqlite_us_by_table"]) == {*FLOOR_TABLES, "fulltext"}
    assert not list(tmp_path.glob("x-floor.db*"))  # the copy is removed

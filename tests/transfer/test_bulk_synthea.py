"""Issue 5 "must show": import all of ``../shared/data/synthea-r4`` (``hygie import``), then
``$export`` gives back every resource — the same counts per type and the same contents, modulo
``meta``, server ids and references (the import turns ``urn:uuid`` references into ``Type/id``).

https://hl7.org/fhir/uv/bulkdata/STU2/export.html
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from hygie.transfer.commands_import import import_cli
from tests.support import open_client
from tests.transfer.bulk_helpers import bulk_settings, export

SYNTHEA = Path(__file__).resolve().parents[3] / "shared" / "data" / "synthea-r4"


def _normal(node: Any) -> Any:
    """The content without ``meta``, ``id`` and reference targets."""
    if isinstance(node, dict):
        return {
            k: ("REF" if k == "reference" and isinstance(v, str) else _normal(v))
            for k, v in node.items()
            if k not in ("meta", "id")
        }
    if isinstance(node, list):
        return [_normal(v) for v in node]
    return node


def _fingerprints(resources: list[dict[str, Any]]) -> Counter[bytes]:
    return Counter(orjson.dumps(_normal(r), option=orjson.OPT_SORT_KEYS) for r in resources)


def test_synthea_import_then_export_gives_back_every_resource(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sorted(SYNTHEA.glob("*.json"))
    assert len(files) > 10
    source: dict[str, list[dict[str, Any]]] = {}
    for path in files:
        for entry in orjson.loads(path.read_bytes())["entry"]:
            source.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    settings = bulk_settings(database_url, tmp_path)
    monkeypatch.chdir(tmp_path)  # the import's state file goes to ./var/
    env = {"HYGIE_DATABASE_URL": database_url, "HYGIE_KEYS_DIR": str(settings.keys_dir)}
    result = CliRunner().invoke(import_cli, [str(SYNTHEA)], env=env)
    assert result.exit_code == 0, result.output[-2000:]
    with open_client(settings) as client:
        exported = export(client, "$export")
    builtin = {"SearchParameter"}  # the server's own (hygie.search.catalog.BUILTIN)
    assert {t: len(v) for t, v in exported.items() if t not in builtin} == {
        t: len(v) for t, v in source.items()
    }
    for rtype, resources in source.items():
        assert _fingerprints(exported[rtype]) == _fingerprints(resources), rtype

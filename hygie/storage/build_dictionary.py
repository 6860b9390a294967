"""Build ``hygie/storage/data/body-1.zdict``: the Zstandard dictionary stored bodies are
compressed with (:mod:`hygie.storage.codec`).

Source: the official FHIR R4 examples (``../shared/data/fhir-r4-examples``, HL7 FHIR R4
4.0.1, CC0), each read and written back as compact JSON the way the store writes bodies, those
under 20,000 bytes kept (the dictionary is for everyday resources; large ones compress well on
their own). Trained with Zstandard's COVER algorithm (``zstandard.train_dictionary``, 64 KiB,
level 3, one thread: deterministic for the same inputs and library). Synthea data is *not* a
source, so the import benchmark on the Synthea corpus measures a dictionary it was not fitted to.

A shipped dictionary never changes: bodies already stored need it to be read back. A better one
gets the next id (``body-2.zdict``) and :mod:`hygie.storage.codec` writes with the newest while
reading with any. Run::

    .venv/bin/python -m hygie.storage.build_dictionary ../shared/data/fhir-r4-examples /tmp/body.zdict
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

import orjson
import zstandard

# Above this, an example is not an everyday resource (bundles of examples, large definitions).
MAX_SAMPLE: Final = 20_000
SIZE: Final = 65_536
DICT_ID: Final = 1


def samples(folder: Path) -> list[bytes]:
    """The examples as compact JSON, in file-name order."""
    out = []
    for path in sorted(folder.glob("*.json")):
        body = orjson.dumps(orjson.loads(path.read_bytes()))
        if len(body) < MAX_SAMPLE:
            out.append(body)
    return out


def build(folder: Path, output: Path) -> bytes:
    inputs: list[bytes | bytearray | memoryview[int]] = list(samples(folder))
    data = zstandard.train_dictionary(SIZE, inputs, dict_id=DICT_ID, level=3, threads=0)
    raw = data.as_bytes()
    output.write_bytes(raw)
    return raw


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]))

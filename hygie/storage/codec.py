"""Compression of stored bodies: Zstandard with a dictionary trained on FHIR resources.

Bodies are small JSON documents (1.3 KB on average for Synthea), too small for a compressor to
learn much from each one alone. A dictionary (``data/body-1.zdict``, built from the official R4
examples by :mod:`hygie.storage.build_dictionary`) carries the field names and values they share:
on the Synthea corpus a body takes 343 bytes instead of 570 with zlib level 1, and compressing
takes 5–6 µs instead of 25, reading back 2.4 µs instead of 7.8 (docs/benchmarks.md, "NDJSON
import, session of 2026-11-23 14:15–15:35").

Each Zstandard frame names its dictionary (its dict id), so a database may hold frames of several
dictionaries — and bodies written before this codec, in zlib (first byte 0x78, never the first
byte of a Zstandard frame): :func:`unpack` reads all of them. Compressor and decompressor contexts
are per thread (they are not safe to share) and reused: creating one costs more than a body.
"""

from __future__ import annotations

import threading
import zlib
from functools import cache
from pathlib import Path
from typing import Final

import zstandard

DATA: Final = Path(__file__).resolve().parent / "data"
# The dictionary new bodies are written with; older ids stay readable forever.
CURRENT: Final = 1
LEVEL: Final = 3
_MAGIC: Final = b"\x28\xb5\x2f\xfd"


@cache
def dictionary(dict_id: int) -> zstandard.ZstdCompressionDict:
    path = DATA / f"body-{dict_id}.zdict"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"stored body needs compression dictionary {dict_id}, not shipped") from None
    return zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_FULLDICT)


class _Contexts(threading.local):
    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=dictionary(CURRENT))
        self.decompressors: dict[int, zstandard.ZstdDecompressor] = {}

    def decompressor(self, dict_id: int) -> zstandard.ZstdDecompressor:
        found = self.decompressors.get(dict_id)
        if found is None:
            data = dictionary(dict_id) if dict_id else None
            found = self.decompressors[dict_id] = zstandard.ZstdDecompressor(dict_data=data)
        return found


_contexts = _Contexts()


def pack(body: bytes) -> bytes:
    """A stored body: one Zstandard frame (content size and dict id in its header)."""
    return _contexts.compressor.compress(body)


def unpack(data: bytes | memoryview) -> bytes:
    """The body of :func:`pack` — or of the zlib codec of databases written before it."""
    if data[:4] != _MAGIC:  # zlib, zstandard and this comparison all take a memoryview as it is
        return zlib.decompress(data)
    dict_id = zstandard.get_frame_parameters(data).dict_id
    return _contexts.decompressor(dict_id).decompress(data)

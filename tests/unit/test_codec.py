"""Stored-body compression (hygie/storage/codec.py): Zstandard frames with the shipped dictionary,
older zlib bodies still readable, a shipped dictionary never changing."""

from __future__ import annotations

import hashlib
import threading
import zlib
from pathlib import Path

import orjson
import pytest
import zstandard

from hygie.storage import build_dictionary, codec

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
BODIES = [
    b'{"resourceType":"Patient","id":"p1","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00.000Z"}}',
    b"{}",
    '{"name":"Élise ☃ ع"}'.encode(),
    b'{"resourceType":"Observation","valueQuantity":{"value":1.50}}' * 500,
]
# A shipped dictionary is immutable: bodies stored with it need exactly these bytes.
SHIPPED = {1: "fda6204ed527d79a19e0e9b051b0ddfd48fc5242d4a10161e1be177e48e0d195"}


@pytest.mark.parametrize("body", BODIES)
def test_a_body_round_trips_through_a_dictionary_frame(body: bytes) -> None:
    packed = codec.pack(body)
    assert packed[:4] == b"\x28\xb5\x2f\xfd"
    assert zstandard.get_frame_parameters(packed).dict_id == codec.CURRENT
    assert codec.unpack(packed) == body
    assert codec.unpack(memoryview(packed)) == body


@pytest.mark.parametrize("body", BODIES)
def test_bodies_written_by_the_zlib_codec_stay_readable(body: bytes) -> None:
    assert codec.unpack(zlib.compress(body, 1)) == body


def test_frames_without_a_dictionary_are_read_too() -> None:
    frame = zstandard.ZstdCompressor().compress(BODIES[0])
    assert codec.unpack(frame) == BODIES[0]


def test_a_frame_naming_an_unshipped_dictionary_is_a_clear_error() -> None:
    other = zstandard.train_dictionary(
        4096, [b'{"a":%d,"b":"x%d"}' % (i, i) for i in range(2000)], dict_id=99
    )
    frame = zstandard.ZstdCompressor(dict_data=other).compress(b'{"a":1}')
    with pytest.raises(ValueError, match="dictionary 99"):
        codec.unpack(frame)


def test_the_dictionary_makes_typical_bodies_smaller_than_zlib() -> None:
    body = (SHARED / "fhir-r4-examples" / "Patient-example.json").read_bytes()
    compact = orjson.dumps(orjson.loads(body))
    assert len(codec.pack(compact)) < 0.8 * len(zlib.compress(compact, 1))


def test_threads_use_their_own_contexts() -> None:
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(300):
                body = b'{"id":"%d-%d","x":"%s"}' % (seed, i, b"y" * (i % 50))
                assert codec.unpack(codec.pack(body)) == body
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize(("dict_id", "digest"), sorted(SHIPPED.items()))
def test_shipped_dictionaries_never_change(dict_id: int, digest: str) -> None:
    raw = (codec.DATA / f"body-{dict_id}.zdict").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == digest
    assert zstandard.ZstdCompressionDict(raw).dict_id() == dict_id


def test_the_builder_reproduces_the_shipped_dictionary(tmp_path: Path) -> None:
    raw = build_dictionary.build(SHARED / "fhir-r4-examples", tmp_path / "body.zdict")
    assert hashlib.sha256(raw).hexdigest() == SHIPPED[build_dictionary.DICT_ID]

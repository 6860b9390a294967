"""Decimal precision survives read → write (https://hl7.org/fhir/R4/json.html#primitive)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.fhir.jsonio import Decimal, _lossy, dumps, loads


@pytest.mark.parametrize(
    "text",
    [
        b'{"value":1.50}',
        b'{"value":1.00}',
        b'{"value":1.0}',
        b'{"value":1e3}',
        b'{"value":-2.5E-7}',
        b'{"value":0.1000000000000000055}',
        b'{"value":12345678901234567890.5}',
        b'{"a":[1.50, 2.0, 3],"b":"1.50 in text","c":true}',
        b'{"id":"018f428e-34f6-4707-8009-5ad742f901e7","n":7}',
        b'{"v":123456789012345678901234567890}',
        b'{"v":[18446744073709551616, 7]}',
        b'{"v":0.30000000000000004, "w":1.50}',
    ],
)
def test_round_trip_keeps_the_text(text: bytes) -> None:
    assert dumps(loads(text)) == text.replace(b", ", b",")


def test_decimal_is_a_float() -> None:
    value = loads(b'{"v":1.50}')["v"]
    assert isinstance(value, Decimal)
    assert isinstance(value, float)
    assert value == 1.5
    assert value.text == "1.50"


@pytest.mark.parametrize(
    "bad",
    [
        b'{"v":NaN}',
        b'{"v":1.50,}',
        b'{"v":Infinity, "w":1.50}',
        b"{",
        b'{"v":1.50,"s":"\\ud800"}',
        b'{"s":"a\\u0000b"}',
        b"[1.50," + b"[" * 10**5,
    ],
)
def test_malformed_is_a_value_error(bad: bytes) -> None:
    with pytest.raises(ValueError):
        loads(bad)


def test_numbers_a_float_writes_back_as_read_stay_plain_floats() -> None:
    # orjson writes this body back byte for byte: no number in it needs the exact path, even
    # those the lossy scan flags (17 significant digits).
    blob = b'{"v":0.30000000000000004,"w":[1.5,-0.0,18446744073709551615]}'
    assert _lossy(blob)
    data = loads(blob)
    assert type(data["v"]) is float
    assert dumps(data) == blob
    assert type(loads(blob + b"\r\n")["v"]) is float  # an NDJSON line, as read from its file
    assert type(loads(b" " + blob)["v"]) is Decimal  # not written by orjson: scanned


def test_deeper_than_orjson_writes_is_read() -> None:
    # orjson reads 1024 levels but writes 254: such a body is read (the validator refuses it later)
    deep = b"[" * 300 + b"1.5" + b"]" * 300
    value = loads(deep)
    for _ in range(300):
        value = value[0]
    assert value == 1.5
    assert isinstance(loads(b'{"a":' + deep + b',"b":1.50}')["b"], Decimal)


def test_huge_integer_on_the_exact_path_can_be_written_back() -> None:
    data = loads(b'{"a":1.50,"b":123456789012345678901234567890}')
    assert dumps(data) == b'{"a":1.50,"b":123456789012345678901234567890}'


# The single pattern the per-character patterns of jsonio._LOSSY replaced: the oracle they must
# agree with everywhere.
_COMBINED = re.compile(
    rb"[:\[,]\s*+-?+(?:\d++(?:\.\d*[1-9]0++|\.00++|\.\d{16,}+|(?:\.\d++)?+[eE][+-]?+\d++)\s*+[,\]}]"
    rb"|\d{16,}+\.\d|\d{20,}+\s*+[,\]}])"
)
_ALPHABET = b':[],{}" -.0123456789eE+\n\tax'


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(list(_ALPHABET)), max_size=40).map(bytes))
def test_the_lossy_scan_finds_what_the_combined_pattern_finds(blob: bytes) -> None:
    assert _lossy(blob) == (_COMBINED.search(blob) is not None)


def test_the_lossy_scan_agrees_on_the_synthea_corpus() -> None:
    folder = Path(__file__).resolve().parents[3] / "shared" / "data" / "synthea-r4"
    lines = [path.read_bytes() for path in sorted(folder.glob("*.json"))[:10]]
    found = [_lossy(line) for line in lines]
    assert found == [_COMBINED.search(line) is not None for line in lines]
    assert any(found)  # the corpus has exact decimals to keep: a real comparison


@pytest.mark.parametrize(
    ("blob", "lossy"),
    [
        (b'{"v":1.50}', True),
        (b'{"v":[1.50]}', True),
        (b'{"v":[2,1.00]}', True),
        (b'{"v": -3e5 }', True),
        (b'{"v":12345678901234567.5}', True),
        (b'{"v":12345678901234567890}', True),
        (b'{"v":[1234567890123456789]}', False),
        (b'{"v":1.5}', False),
        (b'{"v":1.0}', False),
        (b'{"v":"1.50"}', False),
        (b'{"id":"4e5-1e3"}', False),
        (b'{"t":"12:34:00"}', False),
    ],
)
def test_lossy_numbers(blob: bytes, lossy: bool) -> None:
    assert _lossy(blob) is lossy
